"""Crypto-shredding: department events sealed with a key per subject, keys deleted on erasure.

When the setting is on (``LIFECYCLE_SHREDDING``), a department service seals the *whole value*
of every event it publishes with AES-256-GCM under a key of the event's subject (its CloudEvents
``subject``, ``"<kind>:<value>"``), and keys the record by the subject's pseudonym (``kid``, an
HMAC of the subject under a deployment secret) instead of the plain identifier. The keys live
on the compacted ``subject-keys`` topic; the orchestrator unseals at decode time, so identity
resolution still sees plain identifiers, and on erasure writes a tombstone for every key record
of the customer's subjects: every sealed copy of their events becomes unreadable at once.

This module is pure (no Kafka, no clock): the formats, seal/unseal, and the in-memory index of
key records that both sides feed from the keys topic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "SEALED_HEADERS",
    "SEALED_VERSION",
    "KeyIndex",
    "KeyRing",
    "SealError",
    "SubjectKey",
    "decode_subject_key",
    "encode_subject_key",
    "is_sealed",
    "kid_of_key_record",
    "new_subject_key",
    "seal",
    "sealed_key_record",
    "subject_key_id",
    "unseal",
]

SEALED_VERSION = "v1"
# Every sealed value starts with these bytes (compact JSON, "sealed" first): a prefix test tells
# sealed from plain without parsing, and a CloudEvent never starts like this.
_SEALED_PREFIX = b'{"sealed":"v1",'
SEALED_HEADERS: tuple[tuple[str, bytes], ...] = (
    ("content-type", b"application/vnd.lifecycle.sealed+json"),
)
# A kid of 128 bits: collisions between subjects are out of reach, and keys stay short.
KID_HEX_CHARS = 32
KEY_BYTES = 32
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that cannot be opened: malformed, tampered with, or under another key."""


@dataclass(frozen=True)
class SubjectKey:
    """One key record: where it lives on the keys topic (its record key) and the key itself."""

    record_key: str
    kid: str
    key: bytes


def subject_key_id(secret: bytes, subject: str) -> str:
    """The subject's pseudonym: HMAC-SHA256 of ``"<kind>:<value>"`` under the deployment secret."""
    digest = hmac.new(secret, subject.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:KID_HEX_CHARS]


def new_subject_key(kid: str, writer: str) -> SubjectKey:
    """A fresh random 256-bit key for ``kid``, under a record key no other writer uses.

    ``writer`` (the department) and a random id make the record key unique, so two processes
    creating a key for the same subject at once never overwrite each other's on compaction.
    """
    record_key = f"{kid}/{writer}/{uuid.uuid4().hex}"
    return SubjectKey(record_key, kid, AESGCM.generate_key(bit_length=KEY_BYTES * 8))


def kid_of_key_record(record_key: str) -> str:
    """The kid a key record's record key belongs to (its first part)."""
    return record_key.split("/", 1)[0]


def encode_subject_key(key: SubjectKey) -> bytes:
    """The value of a key record on the keys topic."""
    return json.dumps(
        {"kid": key.kid, "key": base64.b64encode(key.key).decode("ascii")},
        separators=(",", ":"),
    ).encode()


def decode_subject_key(record_key: str, value: bytes) -> SubjectKey:
    """A key record read back; raises :class:`SealError` when it is not one."""
    try:
        body = json.loads(value)
        key = base64.b64decode(body["key"], validate=True)
        kid = str(body["kid"])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise SealError(f"not a key record: {type(error).__name__}") from None
    if len(key) != KEY_BYTES or kid != kid_of_key_record(record_key):
        raise SealError("not a key record: wrong key length or kid")
    return SubjectKey(record_key, kid, key)


def seal(plain: bytes, key: SubjectKey) -> bytes:
    """``plain`` (a CloudEvent's bytes) encrypted under ``key``; the record key is bound in."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key.key).encrypt(nonce, plain, key.record_key.encode())
    return json.dumps(
        {
            "sealed": SEALED_VERSION,
            "key": key.record_key,
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        },
        separators=(",", ":"),
    ).encode()


def is_sealed(value: bytes) -> bool:
    """Whether a record value is a sealed envelope (anything else passes through as it is)."""
    return value.startswith(_SEALED_PREFIX)


def sealed_key_record(value: bytes) -> str:
    """The record key of the key a sealed value was sealed with; :class:`SealError` if malformed."""
    return _parse_sealed(value)[0]


def unseal(value: bytes, key: bytes) -> bytes:
    """The plain bytes of a sealed value; :class:`SealError` for a wrong key or any tampering."""
    record_key, nonce, ciphertext = _parse_sealed(value)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, record_key.encode())
    except (InvalidTag, ValueError):
        raise SealError("the sealed value does not open with this key") from None


def _parse_sealed(value: bytes) -> tuple[str, bytes, bytes]:
    try:
        body = json.loads(value)
        if body.get("sealed") != SEALED_VERSION:
            raise SealError("not a sealed value")
        return (
            str(body["key"]),
            base64.b64decode(body["nonce"], validate=True),
            base64.b64decode(body["ciphertext"], validate=True),
        )
    except SealError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error):
        raise SealError("a malformed sealed value") from None


class KeyIndex:
    """The live key records of the keys topic, fed record by record (tombstones remove)."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._by_kid: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def apply(self, record_key: str, value: bytes | None) -> None:
        """Apply one record of the keys topic; a value that is not a key record is ignored."""
        kid = kid_of_key_record(record_key)
        if value is None:
            self._keys.pop(record_key, None)
            records = self._by_kid.get(kid)
            if records is not None:
                records.discard(record_key)
                if not records:
                    del self._by_kid[kid]
            return
        try:
            key = decode_subject_key(record_key, value)
        except SealError:
            return
        self._keys[record_key] = key.key
        self._by_kid.setdefault(kid, set()).add(record_key)

    def get(self, record_key: str) -> bytes | None:
        """The key stored under ``record_key``, or None (never written, or tombstoned)."""
        return self._keys.get(record_key)

    def key_records_of(self, kids: Iterable[str]) -> list[str]:
        """Every live key record of these kids (what an erasure tombstones), sorted."""
        return sorted(record for kid in kids for record in self._by_kid.get(kid, ()))


class KeyRing(Protocol):
    """Keys by record key, as a reader of the keys topic knows them.

    A miss is not final at once: a key is written (acks=all) before any event sealed with it,
    so on a miss the reader first catches up to the keys topic's end offsets as of the call,
    then answers: a key, or None for a key that is gone (shredded) or never existed.
    """

    async def get(self, record_key: str) -> bytes | None: ...
