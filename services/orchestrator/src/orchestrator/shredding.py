"""Crypto-shredding in the orchestrator: a key ring read from the keys topic, unsealing, erasure.

With ``LIFECYCLE_SHREDDING`` on, department events arrive sealed (``lifecycle_schemas.shredding``).
The streaming layer opens them where it decodes them (:meth:`Shredder.open`) and keeps
forwarding the sealed bytes, so events-by-customer and identity lookups hold ciphertext too. A
record whose key is gone was erased: it is skipped and counted
(``lifecycle_shredded_records_total``), not dead-lettered. An erasure tombstones every key
record of the customer's subjects (:meth:`Shredder.erasure_tombstones`).

The ring is a plain aiokafka consumer (no group: every worker reads every partition of the keys
topic from the beginning), not a faust GlobalTable: the ring must be able to tell "not read
yet" from "shredded" on a miss, by catching up to the topic's end offsets as of the miss, and
a GlobalTable offers no such wait (its reads answer from whatever it recovered so far).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter

from lifecycle_schemas.shredding import (
    KeyIndex,
    SealError,
    SubjectKey,
    is_sealed,
    seal,
    sealed_key_record,
    subject_key_id,
    unseal,
)
from lifecycle_schemas.topics import TOPICS
from orchestrator.core.effects import OutboxRecord
from orchestrator.core.messages import Decision, ForgetIdentifiers
from orchestrator.core.state import CustomerState
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.settings import OrchestratorSettings
from service_kit.kafka_security import KafkaSecurity

__all__ = ["NoShredder", "SealError", "Shredder", "TopicKeyRing", "Unsealing", "shredder_for"]

log = logging.getLogger("orchestrator.shredding")
# A miss waits for the ring to catch up; past this a warning is logged and the wait goes on
# (skipping a record because the keys topic is slow would lose an event that is not erased).
CATCH_UP_WARNING_S = 10.0
FETCH_TIMEOUT_MS = 500


class TopicKeyRing:
    """Every live key record of the keys topic, read by a consumer of its own (a KeyRing)."""

    def __init__(
        self, bootstrap_servers: str, topic: str, security: KafkaSecurity | None = None
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._security = security.python_client_config() if security is not None else {}
        self.topic = topic
        self.index = KeyIndex()
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._starting = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def get(self, record_key: str) -> bytes | None:
        """The key, or None once the ring has read everything written before this call."""
        key = self.index.get(record_key)
        if key is not None:
            return key
        await self.catch_up()
        return self.index.get(record_key)

    async def catch_up(self) -> None:
        """Return once every key record written before the call has been read."""
        consumer = await self._started()
        ends = await consumer.end_offsets(self._partitions)
        while True:
            try:
                await asyncio.wait_for(self._reach(ends), CATCH_UP_WARNING_S)
                return
            except TimeoutError:
                log.warning("the key ring is not caught up yet", extra={"topic": self.topic})

    async def _reach(self, ends: dict[TopicPartition, int]) -> None:
        async with self._progress:
            await self._progress.wait_for(
                lambda: all(self._positions.get(tp, 0) >= end for tp, end in ends.items())
            )

    async def _started(self) -> AIOKafkaConsumer:
        async with self._starting:
            if self._consumer is None:
                # No group: a subscription then gets every partition, read from the start.
                consumer = AIOKafkaConsumer(
                    self.topic,
                    bootstrap_servers=self._bootstrap.split(","),
                    **self._security,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    group_id=None,
                )
                await consumer.start()
                waits = 0
                while not consumer.assignment():  # assigned once its metadata arrived
                    waits += 1
                    if waits % 100 == 0:
                        log.warning("no keys topic yet", extra={"topic": self.topic})
                    await asyncio.sleep(0.05)  # a retry pause, not synchronisation
                self._partitions = sorted(consumer.assignment())
                self._consumer = consumer
                self._reader = asyncio.ensure_future(self._read(consumer))
            return self._consumer

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
                for messages in batch.values():
                    for message in messages:
                        if message.key is not None:
                            self.index.apply(message.key.decode("utf-8", "replace"), message.value)
                positions = {tp: await consumer.position(tp) for tp in self._partitions}
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker away: keep reading once it is back
                log.exception("reading the keys topic failed")
                await asyncio.sleep(1.0)  # a retry pause, not synchronisation
                continue
            async with self._progress:
                self._positions = positions
                self._progress.notify_all()

    async def stop(self) -> None:
        """Stop reading and close the consumer."""
        if self._reader is not None:
            self._reader.cancel()
        if self._consumer is not None:
            await self._consumer.stop()


class Shredder:
    """Opens sealed department events and writes the tombstones of an erasure."""

    def __init__(self, ring: TopicKeyRing, secret: bytes, metrics: OrchestratorMetrics) -> None:
        self.ring = ring
        self._secret = secret
        self.shredded_records = Counter(
            "lifecycle_shredded_records_total",
            "Sealed records skipped because their key was shredded (an erased customer)",
            ["topic"],
            registry=metrics.registry,
        )

    async def on_shutdown(self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """faust is stopping: close the key ring's consumer."""
        await self.ring.stop()

    async def open(self, value: bytes, topic: str) -> bytes | None:
        """The plain bytes of a record value, or None when its key was shredded.

        A value that is not sealed passes through unchanged. Raises
        :class:`~lifecycle_schemas.shredding.SealError` (a ``ValueError``) for a sealed value
        that is malformed or tampered with: that record is dead-lettered.
        """
        if not is_sealed(value):
            return value
        key = await self.ring.get(sealed_key_record(value))
        if key is None:
            self.shredded_records.labels(topic=topic).inc()
            return None
        return unseal(value, key)

    def reseal(self, plain: bytes, subject: str) -> bytes:
        """An event the core forwards (an alias to its survivor) sealed again under a live key
        of its subject, so events-by-customer holds no plain copy of it.

        A subject without a live key passes in plain: an event that was never sealed (the
        setting turned on later) must still reach its customer.
        """
        kid = subject_key_id(self._secret, subject)
        for record_key in self.ring.index.key_records_of([kid]):
            key = self.ring.index.get(record_key)
            if key is not None:
                return seal(plain, SubjectKey(record_key, kid, key))
        return plain

    async def erasure_tombstones(
        self, state: CustomerState, decisions: Iterable[Decision]
    ) -> tuple[OutboxRecord, ...]:
        """Tombstones for every key record of an erased customer's subjects.

        The subjects are every identifier the customer had: those still in the state (system
        ids) and those the erasure removed (the ``ForgetIdentifiers`` decision).
        """
        subjects = {
            *state.identifier_keys(),
            f"customer_id:{state.customer_id}",
            *(f"customer_id:{merged}" for merged in state.merged_customer_ids),
        }
        for decision in decisions:
            if isinstance(decision, ForgetIdentifiers):
                subjects.update(decision.identifiers)
        kids = {subject_key_id(self._secret, subject) for subject in subjects}
        # Keys written before this erasure but not read yet must be found too.
        await self.ring.catch_up()
        return tuple(
            OutboxRecord(topic=self.ring.topic, key=record_key, value=None)
            for record_key in self.ring.index.key_records_of(kids)
        )


