"""Sending: records onto faust's producer, acknowledgements, and the dead-letter topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from lifecycle_schemas.codec import KAFKA_HEADERS, RecordDecodeError
from lifecycle_schemas.dead_letter import dead_letter_headers
from lifecycle_schemas.departments import Service
from orchestrator.core.effects import OutboxRecord
from orchestrator.metrics import OrchestratorMetrics

log = logging.getLogger("orchestrator.streaming")
Headers = Iterable[tuple[str, bytes]]
# On an event the department agent decoded, validated and time-checked before it forwarded it
# to events-by-customer: the customer agent then only parses it (the codec's limits and the
# clock check were passed once). Internal topics are written by the orchestrator alone (ACLs
# in production); a record without the header gets the full decode.
VALIDATED_HEADER = "lifecycle-validated"
VALIDATED_HEADERS: tuple[tuple[str, bytes], ...] = (*KAFKA_HEADERS, (VALIDATED_HEADER, b"1"))


class UnappliableRecordError(Exception):
    """A decoded record the core could not apply (the cause is chained)."""


class Producer(Protocol):
    """The part of faust's producer the sender uses."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Awaitable[Any]: ...


class HasProducer(Protocol):
    @property
    def producer(self) -> Any: ...


class SourceRecord(Protocol):
    """Where a consumed record came from, and its bytes (faust's ``Message``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def utcnow() -> datetime:
    """The worker's clock (the only place the streaming layer reads it)."""
    return datetime.now(UTC)


class Sender:
    """Queues records on faust's own producer: the one faust flushes before it commits offsets."""

    def __init__(self, app: HasProducer, metrics: OrchestratorMetrics, dead_letter_topic: str):
        self._app = app
        self.metrics = metrics
        self.dead_letter_topic = dead_letter_topic

    async def send(
        self, topic: str, key: str | bytes, value: bytes | None, headers: Headers | None = None
    ) -> Awaitable[Any]:
        """Queue a record; the returned future resolves when Kafka acknowledged it."""
        key_bytes = key.encode() if isinstance(key, str) else key
        # faust's producer without the Topic/Channel layers: their per-record serializer,
        # sensor and debug-log calls were measurable in a profile and do nothing for bytes.
        producer: Producer = self._app.producer
        pending: Awaitable[Any] = await producer.send(
            topic, key_bytes, value, partition=None, timestamp=None, headers=list(headers or [])
        )
        return pending

    async def send_records(self, records: Iterable[OutboxRecord]) -> list[Awaitable[Any]]:
        """Queue outbox records (faust flushes them before committing the source offset); the
        futures resolve when Kafka acknowledged each."""
        return [
            await self.send(
                record.topic,
                record.key,
                None if record.value is None else record.value.encode(),
                KAFKA_HEADERS if record.cloudevent_headers else None,
            )
            for record in records
        ]

    async def send_all(self, pending: list[Awaitable[Any]]) -> None:
        """Wait until Kafka acknowledged every queued record."""
        try:
            await asyncio.gather(*pending)
        except Exception:
            self.metrics.kafka_reachable.set(0)
            raise
        self.metrics.kafka_reachable.set(1)

    async def dead_letter(self, message: SourceRecord, error: Exception) -> None:
        """Send a record's original bytes to the dead-letter topic with the reason."""
        headers = dead_letter_headers(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            service=Service.ORCHESTRATOR,
            failed_at=utcnow(),
            error=error,
        )
        reason = (
            error.errors[0].rule
            if isinstance(error, RecordDecodeError) and error.errors
            else type(error).__name__
        )
        self.metrics.dead_letter_records.labels(topic=message.topic, reason=reason).inc()
        log.warning(
            "record dead-lettered",
            extra={
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "reason": reason,
            },
        )
        value = message.value if message.value is not None else b""
        pending = await self.send(self.dead_letter_topic, message.key or b"", value, headers)
        await self.send_all([pending])
