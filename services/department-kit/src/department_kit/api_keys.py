"""API keys per calling system: scopes, one department each, stored hashed.

A key file (``DEPARTMENT_API_KEYS_FILE``) or the ``DEPARTMENT_API_KEYS`` variable holds JSON::

    {"keys": [{"id": "crm-sync", "department": "sales",
               "scopes": ["events:write", "actions:read"], "sha256": "<hex digest of the key>"}]}

Keys are random 256-bit tokens, so one SHA-256 is enough to store them (no dictionary to
attack); presented keys are hashed and compared with every entry in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lifecycle_schemas.departments import Department

KEYS_FILE_NAME = "department-api-keys.json"
PLAIN_KEYS_FILE_NAME = "department-api-keys.plain.json"


class Scope(StrEnum):
    """What a key may do."""

    EVENTS_WRITE = "events:write"
    ACTIONS_READ = "actions:read"
    ACTIONS_WRITE = "actions:write"


class ApiKeyEntry(BaseModel):
    """One issued key, as stored: its hash, never the key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    department: Department
    scopes: frozenset[Scope]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApiKeyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[ApiKeyEntry, ...] = ()


class ApiKeyConfigError(ValueError):
    """The key file or variable is not valid."""


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(department: Department) -> str:
    """A fresh random key (the department in the prefix helps people tell keys apart)."""
    return f"lk_{department.value.replace('-', '')}_{secrets.token_urlsafe(32)}"


class KeyRing:
    """The issued keys; finds the entry a presented key belongs to."""

    def __init__(self, entries: tuple[ApiKeyEntry, ...]) -> None:
        self.entries = entries

    def identify(self, presented: str) -> ApiKeyEntry | None:
        """The entry of ``presented``, or None; every entry is compared, in constant time."""
        digest = hash_key(presented).encode("ascii")
        found: ApiKeyEntry | None = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.sha256.encode("ascii")):
                found = entry
        return found


def parse_keys(text: str) -> KeyRing:
    """A key ring from the JSON of a key file."""
    try:
        return KeyRing(ApiKeyFile.model_validate_json(text).keys)
    except ValidationError as error:
        raise ApiKeyConfigError(
            f"invalid API key configuration: {error.error_count()} errors"
        ) from None


def load_keys(keys_file: Path | None, keys_json: str | None) -> KeyRing:
    """The keys from the file and/or the variable; with none, every request is refused."""
    entries: list[ApiKeyEntry] = []
    if keys_file is not None:
        entries.extend(parse_keys(keys_file.read_text(encoding="utf-8")).entries)
    if keys_json:
        entries.extend(parse_keys(keys_json).entries)
    return KeyRing(tuple(entries))


def write_development_keys(directory: Path) -> Path:
    """Write local development keys for every department; return the hashed key file.

    The services read the hashed file (point ``DEPARTMENT_API_KEYS_FILE`` at it); the plain
    keys for people and simulators go to ``department-api-keys.plain.json`` next to it,
    readable by the owner only. Existing files are kept, so keys stay stable across runs.
    """
    directory.mkdir(parents=True, exist_ok=True)
    hashed_path = directory / KEYS_FILE_NAME
    plain_path = directory / PLAIN_KEYS_FILE_NAME
    if hashed_path.exists() and plain_path.exists():
        return hashed_path
    plain: dict[str, str] = {}
    entries: list[dict[str, object]] = []
    for department in Department:
        key = new_key(department)
        key_id = f"local-{department.value}"
        plain[key_id] = key
        entries.append(
            {
                "id": key_id,
                "department": department.value,
                "scopes": sorted(scope.value for scope in Scope),
                "sha256": hash_key(key),
            }
        )
    descriptor = os.open(plain_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"keys": plain}, handle, indent=2)
    os.chmod(plain_path, 0o600)
    hashed_path.write_text(json.dumps({"keys": entries}, indent=2), encoding="utf-8")
    return hashed_path
