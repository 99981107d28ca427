"""Given a local 3-broker cluster, topics get production durability and acknowledged writes
survive a hard-killed leader; with two brokers down, writes are refused rather than acknowledged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from lifecycle_admin.kafka_admin import create_topics, describe_topic_configs
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.kafka_cluster import LocalCluster, started_cluster
from lifecycle_testing.waiting import eventually


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with started_cluster(tmp_path_factory.mktemp("cluster"), nodes=3) as started:
        yield started


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", request_timeout_ms=4000,
        delivery_timeout_ms=12000, max_block_ms=10000,
    )  # fmt: skip


def _send(producer: KafkaProducer, topic: str, value: bytes) -> bool:
    """True when the cluster acknowledged the record (acks=all)."""
    try:
        producer.send(topic, value=value, partition=0).get(timeout=20)
    except KafkaError:
        return False
    return True


def test_topics_on_a_three_broker_cluster_get_production_durability(
    cluster: LocalCluster,
) -> None:
    bootstrap = cluster.bootstrap_servers
    prefix = f"durable-{uuid.uuid4().hex[:6]}."
    created = create_topics(bootstrap, prefix=prefix)
    assert {result.replication_factor for result in created} == {3}
    configs = describe_topic_configs(bootstrap, [TOPICS.sales_events.name_in(prefix)])
    config = configs[TOPICS.sales_events.name_in(prefix)]
    assert config["min.insync.replicas"] == "2"
    assert config["unclean.leader.election.enable"] == "false"


def test_acknowledged_writes_survive_a_killed_leader_and_two_down_refuse_writes(
    cluster: LocalCluster,
) -> None:
    bootstrap = cluster.bootstrap_servers
    prefix = f"chaos-{uuid.uuid4().hex[:6]}."
    create_topics(bootstrap, prefix=prefix, topics=[TOPICS.sales_events])
    topic = TOPICS.sales_events.name_in(prefix)
    acknowledged: list[bytes] = []
    producer = _producer(bootstrap)
    try:
        for n in range(20):
            value = f"before-{n}".encode()
            assert _send(producer, topic, value)
            acknowledged.append(value)

        leader = cluster.partition_state(topic, 0)[0]
        cluster.kill_node(leader)
        # Two of three in sync: writes go on once a new leader is elected.
        written_after_kill: list[bytes] = []

        def write_one_more() -> int:
            value = f"after-kill-{len(written_after_kill)}".encode()
            if _send(producer, topic, value):
                written_after_kill.append(value)
            return len(written_after_kill)

        eventually(
            write_one_more,
            lambda written: written == 20,
            timeout_s=60,
            interval_s=0,  # each send waits for its acknowledgement or its error
            what="20 records acknowledged after the leader's kill",
        )
        acknowledged += written_after_kill

        second = cluster.partition_state(topic, 0)[0]
        assert second != leader
        cluster.kill_node(second)
        # One broker left, below min.insync.replicas: nothing may be acknowledged.
        assert not _send(producer, topic, b"with-two-down")
    finally:
        producer.close(timeout=5)
        cluster.start_nodes(1, 2, 3)

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=f"{prefix}reader", consumer_timeout_ms=20000,
    )  # fmt: skip
    try:
        seen: set[bytes] = set()

        def missing() -> set[bytes]:
            # A restarted node not accepting connections yet raises: asked again.
            for records in consumer.poll(timeout_ms=1000).values():
                seen.update(record.value for record in records)
            return set(acknowledged) - seen

        eventually(
            missing,
            lambda lost: not lost,
            timeout_s=90,
            interval_s=0,  # the poll itself waits
            what="every acknowledged record read back (an acknowledged record was lost)",
            retry_on=(KafkaError,),
        )
    finally:
        consumer.close()
