"""Given the registry, the admin command creates every topic with its partitions and config."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaTimeoutError

from lifecycle_admin.kafka_admin import create_topics, describe_topic_configs
from lifecycle_schemas.topics import TOPICS, CleanupPolicy
from lifecycle_testing.kafka import KafkaBroker, KafkaNamespace


def test_every_registry_topic_exists_with_its_partition_count(kafka: KafkaNamespace) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        described = admin.describe_topics([kafka.topic(spec) for spec in TOPICS.all()])
    finally:
        admin.close()
    partitions = {topic["name"]: len(topic["partitions"]) for topic in described}
    assert partitions == {kafka.topic(spec): spec.partitions for spec in TOPICS.all()}


def test_topics_carry_the_registry_retention_and_cleanup(kafka: KafkaNamespace) -> None:
    configs = describe_topic_configs(
        kafka.bootstrap_servers, [kafka.topic(spec) for spec in TOPICS.all()]
    )
    for spec in TOPICS.all():
        config = configs[kafka.topic(spec)]
        assert config["cleanup.policy"] == spec.cleanup_policy.value
        if spec.retention_ms is not None:
            assert config["retention.ms"] == str(spec.retention_ms)
    profiles = configs[kafka.topic(TOPICS.customer_profiles)]
    assert profiles["cleanup.policy"] == CleanupPolicy.COMPACT.value
    assert profiles["min.cleanable.dirty.ratio"] == "0.1"


def test_creating_topics_twice_changes_nothing(kafka: KafkaNamespace) -> None:
    again = create_topics(kafka.bootstrap_servers, prefix=kafka.prefix)
    assert [result.created for result in again] == [False] * len(TOPICS.all())


def test_the_broker_refuses_to_auto_create_topics(kafka_broker: KafkaBroker) -> None:
    # Topics come only from the registry: a typo in a topic name must not create a topic.
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, max_block_ms=2000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send("not-in-the-registry", b"value").get(timeout=5)
    finally:
        producer.close(timeout=5)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        assert "not-in-the-registry" not in admin.list_topics()
    finally:
        admin.close()


def test_admin_command_creates_topics_from_the_command_line(kafka_broker: KafkaBroker) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lifecycle_admin",
            "create-topics",
            "--bootstrap",
            kafka_broker.bootstrap_servers,
            "--prefix",
            "cli-test.",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    created_lines = [line for line in result.stdout.splitlines() if line.startswith("created")]
    assert len(created_lines) == len(TOPICS.all())
    assert f"cli-test.{TOPICS.dead_letter.name} partitions=1" in result.stdout