class Unsealing(Protocol):
    """What the agents need of crypto-shredding (a :class:`Shredder`, or :class:`NoShredder`)."""

    async def open(self, value: bytes, topic: str) -> bytes | None: ...

    def reseal(self, plain: bytes, subject: str) -> bytes: ...

    async def erasure_tombstones(
        self, state: CustomerState, decisions: Iterable[Decision]
    ) -> tuple[OutboxRecord, ...]: ...


class NoShredder:
    """Crypto-shredding off: values pass as they are, and an erasure has no keys to tombstone."""

    async def open(self, value: bytes, topic: str) -> bytes | None:
        return value

    def reseal(self, plain: bytes, subject: str) -> bytes:
        return plain

    async def erasure_tombstones(
        self, state: CustomerState, decisions: Iterable[Decision]
    ) -> tuple[OutboxRecord, ...]:
        return ()


def shredder_for(
    settings: OrchestratorSettings, metrics: OrchestratorMetrics, app: Any
) -> Shredder | NoShredder:
    """The shredder when ``LIFECYCLE_SHREDDING`` is on, else a :class:`NoShredder`.

    Its key ring starts on first use and stops with the faust ``app``.
    """
    if not settings.shredding or settings.shredding_secret is None:
        return NoShredder()
    ring = TopicKeyRing(
        settings.kafka_bootstrap_servers,
        TOPICS.subject_keys.name_in(settings.lifecycle_topic_prefix),
        settings.kafka_security,
    )
    shredder = Shredder(ring, settings.shredding_secret.get_secret_value().encode(), metrics)
    app.on_before_shutdown.connect(shredder.on_shutdown)
    return shredder
