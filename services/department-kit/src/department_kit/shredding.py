"""Crypto-shredding on the department side: seal every accepted event with its subject's key.

With ``LIFECYCLE_SHREDDING`` on, an event is published as a sealed envelope (see
:mod:`lifecycle_schemas.shredding`) keyed by its subject's pseudonym. The subject's key is made
here the first time this process needs it: written to the keys topic and acknowledged (acks=all)
before any event sealed with it, so a reader that has the event can always find the key unless
it was shredded since. A key that cannot be stored fails the request like a broker outage.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from department_kit.kafka_io import Delivery, OutgoingRecord
from lifecycle_schemas.catalogue import AnyDepartmentEvent
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.shredding import (
    SEALED_HEADERS,
    SubjectKey,
    encode_subject_key,
    kid_of_key_record,
    new_subject_key,
    seal,
    subject_key_id,
)

# Subjects whose key this process remembers (about 200 bytes each); the least recently used
# is forgotten and gets a new key when it comes back.
KEYS_REMEMBERED = 100_000


class EventSealer:
    """Seals department events with per-subject keys, creating the keys it lacks."""

    def __init__(
        self,
        publish: Callable[[Sequence[OutgoingRecord]], list[Delivery]],
        keys_topic: str,
        writer: str,
        secret: bytes,
        on_keys_created: Callable[[int], None] = lambda _: None,
        limit: int = KEYS_REMEMBERED,
    ) -> None:
        self._publish = publish
        self._keys_topic = keys_topic
        self._writer = writer
        self._secret = secret
        self._on_keys_created = on_keys_created
        self._limit = limit
        self._keys: OrderedDict[str, SubjectKey] = OrderedDict()
        self._lock = threading.Lock()

    def kid(self, subject: str) -> str:
        """The subject's pseudonym (the sealed record's key)."""
        return subject_key_id(self._secret, subject)

    def sealed(self, topic: str, records: Sequence[AnyDepartmentEvent]) -> list[OutgoingRecord]:
        """The records to publish: sealed, keyed by pseudonym, on their subject's partition.

        Raises :class:`~department_kit.kafka_io.BrokerUnavailableError` when a missing key
        could not be stored: nothing of the request may then be published.
        """
        keys = self._keys_for({r.subject for r in records})
        return [
            OutgoingRecord(
                topic,
                keys[r.subject].kid,
                seal(encode_record(r), keys[r.subject]),
                SEALED_HEADERS,
                partition_key=r.subject.encode("utf-8"),
            )
            for r in records
        ]

    def _keys_for(self, subjects: Iterable[str]) -> dict[str, SubjectKey]:
        found: dict[str, SubjectKey] = {}
        missing: dict[str, SubjectKey] = {}
        with self._lock:
            for subject in subjects:
                kid = self.kid(subject)
                known = self._keys.get(kid)
                if known is not None:
                    self._keys.move_to_end(kid)
                    found[subject] = known
                else:
                    missing[subject] = new_subject_key(kid, self._writer)
        if missing:
            # Acknowledged before any event sealed with these keys is sent (the readers' rule).
            self._publish(
                [
                    OutgoingRecord(self._keys_topic, key.record_key, encode_subject_key(key), ())
                    for key in missing.values()
                ]
            )
            self._on_keys_created(len(missing))
            with self._lock:
                for key in missing.values():
                    self._keys[key.kid] = key
                while len(self._keys) > self._limit:
                    self._keys.popitem(last=False)
        return {**found, **missing}

    def forget_subjects(self, subjects: Iterable[str]) -> int:
        """Drop the keys of these subjects (an erasure); returns how many were known."""
        with self._lock:
            return sum(self._keys.pop(self.kid(s), None) is not None for s in subjects)

    def forget_key_record(self, record_key: str) -> None:
        """Drop the key stored under ``record_key`` (it was tombstoned on the keys topic)."""
        kid = kid_of_key_record(record_key)
        with self._lock:
            known = self._keys.get(kid)
            if known is not None and known.record_key == record_key:
                del self._keys[kid]
