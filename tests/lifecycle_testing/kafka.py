"""What the broker fixtures hand to tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from kafka import KafkaConsumer, TopicPartition

from lifecycle_schemas.topics import TopicSpec
from lifecycle_testing.paths import KAFKA_SCRIPT
from lifecycle_testing.processes import run_kafka_script
from lifecycle_testing.waiting import eventually


@dataclass(frozen=True)
class KafkaBroker:
    bootstrap_servers: str
    data_dir: Path | None  # None when an external cluster is used


@dataclass(frozen=True)
class KafkaNamespace:
    """One test's private slice of the broker: prefixed topics and its own consumer group."""

    bootstrap_servers: str
    prefix: str
    group_id: str

    def topic(self, spec: TopicSpec) -> str:
        """The name of a registry topic inside this namespace."""
        return spec.name_in(self.prefix)


class LocalBroker:
    """A broker of a test's own, through deploy/local/kafka (start, stop, restart with its data).

    Tests that stop a broker use one of these; stopping the session's broker would break the
    tests around them.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.bootstrap_servers = ""

    def _script(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return run_kafka_script(KAFKA_SCRIPT, *arguments, directory=self.data_dir, timeout_s=180)

    def start(self) -> str:
        """Start (or restart, on the same ports and data); return the bootstrap address."""
        started = self._script("start", "--free-ports")
        if started.returncode != 0:
            raise BrokerStartError(started.stderr)
        self.bootstrap_servers = started.stdout.strip().splitlines()[-1]
        return self.bootstrap_servers

    def stop(self) -> None:
        """Stop the broker (a clean shutdown, killed after 30 s)."""
        self._script("stop")


class BrokerStartError(RuntimeError):
    """deploy/local/kafka could not start a broker; the message holds its output."""


@contextmanager
def started_broker(data_dir: Path) -> Iterator[LocalBroker]:
    """A broker of a test's own, started in ``data_dir`` and stopped afterwards (a broker that
    does not start fails the test with its output)."""
    broker = LocalBroker(data_dir)
    try:
        broker.start()
    except BrokerStartError as error:
        pytest.fail(f"a test's own Kafka broker did not start:\n{error}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


class TopicRecord(NamedTuple):
    partition: int
    key: bytes | None
    value: bytes | None


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 30.0) -> list[TopicRecord]:
    """Every record on the topic now (tombstones included), by a fresh group-less consumer."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        records: list[TopicRecord] = []

        def behind() -> list[TopicPartition]:
            """The partitions not read to their end yet (after one more poll)."""
            for messages in consumer.poll(timeout_ms=300).values():
                records.extend(TopicRecord(m.partition, m.key, m.value) for m in messages)
            return [p for p in partitions if consumer.position(p) < ends[p]]

        if any(consumer.position(p) < ends[p] for p in partitions):
            eventually(
                behind,
                lambda left: not left,
                timeout_s=timeout_s,
                interval_s=0,  # the poll itself waits
                what=f"{topic} read to its end ({len(records)} records so far)",
            )
        return records
    finally:
        consumer.close()


def read_whole_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) on the topic now, tombstones included, by a fresh consumer."""
    return [(record.key, record.value) for record in read_topic(bootstrap, topic)]
