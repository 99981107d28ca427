"""API keys of every service: one file format, scopes, stored hashed (docs/security.md).

A key file (``LIFECYCLE_API_KEYS_FILE``) or the ``LIFECYCLE_API_KEYS`` variable holds JSON::

    {"keys": [{"id": "crm-sync", "department": "sales",
               "scopes": ["events:write", "actions:read"], "sha256": "<hex digest of the key>"},
              {"id": "analyst", "scopes": ["reports:read"], "sha256": "<hex>"}]}

``department`` is set on the keys of a department's systems, which a department service
accepts for its own department only; the orchestrator reads scopes alone. Keys are random
256-bit tokens, so one SHA-256 is enough to store them (no dictionary to attack); presented
keys are hashed and compared with every entry in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lifecycle_schemas.departments import Department

KEYS_FILE_NAME = "department-api-keys.json"
PLAIN_KEYS_FILE_NAME = "department-api-keys.plain.json"
# The development operator key `make run` writes next to the department keys.
OPERATOR_KEY_ID = "local-operator"


class Scope(StrEnum):
    """What a key may do."""

    # A department service, for the key's own department.
    EVENTS_WRITE = "events:write"
    ACTIONS_READ = "actions:read"
    ACTIONS_WRITE = "actions:write"
    CONTACTS_REQUEST = "contacts:request"  # ask before a contact (POST /v1/contact-requests)
    # The orchestrator.
    CUSTOMERS_READ = "customers:read"  # personal data: every read is audit-logged
    REPORTS_READ = "reports:read"  # aggregates, no personal data
    # A segment manager: the budget of the segments the key names (PATCH /v1/segments/{id}).
    SEGMENTS_WRITE = "segments:write"
    ADMIN = "admin"  # anything that changes state


DEPARTMENT_SCOPES = frozenset(
    {Scope.EVENTS_WRITE, Scope.ACTIONS_READ, Scope.ACTIONS_WRITE, Scope.CONTACTS_REQUEST}
)
ORCHESTRATOR_SCOPES = frozenset(
    {Scope.CUSTOMERS_READ, Scope.REPORTS_READ, Scope.SEGMENTS_WRITE, Scope.ADMIN}
)


class ApiKeyEntry(BaseModel):
    """One issued key, as stored: its hash, never the key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    department: Department | None = None
    scopes: frozenset[Scope]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # The segments a `segments:write` key may change (`*`: every one); none without the list.
    segments: frozenset[str] = frozenset()


class ApiKeyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[ApiKeyEntry, ...] = ()


class ApiKeyConfigError(ValueError):
    """The key file or variable is not valid."""


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(department: Department | None = None) -> str:
    """A fresh random key (the department in the prefix helps people tell keys apart)."""
    owner = department.value.replace("-", "") if department is not None else "op"
    return f"lk_{owner}_{secrets.token_urlsafe(32)}"


class KeyRing:
    """The issued keys; finds the entry a presented key belongs to."""

    def __init__(self, entries: tuple[ApiKeyEntry, ...]) -> None:
        self.entries = entries
        self._by_id = {entry.id: entry for entry in entries}

    def identify(self, presented: str) -> ApiKeyEntry | None:
        """The entry of ``presented``, or None; every entry is compared, in constant time."""
        digest = hash_key(presented).encode("ascii")
        found: ApiKeyEntry | None = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.sha256.encode("ascii")):
                found = entry
        return found

    def by_id(self, key_id: str) -> ApiKeyEntry | None:
        """The entry with this id (a session or a routed request names its key by id)."""
        return self._by_id.get(key_id)


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


def _entry(
    key_id: str,
    key: str,
    department: Department | None,
    scopes: Iterable[Scope],
    segments: Iterable[str] = (),
) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": key_id,
        "scopes": sorted(scope.value for scope in scopes),
        "sha256": hash_key(key),
    }
    if department is not None:
        entry["department"] = department.value
    if segments:
        entry["segments"] = sorted(segments)
    return entry


