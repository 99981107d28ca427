"""Partitions are a deployment choice: 16 of them, three workers joining and one leaving under
load, judged by the same oracle as the rebalance test (the pure core's replay of the ledger)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from chaos.load import Load, assert_matches_the_oracle, wait_for_progress
from kafka import KafkaAdminClient, KafkaConsumer

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.kafka import KafkaBroker, KafkaNamespace
from lifecycle_testing.orchestrator_io import Kafka
from lifecycle_testing.orchestrator_worker import Worker
from lifecycle_testing.waiting import eventually

pytestmark = pytest.mark.kafka
PARTITIONS = 16


@pytest.fixture(scope="module")
def namespace(kafka_broker: KafkaBroker) -> KafkaNamespace:
    """Every registry topic with 16 partitions (``create-topics --partitions 16``)."""
    token = uuid.uuid4().hex[:10]
    prefix = f"p16-{token}."
    create_topics(kafka_broker.bootstrap_servers, prefix=prefix, partitions=PARTITIONS)
    return KafkaNamespace(kafka_broker.bootstrap_servers, prefix, f"p16-group-{token}")


def partitions_of(namespace: KafkaNamespace, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=namespace.bootstrap_servers)
    try:
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


def members_with_partitions(namespace: KafkaNamespace, timeout_s: float = 60) -> int:
    """How many members of the worker group hold partitions, once the group is stable."""
    group = f"{namespace.prefix}lifecycle-orchestrator"
    admin = KafkaAdminClient(bootstrap_servers=namespace.bootstrap_servers)
    try:
        description = eventually(
            lambda: admin.describe_groups([group]).get(group, {}),
            lambda found: found.get("group_state") == "Stable",
            timeout_s=timeout_s,
            interval_s=0.5,
            what=f"the group {group} stable",
        )
    finally:
        admin.close()
    return len([m for m in description.get("members", []) if m.get("member_assignment")])


def test_sixteen_partitions_and_three_workers_lose_and_double_nothing(
    make_worker: Callable[..., Worker],
    kafka_io: Kafka,
    namespace: KafkaNamespace,
    playbook_dir: Path,
) -> None:
    first = make_worker()
    # The tables follow the count read from the cluster: no second constant says 8.
    for table in ("identities", "customers"):
        changelog = f"{namespace.prefix}lifecycle-orchestrator-{table}-changelog"
        assert partitions_of(namespace, changelog) == PARTITIONS
    assert partitions_of(namespace, namespace.topic(TOPICS.events_by_customer)) == PARTITIONS
    load = Load(kafka_io, interval_s=1.0).start()  # ~64 s: spans two joins and a leave
    wait_for_progress(first)
    second = make_worker()
    third = make_worker()
    assert members_with_partitions(namespace) == 3
    assert load.thread.is_alive(), "the load ended before the joins: nothing was rebalanced"
    second.stop()  # leaves: its partitions move to the other two
    load.finish()
    assert_matches_the_oracle(third, kafka_io, load, playbook_dir)
    third.stop()
    first.stop()
