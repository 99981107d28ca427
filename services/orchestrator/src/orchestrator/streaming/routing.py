"""Keys whose partition this worker owns: read and write their table entries in place.

A step addressed to another key's partition (a lookup for the event's next identifier) travels
over Kafka so that the worker owning that partition takes it. When this worker owns it too,
the hop is a record produced and consumed for nothing: the step runs here, with the table read
and written on that key's partition. faust picks a table's partition (store and changelog)
from the event being processed (a ContextVar), so the step runs with that variable pointing at
a stand-in event of the key's partition for the duration of the table access.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.partitioner import murmur2
from faust.streams import _current_event


class Partitions(Protocol):
    """Where a key's table entry lives, and whether this worker may touch it now."""

    def is_local(self, key: str) -> bool: ...

    def on_partition_of(self, key: str) -> Any:
        """A context manager: table reads and writes inside it go to ``key``'s partition."""
        ...


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives ``key`` among ``partitions``."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class _Message:
    topic: str
    partition: int


@dataclass(frozen=True)
class _StandIn:
    """What faust's tables read of the current event: its message's topic and partition."""

    message: _Message


class LocalPartitions:
    """:class:`Partitions` for one topic co-partitioned with a table, from faust's assignment."""

    def __init__(self, app: Any, topic: str, partitions: int) -> None:
        self._app = app
        self.topic = topic
        self.partitions = partitions

    def is_local(self, key: str) -> bool:
        partition = partition_of(key.encode(), self.partitions)
        return bool(self._app.assignor.is_active((self.topic, partition)))

    @contextmanager
    def on_partition_of(self, key: str) -> Iterator[None]:
        stand_in = _StandIn(_Message(self.topic, partition_of(key.encode(), self.partitions)))
        token = _current_event.set(weakref.ref(stand_in))  # type: ignore[arg-type]
        try:
            yield
        finally:
            _current_event.reset(token)


class NoLocalPartitions:
    """Every step takes its hop (a worker's tables accessed only from their own events)."""

    def is_local(self, key: str) -> bool:
        return False

    @contextmanager
    def on_partition_of(self, key: str) -> Iterator[None]:
        yield
