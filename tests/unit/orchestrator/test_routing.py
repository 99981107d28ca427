"""Steps run in place on a partition this worker owns: the partition is Kafka's, and faust's
tables see it as the current event's."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from faust.streams import current_event

from orchestrator.streaming.routing import LocalPartitions, partition_of


def test_a_key_s_partition_is_the_one_the_producer_sends_it_to() -> None:
    partitions = list(range(16))
    for n in range(300):
        key = f"email:person-{n}@example.com".encode()
        assert partition_of(key, 16) == DefaultPartitioner()(key, partitions, partitions)


class Assignor:
    def __init__(self, active: set[tuple[str, int]]) -> None:
        self.active = active

    def is_active(self, tp: Any) -> bool:
        return tuple(tp) in self.active


class App:
    def __init__(self, active: set[tuple[str, int]]) -> None:
        self.assignor = Assignor(active)


def test_tables_see_the_key_s_partition_inside_and_the_event_s_after() -> None:
    key = "email:ann@example.com"
    own = partition_of(key.encode(), 8)
    local = LocalPartitions(App({("identity", own)}), "identity", 8)
    assert local.is_local(key)
    assert not LocalPartitions(App(set()), "identity", 8).is_local(key)
    before = current_event()
    with local.on_partition_of(key):
        event = current_event()
        assert event is not None
        assert (event.message.topic, event.message.partition) == ("identity", own)
    assert current_event() is before
