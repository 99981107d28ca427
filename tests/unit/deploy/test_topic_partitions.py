"""Partitions are a deployment choice: `create-topics --partitions N` or LIFECYCLE_TOPIC_PARTITIONS
size every co-partitioned topic; the dead-letter and playbook topics keep their one partition."""

from __future__ import annotations

import pytest

from lifecycle_admin.cli import build_parser
from lifecycle_admin.kafka_admin import partitions_from_environment
from lifecycle_schemas.topics import DEFAULT_PARTITIONS, TOPICS


def test_a_deployment_count_sizes_every_copartitioned_topic() -> None:
    counts = {spec.name: spec.partitions_in(16) for spec in TOPICS.all()}
    assert counts.pop(TOPICS.dead_letter.name) == 1
    # Its order is the order of versions (lifecycle_schemas.playbook_versions).
    assert counts.pop(TOPICS.playbook_versions.name) == 1
    assert set(counts.values()) == {16}


def test_without_a_choice_the_registry_counts_hold() -> None:
    assert all(spec.partitions_in(None) == spec.partitions for spec in TOPICS.all())
    assert TOPICS.events_by_customer.partitions == DEFAULT_PARTITIONS


def test_the_environment_variable_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFECYCLE_TOPIC_PARTITIONS", raising=False)
    assert partitions_from_environment() is None
    monkeypatch.setenv("LIFECYCLE_TOPIC_PARTITIONS", "24")
    assert partitions_from_environment() == 24
    for bad in ("0", "many"):
        monkeypatch.setenv("LIFECYCLE_TOPIC_PARTITIONS", bad)
        with pytest.raises(ValueError, match="LIFECYCLE_TOPIC_PARTITIONS"):
            partitions_from_environment()


def test_the_command_line_takes_a_positive_count() -> None:
    parser = build_parser()
    assert parser.parse_args(["create-topics", "--partitions", "16"]).partitions == 16
    assert parser.parse_args(["create-topics"]).partitions is None
    with pytest.raises(SystemExit):
        parser.parse_args(["create-topics", "--partitions", "0"])
