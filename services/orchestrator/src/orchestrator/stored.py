"""What the ``customers`` table stores per customer: the state and its unconfirmed outputs.

The worker does not wait for Kafka to acknowledge a message's outputs before it writes the new
state (that wait, per event, capped the worker at a few hundred events/s). Instead the outputs
are written into the same table value as an *outbox*, keyed by the source record's topic,
partition and offset. faust flushes the producer before it commits a source offset, so:

* a crash before the commit replays the record; the stored state already holds it (the core
  would drop it as a duplicate), so the worker re-sends the recorded outputs instead: same
  records, same ids, and departments drop the copies;
* once the source offset is committed, the outputs were flushed to Kafka, and the entry is
  dropped the next time the customer's value is written;
* so it is once Kafka acknowledged every one of the outputs (``Acknowledgements``), usually
  well before the commit: a replay then finds the record applied and nothing to re-send, and
  nothing is lost, since the outputs are on Kafka. Without it a customer's value carried
  about three records' outputs (half its bytes) in the benchmark.

The value is MessagePack (``orchestrator.packing``) behind a format byte, ``PACKED``: the
worker reads back only what it wrote itself, so it rebuilds the models without validating
them again. A JSON value (``{`` first: written before, or when a value does not fit
MessagePack) still loads, and so does a value written before the outbox existed (a bare state).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.effects import OutboxRecord
from orchestrator.core.state import CustomerState
from orchestrator.packing import pack, unpack

__all__ = [
    "KEPT_VALUES",
    "PACKED",
    "Acknowledgements",
    "OutboxRecord",
    "PendingOutputs",
    "RecentValues",
    "SourcePosition",
    "StoredCustomer",
    "load_customer",
    "load_state",
]

# The first byte of a MessagePack table value (a JSON one starts with "{").
PACKED = b"\x01"
# Returning customers whose last written value a worker keeps as objects (RecentValues; the
# setting ORCHESTRATOR_KEPT_VALUES): at most about 6 MB. On the bench's 20,000-event workload
# 64 kept take half the parses away (the next record of the same customer, soon after); the
# whole set of customers active at once (512 there: 95 %) costs about 45 MB.
KEPT_VALUES = 64


class SourcePosition(BaseModel):
    """Where the record that caused some outputs was read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    partition: int
    offset: int


class PendingOutputs(BaseModel):
    """The outputs of one source record, kept until that record's offset is committed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: SourcePosition
    records: tuple[OutboxRecord, ...]


class StoredCustomer(BaseModel):
    """The table value: the customer's state and the outputs not yet known to be on Kafka."""

    model_config = ConfigDict(extra="forbid")

    state: CustomerState
    outbox: list[PendingOutputs] = Field(default_factory=list)

    def to_bytes(self) -> bytes:
        """The table value: ``PACKED`` and MessagePack, or JSON for what that cannot hold."""
        try:
            return PACKED + pack(self)
        except (NotImplementedError, OverflowError, TypeError):  # e.g. an int over 64 bits
            return self.to_json_bytes()

    def to_json_bytes(self) -> bytes:
        """The value as JSON (what the table held before ``PACKED`` values)."""
        return self.model_dump_json(exclude_defaults=True).encode()

    def pending_for(self, source: SourcePosition) -> PendingOutputs | None:
        """The recorded outputs of this source record, if it was applied and not committed."""
        return next((entry for entry in self.outbox if entry.source == source), None)

    def confirmed_dropped(
        self,
        committed: Mapping[Any, int | None],
        acknowledged: Callable[[SourcePosition], bool] | None = None,
    ) -> list[PendingOutputs]:
        """The outbox without entries whose source offset is committed (``committed[tp]``
        is the next offset to read, keyed by anything with ``topic`` and ``partition``) or
        whose outputs Kafka all ``acknowledged``."""
        by_position = {
            (tp.topic, tp.partition): offset
            for tp, offset in committed.items()
            if offset is not None  # faust's "nothing committed yet"
        }
        return [
            entry
            for entry in self.outbox
            if by_position.get((entry.source.topic, entry.source.partition), -1)
            <= entry.source.offset
            and not (acknowledged is not None and acknowledged(entry.source))
        ]


