"""Poison records: every kind of bad value a topic can carry, and how to read the dead letters.

Shared by the orchestrator's and the department services' poison tests (not a test module).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import MessageSizeTooLargeError

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.dead_letter import (
    HEADER_ERROR_CLASS,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_TOPIC,
)
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.orchestrator_io import Kafka
from orchestrator.streaming import LOOKUP_HEADER

# Personal data inside a poison record: it must never reach a dead-letter header.
CANARY_EMAIL = "canary.poison.7f3a@example.com"
CANARY_NAME = "Zebulon Canarypoison"
TWO_MIB = 2 * 1024 * 1024
HUGE_PLACEHOLDER = "huge-integer-goes-here"


def _example(record_type: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode_record(EXAMPLES[record_type]))
    for path, value in changes.items():
        target = document
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return document


def poison_values(record_type: str) -> dict[str, bytes | None]:
    """Every poison kind (by name) built around a valid record of ``record_type``."""
    rng = random.Random(7)
    deep: Any = "bottom"
    for _ in range(1000):
        deep = [deep]
    kinds: dict[str, Any] = {
        "schema-violation": _example(
            record_type, **{"data.customer": {"email": CANARY_EMAIL, "name": CANARY_NAME}}
        ),
        "unknown-type": _example(record_type, type="com.customerlifecycle.sales.unheard-of.v1"),
        "huge-integer": _example(record_type, **{"data.amount": HUGE_PLACEHOLDER}),
        "deep-nesting": _example(record_type, **{"data.nested": deep}),
        "time-in-microseconds": _example(record_type, time=1_763_900_000_000_000),
        "time-far-future": _example(record_type, time="2999-01-01T00:00:00+00:00"),
    }
    poisons: dict[str, bytes | None] = {
        "random-bytes": rng.randbytes(256),
        "invalid-json": b'{"specversion": "1.0", "id": ',
        "null-value": None,
    }
    poisons.update({name: _dumps(document) for name, document in kinds.items()})
    # A 10,000-digit integer: written as text, Python refuses to print one that long.
    poisons["huge-integer"] = (poisons["huge-integer"] or b"").replace(
        json.dumps(HUGE_PLACEHOLDER).encode(), b"9" * 10_000
    )
    return poisons


def _dumps(document: Any) -> bytes:
    # The deep list needs more recursion than json.dumps' default allows in its C encoder.
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        return json.dumps(document).encode()
    finally:
        sys.setrecursionlimit(limit)


@dataclass(frozen=True)
class Produced:
    """A poison record as the broker acknowledged it."""

    kind: str
    topic: str
    partition: int
    offset: int
    value: bytes | None


def produce_poison(bootstrap: str, topics: list[str], record_type: str) -> list[Produced]:
    """Write every poison kind to every topic; the 2 MiB one must be refused by Kafka itself."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=3 * TWO_MIB)
    produced: list[Produced] = []
    try:
        for topic in topics:
            for kind, value in poison_values(record_type).items():
                meta = producer.send(topic, key=f"poison-{kind}".encode(), value=value).get(15)
                produced.append(Produced(kind, topic, meta.partition, meta.offset, value))
    finally:
        producer.close()
    for topic in topics:
        assert_too_large_is_refused(bootstrap, topic)
    return produced


def produce_lookup_poison(bootstrap: str, topic: str, record_type: str) -> list[Produced]:
    """Identity lookups (the event's bytes, the lookup in a header) whose header is bad."""
    event = encode_record(EXAMPLES[record_type])
    stranger = json.dumps(
        {
            "identifier": "email:nobody@example.com",
            "event_id": "evt-poison",
            "event_time": "2026-01-01T00:00:00Z",
            "chain": ["crm_account_id:crm-poison"],
        }
    )
    headers = {
        "lookup-header-not-json": b'{"identifier": ',
        "lookup-header-wrong-fields": b'{"identifier": "email:x@example.com"}',
        # The identifier it was sent to is not one of the event's: resolution cannot go on.
        "lookup-identifier-not-in-chain": stranger.encode(),
    }
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    produced: list[Produced] = []
    try:
        for kind, header in headers.items():
            meta = producer.send(
                topic, key=f"poison-{kind}".encode(), value=event, headers=[(LOOKUP_HEADER, header)]
            ).get(15)
            produced.append(Produced(kind, topic, meta.partition, meta.offset, event))
    finally:
        producer.close()
    return produced


def assert_too_large_is_refused(bootstrap: str, topic: str) -> None:
    """Kafka itself refuses a 2 MiB value (message.max.bytes): it never reaches a consumer."""
    # Its own producer: an idempotent producer that got this error refuses to send anything else.
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=3 * TWO_MIB)
    try:
        producer.send(topic, key=b"poison-2mib", value=b"x" * TWO_MIB).get(15)
    except MessageSizeTooLargeError:
        return
    finally:
        producer.close(timeout=5)
    raise AssertionError(f"{topic} accepted a 2 MiB record")


def dead_letters(kafka_io: Kafka, poisons: list[Produced], timeout_s: float) -> list[Any]:
    """The dead-letter topic's records, once every poison has one or at the deadline."""
    topics = [TOPICS.dead_letter.name]
    try:
        return kafka_io.read(topics, lambda rs: not missing_dead_letters(rs, poisons), timeout_s)
    except AssertionError:  # the caller's comparison says which are missing
        return kafka_io.read(topics, bool, 10)


def headers_of(record: Any) -> dict[str, str]:
    """A record's headers as text."""
    return {name: value.decode("utf-8", "replace") for name, value in record.headers or []}


def dead_letter_for(records: list[Any], poison: Produced) -> Any | None:
    """The dead letter of one poison record (matched on its origin headers), if any."""
    for record in records:
        headers = headers_of(record)
        if (
            headers.get(HEADER_TOPIC),
            headers.get(HEADER_PARTITION),
            headers.get(HEADER_OFFSET),
        ) == (poison.topic, str(poison.partition), str(poison.offset)):
            return record
    return None


def missing_dead_letters(records: list[Any], poisons: list[Produced]) -> list[str]:
    """Each poison without a faithful dead letter (original bytes, origin, error class)."""
    problems = []
    for poison in poisons:
        letter = dead_letter_for(records, poison)
        if letter is None:
            problems.append(f"{poison.topic} {poison.kind}: no dead letter")
        elif (letter.value or b"") != (poison.value or b""):
            problems.append(f"{poison.topic} {poison.kind}: bytes changed")
        elif not headers_of(letter).get(HEADER_ERROR_CLASS):
            problems.append(f"{poison.topic} {poison.kind}: no error class")
    return problems


def group_lag(bootstrap: str, group_id: str, topics: Iterable[str]) -> int:
    """Records on ``topics`` not yet committed by ``group_id`` (uncommitted partitions count)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets(group_id)[group_id]
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = consumer.end_offsets(partitions)
        return sum(
            end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
        )
    finally:
        consumer.close()
        admin.close()
