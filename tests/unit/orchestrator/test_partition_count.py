"""The orchestrator's partition count comes from the cluster: one count for every input topic."""

from __future__ import annotations

import pytest

from orchestrator.kafka_setup import PartitionsMismatchError, partition_count


def test_the_input_topics_count_is_the_tables_count() -> None:
    assert partition_count({"a": 16, "b": 16}, default=8) == 16


def test_with_no_input_topic_yet_the_registry_default_holds() -> None:
    assert partition_count({}, default=8) == 8


def test_input_topics_with_different_counts_are_refused_by_name() -> None:
    with pytest.raises(PartitionsMismatchError, match="a=16, b=8"):
        partition_count({"b": 8, "a": 16}, default=8)
