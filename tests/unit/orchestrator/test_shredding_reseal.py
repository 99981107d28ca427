"""Given crypto-shredding on, an event the core forwards to a survivor is sealed again under a
live key of its subject; without one (never sealed) it passes as it is."""

from __future__ import annotations

from lifecycle_schemas.shredding import (
    encode_subject_key,
    is_sealed,
    new_subject_key,
    sealed_key_record,
    subject_key_id,
    unseal,
)
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.shredding import Shredder, TopicKeyRing

SECRET = b"test-secret"
PLAIN = b'{"specversion":"1.0","id":"evt-1","subject":"email:ada@example.com"}'


def _shredder_knowing(subject: str) -> tuple[Shredder, bytes, str]:
    key = new_subject_key(subject_key_id(SECRET, subject), "sales")
    ring = TopicKeyRing("127.0.0.1:1", "keys")  # fed by hand: its consumer never starts
    ring.index.apply(key.record_key, encode_subject_key(key))
    return Shredder(ring, SECRET, OrchestratorMetrics()), key.key, key.record_key


def test_a_forwarded_event_is_sealed_under_its_subjects_live_key() -> None:
    shredder, key, record_key = _shredder_knowing("email:ada@example.com")
    sealed = shredder.reseal(PLAIN, "email:ada@example.com")
    assert is_sealed(sealed)
    assert b"ada@example.com" not in sealed
    assert sealed_key_record(sealed) == record_key
    assert unseal(sealed, key) == PLAIN


def test_a_subject_without_a_live_key_passes_in_plain() -> None:
    shredder, _, _ = _shredder_knowing("email:ada@example.com")
    assert shredder.reseal(PLAIN, "email:bob@example.com") == PLAIN


def test_a_tombstoned_key_is_not_used_again() -> None:
    shredder, _, record_key = _shredder_knowing("email:ada@example.com")
    shredder.ring.index.apply(record_key, None)
    assert shredder.reseal(PLAIN, "email:ada@example.com") == PLAIN
