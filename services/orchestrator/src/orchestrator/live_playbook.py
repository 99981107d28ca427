"""The worker's live playbook: the versions it has read, and the one it decides under.

**When a worker switches.** The versions reach the worker on its event loop (the reader in
``orchestrator.playbook_topic``); :meth:`LivePlaybook.receive` compiles one and hands it to the
topology, which swaps the playbook its agents and timers use. The customer agent reads its
playbook once per record, when it calls the pure core, and the core runs to the end of that
record without yielding the loop. So every record is decided wholly under one version: the one
the worker had read when the record's turn came. Records decided after the swap use the new
version, and none is decided twice or skipped because of it: the swap touches no offset, no
table and no outbox (the oracle's replay, switching at the same records, gives the same
outputs). Each decision names its version (``playbook`` in the decision log).

A version that does not compile (written past ``orchestrator playbook publish``, which refuses
it) is kept in the history as refused and changes nothing. Version numbers only grow: a
record with a number at or below the last one read is ignored (a re-read from the start).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.core.playbook import Playbook, PlaybookError, parse_playbook
from orchestrator.playbook_topic import PublishedRecord

log = logging.getLogger("orchestrator.playbook")


@dataclass(frozen=True)
class VersionEntry:
    """One version in the worker's history."""

    number: int
    digest: str
    published_at: datetime | None
    published_by: str
    note: str
    # Why the worker refused it; empty for a version it used.
    problem: str = ""

    def as_json(self, active: int) -> dict[str, Any]:
        """As ``GET /v1/playbook`` lists it."""
        return {
            "number": self.number,
            "digest": self.digest,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "published_by": self.published_by,
            "note": self.note,
            "status": "refused"
            if self.problem
            else ("active" if self.number == active else "superseded"),
            "problem": self.problem or None,
        }


class LivePlaybook:
    """The versions read so far and the active one; ``on_switch`` is told of each new one."""

    def __init__(
        self, files: Playbook, time_scale: float = 1.0, texts: Mapping[str, str] | None = None
    ) -> None:
        self.time_scale = time_scale
        self.active = files.time_scaled(time_scale)
        # The active version's files as text (what a segment manager's change starts from).
        self.active_files: dict[str, str] = dict(texts or {})
        self.history: list[VersionEntry] = [
            VersionEntry(files.version.number, files.version.digest, None, "files", "")
        ]
        self.last_read = 0
        self.on_switch: Callable[[Playbook], None] = lambda playbook: None

    def receive(self, record: PublishedRecord) -> None:
        """A record of the playbook topic, in topic order: switch to it if it compiles."""
        if record.number <= self.last_read:
            return
        self.last_read = record.number
        publication = record.publication
        if publication is None:
            log.error(
                "playbook version refused",
                extra={"version": record.number, "problem": record.problem},
            )
            self.history.append(VersionEntry(record.number, "", None, "", "", record.problem))
            return
        entry = VersionEntry(
            record.number,
            publication.digest,
            publication.published_at,
            publication.published_by,
            publication.note,
        )
        try:
            playbook = parse_playbook(publication.files, record.number)
        except PlaybookError as error:
            problem = f"{len(error.problems)} problem(s), first: {error.problems[0]}"
            log.error(
                "playbook version refused", extra={"version": record.number, "problem": problem}
            )
            self.history.append(VersionEntry(**{**entry.__dict__, "problem": problem}))
            return
        self.history.append(entry)
        self.active = playbook.time_scaled(self.time_scale)
        self.active_files = dict(publication.files)
        self.on_switch(self.active)
        log.info(
            "playbook version active",
            extra={"version": record.number, "digest": publication.digest},
        )

    def report(self) -> dict[str, Any]:
        """The active version and the history, newest first (``GET /v1/playbook``)."""
        number = self.active.version.number
        return {
            "active": {
                "number": number,
                "digest": self.active.version.digest,
                "segments": len(self.active.segments),
                "plays": len(self.active.plays),
            },
            "history": [entry.as_json(number) for entry in reversed(self.history)],
        }
