"""What the ``customers`` table stores per customer: the state and its unconfirmed outputs.

The worker does not wait for Kafka to acknowledge a message's outputs before it writes the new
state (that wait, per event, capped the worker at a few hundred events/s). Instead the outputs
are written into the same table value as an *outbox*, keyed by the source record's topic,
partition and offset. faust flushes the producer before it commits a source offset, so:

* a crash before the commit replays the record; the stored state already holds it (the core
  would drop it as a duplicate), so the worker re-sends the recorded outputs instead: same
  records, same ids, and departments drop the copies;
* once the source offset is committed, the outputs were flushed to Kafka, and the entry is
  dropped the next time the customer's value is written.

A value written before the outbox existed (a bare state) still loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.effects import OutboxRecord
from orchestrator.core.state import CustomerState

__all__ = [
    "OutboxRecord",
    "PendingOutputs",
    "SourcePosition",
    "StoredCustomer",
    "load_customer",
    "load_state",
]


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
        return self.model_dump_json(exclude_defaults=True).encode()

    def pending_for(self, source: SourcePosition) -> PendingOutputs | None:
        """The recorded outputs of this source record, if it was applied and not committed."""
        return next((entry for entry in self.outbox if entry.source == source), None)

    def confirmed_dropped(self, committed: Mapping[Any, int | None]) -> list[PendingOutputs]:
        """The outbox without entries whose source offset is committed (``committed[tp]``
        is the next offset to read, keyed by anything with ``topic`` and ``partition``)."""
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
        ]


def load_customer(value: bytes | str) -> StoredCustomer:
    """A table value as written by :meth:`StoredCustomer.to_bytes` (or a bare older state)."""
    text = value.decode() if isinstance(value, bytes) else value
    if text.startswith('{"state":'):
        return StoredCustomer.model_validate_json(text)
    return StoredCustomer(state=CustomerState.from_json(text))


def load_state(value: bytes | str) -> CustomerState:
    """Just the customer's state from a table value (for readers: API, reports, indexes)."""
    return load_customer(value).state
