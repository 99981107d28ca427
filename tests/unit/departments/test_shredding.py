"""A department service with crypto-shredding on: keys first, events sealed, 503 without a key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from department_kit.kafka_io import BrokerUnavailableError, Delivery, OutgoingRecord
from department_kit.runtime import DepartmentRuntime
from department_kit.settings import DepartmentSettings
from lifecycle_schemas.catalogue import AnyDepartmentEvent
from lifecycle_schemas.codec import decode_event, encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.shredding import (
    SEALED_HEADERS,
    KeyIndex,
    is_sealed,
    sealed_key_record,
    subject_key_id,
    unseal,
)
from lifecycle_schemas.topics import TOPICS, events_topic_for
from marketing_service.department import SPEC as MARKETING
from service_kit.problems import ProblemError

SECRET = "unit-test-shredding-secret"
EVENT = EXAMPLES["com.customerlifecycle.marketing.contact.captured.v1"]


class KeysFirstPublisher:
    """Remembers each publish call; fails the calls to ``failing_topic`` like a lost broker."""

    def __init__(self) -> None:
        self.calls: list[list[OutgoingRecord]] = []
        self.reachable = True
        self.failing_topic: str | None = None

    def publish(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        if any(r.topic == self.failing_topic for r in records):
            raise BrokerUnavailableError("KafkaTimeoutError")
        self.calls.append(list(records))
        return [Delivery(r.topic, 0, i) for i, r in enumerate(records)]

    def close(self, timeout_s: float = 10.0) -> None:
        pass

    def keys(self) -> KeyIndex:
        index = KeyIndex()
        for call in self.calls:
            for record in call:
                if record.topic == TOPICS.subject_keys.name and isinstance(record.key, str):
                    index.apply(record.key, record.value)
        return index


def shredding_runtime(tmp_path: Path, publisher: KeysFirstPublisher) -> DepartmentRuntime:
    settings = DepartmentSettings(
        department=Department.MARKETING,
        port=8101,
        data_dir=tmp_path,
        api_keys_json=json.dumps({"keys": []}),
        shredding=True,
        shredding_secret=SECRET,
    )
    return DepartmentRuntime(MARKETING, settings, publisher=publisher)


def a_contact(event_id: str) -> AnyDepartmentEvent:
    document = json.loads(encode_record(EVENT))
    document["id"] = document["correlationid"] = event_id
    return decode_event(json.dumps(document), now=None)


def test_the_key_is_stored_before_the_sealed_event_and_reused_after(tmp_path: Path) -> None:
    publisher = KeysFirstPublisher()
    runtime = shredding_runtime(tmp_path, publisher)
    runtime.accept_events([a_contact("e-1")])
    runtime.accept_events([a_contact("e-2")])
    topics = [[r.topic for r in call] for call in publisher.calls]
    events = events_topic_for(Department.MARKETING).name
    assert topics == [[TOPICS.subject_keys.name], [events], [events]]
    kid = subject_key_id(SECRET.encode(), EVENT.subject)
    for call in publisher.calls[1:]:
        (record,) = call
        assert record.key == kid
        assert record.partition_key == EVENT.subject.encode()
        assert record.headers == SEALED_HEADERS
        assert is_sealed(record.value)
        assert EVENT.subject.encode() not in record.value
        key = publisher.keys().get(sealed_key_record(record.value))
        assert key is not None
        assert decode_event(unseal(record.value, key), now=None).subject == EVENT.subject


def test_an_event_whose_key_cannot_be_stored_is_not_accepted(tmp_path: Path) -> None:
    publisher = KeysFirstPublisher()
    publisher.failing_topic = TOPICS.subject_keys.name
    runtime = shredding_runtime(tmp_path, publisher)
    with pytest.raises(ProblemError) as raised:
        runtime.accept_events([a_contact("e-1")])
    assert raised.value.status == 503
    assert publisher.calls == []
    # Nothing was remembered as accepted: the client's retry is published.
    publisher.failing_topic = None
    runtime.accept_events([a_contact("e-1")])
    assert len(publisher.calls) == 2


def test_a_forgotten_or_tombstoned_key_is_replaced_by_a_new_one(tmp_path: Path) -> None:
    publisher = KeysFirstPublisher()
    runtime = shredding_runtime(tmp_path, publisher)
    sealer = runtime.sealer
    assert sealer is not None
    runtime.accept_events([a_contact("e-1")])
    assert sealer.forget_subjects([EVENT.subject]) == 1
    runtime.accept_events([a_contact("e-2")])
    second = publisher.calls[2][0]
    assert second.topic == TOPICS.subject_keys.name
    assert isinstance(second.key, str)
    sealer.forget_key_record(second.key)  # the watcher saw its tombstone
    runtime.accept_events([a_contact("e-3")])
    key_records = [c[0].key for c in publisher.calls if c[0].topic == TOPICS.subject_keys.name]
    assert len(set(key_records)) == 3


def test_shredding_needs_a_secret() -> None:
    with pytest.raises(ValidationError, match="LIFECYCLE_SHREDDING_SECRET"):
        DepartmentSettings(department=Department.SALES, port=8102, shredding=True)


def test_shredding_is_off_by_default(tmp_path: Path) -> None:
    publisher = KeysFirstPublisher()
    settings = DepartmentSettings(
        department=Department.MARKETING,
        port=8101,
        data_dir=tmp_path,
        api_keys_json=json.dumps({"keys": []}),
    )
    runtime = DepartmentRuntime(MARKETING, settings, publisher=publisher)
    runtime.accept_events([a_contact("e-1")])
    ((record,),) = publisher.calls
    assert record.key == EVENT.subject
    assert not is_sealed(record.value)
