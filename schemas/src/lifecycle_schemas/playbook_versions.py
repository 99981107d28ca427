"""Published playbook versions: the records of the compacted ``playbook-versions`` topic.

A publication carries the playbook's four YAML files as text, so every worker compiles exactly
what was checked when it was published. Its **version number** is not in the record: it is the
record's offset on the topic's one partition, plus one. Kafka hands it out, so two operators
publishing at once still get two different, increasing numbers, and the log's order is the
order of versions (version 0 is a worker's own playbook files, before anything is published).
The **digest** names the content: the same files always have the same digest, so rolling back
(publishing the previous files again) shows as a new number with an old digest.

Each record is keyed by a fresh publication id: compaction never drops one, so the topic holds
the whole history (a compacted topic also keeps records past any retention time).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "PLAYBOOK_FILES",
    "PlaybookPublication",
    "new_publication_id",
    "playbook_digest",
    "version_of_offset",
]

PLAYBOOK_FILES = ("segments.yaml", "plays.yaml", "policy.yaml", "owners.yaml")
# A playbook file is a few kilobytes; a record stays well under Kafka's 1 MiB default.
MAX_FILE_CHARS = 200_000


def playbook_digest(files: Mapping[str, str]) -> str:
    """``sha256:<hex>`` of the four files' texts (name and text each, in a fixed order)."""
    digest = hashlib.sha256()
    for name in PLAYBOOK_FILES:
        text = files.get(name, "").encode()
        digest.update(f"{name}\0{len(text)}\0".encode())
        digest.update(text)
    return f"sha256:{digest.hexdigest()}"


def version_of_offset(offset: int) -> int:
    """The version number of the publication at ``offset`` (the first is version 1)."""
    return offset + 1


def new_publication_id() -> str:
    """A fresh record key: no two publications share one, so compaction keeps them all."""
    return uuid.uuid4().hex


class PlaybookPublication(BaseModel):
    """One published playbook version (the value of a ``playbook-versions`` record)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: dict[str, Annotated[str, Field(max_length=MAX_FILE_CHARS)]] = Field(
        description="The playbook's files by name (segments, plays, policy, owners) as text."
    )
    digest: str = Field(description="playbook_digest(files): checked on reading.")
    published_at: AwareDatetime
    published_by: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Who published it: `cli:<host user>` or `api:<key id>`."
    )
    note: Annotated[str, Field(max_length=500)] = ""

    @classmethod
    def now(cls, files: dict[str, str], published_by: str, note: str = "") -> PlaybookPublication:
        """A publication of ``files`` made now, with their digest."""
        return cls(
            files=files,
            digest=playbook_digest(files),
            published_at=datetime.now(UTC),
            published_by=published_by,
            note=note,
        )

    @model_validator(mode="after")
    def _digest_matches(self) -> PlaybookPublication:
        unknown = sorted(set(self.files) - set(PLAYBOOK_FILES))
        if unknown:
            raise ValueError(f"unknown playbook files {unknown}")
        if self.digest != playbook_digest(self.files):
            raise ValueError("the digest does not match the files")
        return self
