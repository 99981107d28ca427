"""Given the session broker, records produced by one client library are read back by both."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer

from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.waiting import eventually, eventually_async

RECORD_COUNT = 20
DEADLINE_S = 30.0


def _records(source: str) -> list[tuple[bytes, bytes]]:
    # Four customers, five records each: per-key order must survive the round trip.
    return [
        (f"email:customer{n % 4}@example.com".encode(), json.dumps({"n": n, "by": source}).encode())
        for n in range(RECORD_COUNT)
    ]


def _produce_with_kafka_python(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in records]
        for future in futures:
            future.get(timeout=DEADLINE_S)
    finally:
        producer.close(timeout=10)


def _consume_with_kafka_python(
    bootstrap: str, topic: str, group_id: str, expected: int
) -> tuple[list[tuple[int, bytes, bytes]], int]:
    """Read until `expected` records arrived, commit, and return them with the committed total."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: list[tuple[int, bytes, bytes]] = []
    try:

        def poll() -> list[tuple[int, bytes, bytes]]:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend((r.partition, r.key, r.value) for r in records)
            return received

        eventually(
            poll,
            lambda got: len(got) >= expected,
            timeout_s=DEADLINE_S,
            interval_s=0,  # the poll itself waits
            what=f"{expected} records on {topic} (kafka-python)",
        )
        consumer.commit()
        committed_total = sum(consumer.committed(tp) or 0 for tp in consumer.assignment())
    finally:
        consumer.close()
    return received, committed_total


async def _produce_with_aiokafka(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _consume_with_aiokafka(
    bootstrap: str, topic: str, group_id: str, expected: int
) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[int, bytes, bytes]] = []
    try:

        async def poll() -> list[tuple[int, bytes, bytes]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                received.extend((r.partition, r.key or b"", r.value or b"") for r in records)
            return received

        await eventually_async(
            poll,
            lambda got: len(got) >= expected,
            timeout_s=DEADLINE_S,
            interval_s=0,  # getmany itself waits
            what=f"{expected} records on {topic} (aiokafka)",
        )
        await consumer.commit()
    finally:
        await consumer.stop()
    return received


def _assert_same_records(
    sent: list[tuple[bytes, bytes]], received: list[tuple[int, bytes, bytes]]
) -> None:
    assert sorted((key, value) for _, key, value in received) == sorted(sent)
    partitions_by_key: dict[bytes, set[int]] = {}
    for partition, key, _ in received:
        partitions_by_key.setdefault(key, set()).add(partition)
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())
    for key in partitions_by_key:
        in_order = [json.loads(v)["n"] for _, k, v in received if k == key]
        assert in_order == sorted(in_order), "records of one customer arrived out of order"


def test_kafka_python_round_trip(kafka: KafkaNamespace) -> None:
    topic = kafka.topic(TOPICS.marketing_events)
    sent = _records("kafka-python")
    _produce_with_kafka_python(kafka.bootstrap_servers, topic, sent)
    received, committed = _consume_with_kafka_python(
        kafka.bootstrap_servers, topic, kafka.group_id, len(sent)
    )
    _assert_same_records(sent, received)
    assert committed == len(sent)


def test_aiokafka_round_trip(kafka: KafkaNamespace) -> None:
    topic = kafka.topic(TOPICS.sales_events)
    sent = _records("aiokafka")
    asyncio.run(_produce_with_aiokafka(kafka.bootstrap_servers, topic, sent))
    received = asyncio.run(
        _consume_with_aiokafka(kafka.bootstrap_servers, topic, kafka.group_id, len(sent))
    )
    _assert_same_records(sent, received)


def test_the_two_clients_agree_on_partitioning(kafka: KafkaNamespace) -> None:
    # Department services produce with kafka-python and the orchestrator consumes with
    # aiokafka: both must put one customer's key on the same partition.
    topic = kafka.topic(TOPICS.service_desk_events)
    sent = _records("kafka-python")
    _produce_with_kafka_python(kafka.bootstrap_servers, topic, sent)
    asyncio.run(_produce_with_aiokafka(kafka.bootstrap_servers, topic, _records("aiokafka")))
    received = asyncio.run(
        _consume_with_aiokafka(kafka.bootstrap_servers, topic, kafka.group_id, 2 * len(sent))
    )
    partitions_by_key: dict[bytes, set[int]] = {}
    for partition, key, _ in received:
        partitions_by_key.setdefault(key, set()).add(partition)
    assert len(received) == 2 * len(sent)
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())


def test_committed_offsets_resume_a_consumer_group(kafka: KafkaNamespace) -> None:
    topic = kafka.topic(TOPICS.action_outcomes)
    _produce_with_kafka_python(kafka.bootstrap_servers, topic, _records("first"))
    _consume_with_kafka_python(kafka.bootstrap_servers, topic, kafka.group_id, RECORD_COUNT)
    _produce_with_kafka_python(kafka.bootstrap_servers, topic, _records("second"))
    again, committed = _consume_with_kafka_python(
        kafka.bootstrap_servers, topic, kafka.group_id, RECORD_COUNT
    )
    assert {json.loads(value)["by"] for _, _, value in again} == {"second"}
    assert committed == 2 * RECORD_COUNT