def load_customer(value: bytes | str) -> StoredCustomer:
    """A table value as written by :meth:`StoredCustomer.to_bytes` (or an older JSON one)."""
    if isinstance(value, bytes) and value[:1] == PACKED:
        return unpack(StoredCustomer, memoryview(value)[1:])
    text = value.decode() if isinstance(value, bytes) else value
    if text.startswith('{"state":'):
        return StoredCustomer.model_validate_json(text)
    return StoredCustomer(state=CustomerState.from_json(text))


def load_state(value: bytes | str) -> CustomerState:
    """Just the customer's state from a table value (for readers: API, reports, indexes)."""
    return load_customer(value).state


class RecentValues:
    """The values this worker wrote last, kept as objects beside their bytes (``limit`` at most,
    least recently written dropped first).

    When the table still holds the very bytes written from an object, that object is what
    parsing them would give: it is taken instead (and handed over: a taken value is no longer
    kept, so an apply that fails half-way leaves nothing changed behind). Anything else (a value
    another worker wrote before a rebalance, one written before a restart) is parsed.

    A kept value costs its objects plus its bytes (tracemalloc: 36 + 12 KB for a new
    customer's value with its outbox, about 80 + 11 KB for one with a full timeline): the
    memory is ``limit`` times that at most (``KEPT_VALUES`` by default).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._values: OrderedDict[bytes, tuple[bytes, StoredCustomer]] = OrderedDict()

    def take(self, key: bytes, value: bytes) -> StoredCustomer:
        """The stored value ``value`` of ``key`` as an object of the caller's own."""
        kept = self._values.pop(key, None)
        if kept is not None and kept[0] == value:
            return kept[1]
        return load_customer(value)

    def keep(self, key: bytes, value: bytes, stored: StoredCustomer) -> None:
        """``stored`` was just written as ``value``; its writer does not change it any more."""
        self._values[key] = (value, stored)
        if len(self._values) > self.limit:
            self._values.popitem(last=False)

    def __len__(self) -> int:
        return len(self._values)


class _Outstanding:
    """The acknowledgements one source record's outputs still wait for; -1 once one failed."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count

    def arrived(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.count = -1
        elif self.count > 0:
            self.count -= 1


class Acknowledgements:
    """Which source records' outputs Kafka acknowledged, counted as the acknowledgements
    arrive (``limit`` records at most, the oldest forgotten: an entry older than a commit
    interval leaves the outbox by its committed offset anyway, so a forgotten one only stays
    a little longer). About 200 bytes a record: no futures are held.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._waiting: OrderedDict[tuple[str, int, int], _Outstanding] = OrderedDict()

    def track(self, source: SourcePosition, pending: list[Awaitable[Any]]) -> None:
        """``pending`` were queued for the record at ``source`` (what the sender returned)."""
        outstanding = _Outstanding(len(pending))
        for future in pending:
            if isinstance(future, asyncio.Future):
                future.add_done_callback(outstanding.arrived)
            else:  # not a future: whether it arrived cannot be told
                outstanding.count = -1
        key = (source.topic, source.partition, source.offset)
        self._waiting[key] = outstanding
        self._waiting.move_to_end(key)
        if len(self._waiting) > self.limit:
            self._waiting.popitem(last=False)

    def acknowledged(self, source: SourcePosition) -> bool:
        """Whether every output of the record at ``source`` was acknowledged (then forgotten:
        its outbox entry is being dropped)."""
        key = (source.topic, source.partition, source.offset)
        outstanding = self._waiting.get(key)
        if outstanding is None or outstanding.count != 0:
            return False
        del self._waiting[key]
        return True

    def __len__(self) -> int:
        return len(self._waiting)
