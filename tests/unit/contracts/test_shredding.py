"""Crypto-shredding's pure parts: pseudonyms, key records, seal and unseal, the key index."""

from __future__ import annotations

import base64
import json

import pytest

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.shredding import (
    KeyIndex,
    SealError,
    SubjectKey,
    decode_subject_key,
    encode_subject_key,
    is_sealed,
    kid_of_key_record,
    new_subject_key,
    seal,
    sealed_key_record,
    subject_key_id,
    unseal,
)
from lifecycle_schemas.topics import TOPICS, CleanupPolicy

SECRET = b"test-secret"
EVENT = next(r for r in EXAMPLES.values() if isinstance(r, DepartmentEvent))
PLAIN = encode_record(EVENT)


def a_key(subject: str = "email:ann@example.com") -> SubjectKey:
    return new_subject_key(subject_key_id(SECRET, subject), "sales")


def test_the_pseudonym_is_stable_per_subject_and_secret_and_reveals_nothing() -> None:
    kid = subject_key_id(SECRET, "email:ann@example.com")
    assert kid == subject_key_id(SECRET, "email:ann@example.com")
    assert kid != subject_key_id(SECRET, "email:bob@example.com")
    assert kid != subject_key_id(b"another-secret", "email:ann@example.com")
    assert len(kid) == 32
    assert "ann" not in kid


def test_two_writers_never_share_a_record_key() -> None:
    first, second = a_key(), a_key()
    assert first.kid == second.kid
    assert first.record_key != second.record_key
    assert kid_of_key_record(first.record_key) == first.kid
    assert first.record_key.split("/")[1] == "sales"


def test_a_key_record_round_trips() -> None:
    key = a_key()
    assert decode_subject_key(key.record_key, encode_subject_key(key)) == key


@pytest.mark.parametrize("value", [b"", b"{}", b'{"kid":"x","key":"AAAA"}', b"\xff", b"[1]"])
def test_a_value_that_is_not_a_key_record_is_refused(value: bytes) -> None:
    with pytest.raises(SealError):
        decode_subject_key("x/sales/1", value)


def test_seal_and_unseal_round_trip_and_hide_the_event() -> None:
    key = a_key()
    sealed = seal(PLAIN, key)
    assert is_sealed(sealed)
    assert not is_sealed(PLAIN)
    assert sealed_key_record(sealed) == key.record_key
    assert unseal(sealed, key.key) == PLAIN
    assert EVENT.id.encode() not in sealed
    assert EVENT.subject.encode() not in sealed
    # Two seals of the same bytes differ (a fresh nonce each time).
    assert seal(PLAIN, key) != sealed


def test_a_wrong_key_does_not_open_a_sealed_value() -> None:
    sealed = seal(PLAIN, a_key())
    with pytest.raises(SealError):
        unseal(sealed, a_key().key)


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "key"])
def test_tampering_with_any_part_is_detected(field: str) -> None:
    key = a_key()
    body = json.loads(seal(PLAIN, key))
    if field == "key":
        body["key"] = key.record_key + "x"  # the record key is bound in as associated data
    else:
        raw = bytearray(base64.b64decode(body[field]))
        raw[0] ^= 1
        body[field] = base64.b64encode(bytes(raw)).decode()
    tampered = json.dumps(body, separators=(",", ":")).encode()
    with pytest.raises(SealError):
        unseal(tampered, key.key)


@pytest.mark.parametrize(
    "value",
    [b'{"sealed":"v1",}', b'{"sealed":"v1","key":"k"}', b'{"sealed":"v1","key":1,"nonce":"*"}'],
)
def test_a_malformed_sealed_value_is_a_seal_error(value: bytes) -> None:
    assert is_sealed(value)
    with pytest.raises(SealError):
        unseal(value, a_key().key)


def test_the_index_follows_writes_and_tombstones_per_subject() -> None:
    index = KeyIndex()
    ann, ann_again, bob = a_key(), a_key(), a_key("crm_account_id:42")
    for key in (ann, ann_again, bob):
        index.apply(key.record_key, encode_subject_key(key))
    index.apply("junk/sales/1", b"not a key")
    assert len(index) == 3
    assert index.get(ann.record_key) == ann.key
    assert index.key_records_of([ann.kid]) == sorted([ann.record_key, ann_again.record_key])
    index.apply(ann.record_key, None)
    index.apply(ann_again.record_key, None)
    assert index.get(ann.record_key) is None
    assert index.key_records_of([ann.kid]) == []
    assert index.get(bob.record_key) == bob.key


def test_the_keys_topic_is_compacted_and_not_internal() -> None:
    spec = TOPICS.subject_keys
    assert spec.cleanup_policy is CleanupPolicy.COMPACT
    assert not spec.internal
    assert "retention.ms" not in spec.topic_config()
