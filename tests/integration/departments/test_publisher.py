"""The publisher on the real broker: the partitions the other clients pick, and its deadline.

The publisher is librdkafka's producer; kafka-python, aiokafka (the orchestrator's faust) and
the Java clients hash keys with murmur2, librdkafka by default with CRC32. A key must land on
the partition the rest of the system expects, or a customer's events would be split.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaProducer

from department_kit.kafka_io import BrokerUnavailableError, KafkaPublisher, OutgoingRecord
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import events_topic_for
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.processes import free_port

pytestmark = pytest.mark.kafka

# Plain ids, identifier-shaped subjects, and keys outside ASCII (hashed as UTF-8 bytes).
KEYS = [
    *(f"customer-{n}" for n in range(150)),
    *(f"crm_account_id:{n:06d}" for n in range(0, 150_000, 1_000)),
    "Ærøskøbing-Kunde",
    "顧客-7",
    "",
]


def kafka_python_partitions(bootstrap: str, topic: str, keys: list[str]) -> list[int]:
    """Where kafka-python's default partitioner put each key (the publisher before librdkafka)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        futures = [producer.send(topic, value=b"before", key=key.encode()) for key in keys]
        return [future.get(15).partition for future in futures]
    finally:
        producer.close()


def test_a_keyed_record_lands_on_the_partition_kafka_python_picks(kafka: KafkaNamespace) -> None:
    topic = kafka.topic(events_topic_for(Department.SALES))
    expected = kafka_python_partitions(kafka.bootstrap_servers, topic, KEYS)
    publisher = KafkaPublisher(kafka.bootstrap_servers, 10.0, "test-partitioning")
    try:
        by_key = publisher.publish([OutgoingRecord(topic, key, b"after") for key in KEYS])
        # A sealed event is keyed by a pseudonym but placed by its plain subject.
        by_partition_key = publisher.publish(
            [
                OutgoingRecord(topic, f"kid-{n}", b"sealed", partition_key=key.encode())
                for n, key in enumerate(KEYS)
            ]
        )
    finally:
        publisher.close()
    assert len(set(expected)) == events_topic_for(Department.SALES).partitions
    assert [d.partition for d in by_key] == expected
    assert [d.partition for d in by_partition_key] == expected
    assert {d.topic for d in by_key + by_partition_key} == {topic}
    assert publisher.reachable


def test_acknowledged_records_come_back_in_order_with_their_offsets(
    kafka: KafkaNamespace,
) -> None:
    topic = kafka.topic(events_topic_for(Department.MARKETING))
    publisher = KafkaPublisher(kafka.bootstrap_servers, 10.0, "test-offsets")
    try:
        deliveries = publisher.publish(
            [OutgoingRecord(topic, "one-customer", str(n).encode()) for n in range(100)]
        )
    finally:
        publisher.close()
    assert len({d.partition for d in deliveries}) == 1
    offsets = [d.offset for d in deliveries]
    assert offsets == list(range(offsets[0], offsets[0] + 100))


def test_an_unreachable_broker_fails_the_publish_within_its_deadline() -> None:
    publisher = KafkaPublisher(f"127.0.0.1:{free_port()}", 1.0, "test-unreachable")
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailableError):
            publisher.publish([OutgoingRecord("nowhere", "key", b"value")])
        elapsed = time.monotonic() - started
    finally:
        publisher.close(timeout_s=0.5)
    assert elapsed < 3.0
    assert not publisher.reachable


def test_a_publish_to_brokers_that_are_all_down_is_refused_before_its_deadline() -> None:
    # A deadline far longer than the test: the refusal must come from librdkafka's
    # all-brokers-down report, not from the deadline (clients get their 503 at once).
    publisher = KafkaPublisher(f"127.0.0.1:{free_port()}", 600.0, "test-all-down")
    try:
        with pytest.raises(BrokerUnavailableError, match="AllBrokersDown"):
            publisher.publish([OutgoingRecord("nowhere", "key", b"value")])
    finally:
        publisher.close(timeout_s=0.5)
    assert not publisher.reachable