def write_development_keys(directory: Path) -> Path:
    """Write local development keys for every service; return the hashed key file.

    One key per department (``local-<department>``, every department scope) and the operator
    key ``local-operator`` (every orchestrator scope). The services read the hashed file
    (point ``LIFECYCLE_API_KEYS_FILE`` at it); the plain keys for people and simulators go to
    ``department-api-keys.plain.json`` next to it, readable by the owner only. Existing keys
    are kept, so they stay stable across runs; a missing one (an older file) is added, and an
    older file's scopes are brought up to date (a scope added since, e.g. contacts:request).
    """
    directory.mkdir(parents=True, exist_ok=True)
    hashed_path = directory / KEYS_FILE_NAME
    plain_path = directory / PLAIN_KEYS_FILE_NAME
    plain: dict[str, str] = {}
    if hashed_path.exists() and plain_path.exists():
        plain = dict(json.loads(plain_path.read_text(encoding="utf-8")).get("keys", {}))
    wanted: list[tuple[str, Department | None, frozenset[Scope]]] = [
        (f"local-{department.value}", department, DEPARTMENT_SCOPES) for department in Department
    ]
    wanted.append((OPERATOR_KEY_ID, None, ORCHESTRATOR_SCOPES))
    complete = all(key_id in plain for key_id, _, _ in wanted)
    entries: list[dict[str, object]] = []
    for key_id, department, scopes in wanted:
        key = plain.get(key_id) or new_key(department)
        plain[key_id] = key
        entries.append(_entry(key_id, key, department, scopes))
    hashed = json.dumps({"keys": entries}, indent=2)
    if complete:
        if hashed_path.read_text(encoding="utf-8") != hashed:
            hashed_path.write_text(hashed, encoding="utf-8")
        return hashed_path
    descriptor = os.open(plain_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"keys": plain}, handle, indent=2)
    os.chmod(plain_path, 0o600)
    hashed_path.write_text(hashed, encoding="utf-8")
    return hashed_path


def add_key(
    keys_file: Path,
    key_id: str,
    department: Department | None,
    scopes: Iterable[Scope],
    segments: Iterable[str] = (),
) -> str:
    """Issue a new key: add its hashed entry to ``keys_file`` (created when missing) and return
    the key itself, which is stored nowhere (show it once).

    Raises :class:`ApiKeyConfigError` for an id already in the file, a file that is not a valid
    key file, or department scopes without a department (no department service would accept
    the key). The file is replaced in one step, so a service reading it sees the old or the new
    one, never half.
    """
    granted = frozenset(scopes)
    if not granted:
        raise ApiKeyConfigError("a key needs at least one scope")
    if department is None and granted & DEPARTMENT_SCOPES:
        raise ApiKeyConfigError(
            "department scopes (" + ", ".join(sorted(granted & DEPARTMENT_SCOPES)) + ") need "
            "a department: a department service accepts only its own department's keys"
        )
    existing: list[dict[str, object]] = []
    if keys_file.exists():
        text = keys_file.read_text(encoding="utf-8")
        ring = parse_keys(text)
        if ring.by_id(key_id) is not None:
            raise ApiKeyConfigError(f"{keys_file} already has a key with the id {key_id!r}")
        existing = list(json.loads(text)["keys"])
    key = new_key(department)
    named = frozenset(segments)
    if named and Scope.SEGMENTS_WRITE not in granted:
        raise ApiKeyConfigError("segments are for a key with the segments:write scope")
    entry = _entry(key_id, key, department, granted, named)
    try:
        ApiKeyEntry.model_validate(entry)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in error.errors())
        raise ApiKeyConfigError(f"invalid key entry: {problems}") from None
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    staged = keys_file.with_name(f".{keys_file.name}.{secrets.token_hex(4)}.tmp")
    staged.write_text(json.dumps({"keys": [*existing, entry]}, indent=2), encoding="utf-8")
    if keys_file.exists():
        os.chmod(staged, keys_file.stat().st_mode & 0o777)
    os.replace(staged, keys_file)
    return key
