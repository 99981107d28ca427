"""The playbook-versions topic: publishing a version, reading them all, and the worker's reader.

A published version is a :class:`~lifecycle_schemas.playbook_versions.PlaybookPublication` (the
four files as text) on a one-partition compacted topic; its number is its offset plus one
(Kafka assigns it, so two publishers at once cannot get the same number). What the worker does
with the versions it reads (compile, switch, keep the history) is
:mod:`orchestrator.live_playbook`; this module only moves records.

The reader is a plain aiokafka consumer without a group (every worker reads every version from
the start), like the crypto-shredding key ring (``orchestrator/shredding.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from lifecycle_schemas.playbook_versions import (
    PlaybookPublication,
    new_publication_id,
    version_of_offset,
)
from lifecycle_schemas.topics import TOPICS
from service_kit.kafka_security import KafkaSecurity

log = logging.getLogger("orchestrator.playbook")
FETCH_TIMEOUT_MS = 200
SEND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PublishedRecord:
    """One record of the topic: its version number and what it holds (``None``: a record that
    is not a valid publication, with ``problem`` saying why)."""

    number: int
    publication: PlaybookPublication | None
    problem: str = ""


def topic_name(prefix: str) -> str:
    """The playbook-versions topic in a namespace."""
    return TOPICS.playbook_versions.name_in(prefix)


def read_record(offset: int, value: bytes | None) -> PublishedRecord:
    """A topic record as a numbered publication (or a problem: never raises)."""
    number = version_of_offset(offset)
    if value is None:
        return PublishedRecord(number, None, "a tombstone")
    try:
        return PublishedRecord(number, PlaybookPublication.model_validate_json(value))
    except ValidationError as error:
        return PublishedRecord(number, None, f"not a playbook publication: {error}")


async def publish(
    bootstrap_servers: str,
    prefix: str,
    publication: PlaybookPublication,
    security: KafkaSecurity | None = None,
) -> int:
    """Publish a version once Kafka acknowledged it on every in-sync replica; its number."""
    config = security.python_client_config() if security is not None else {}
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers.split(","),
        acks="all",
        enable_idempotence=True,
        **config,
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic_name(prefix),
            key=new_publication_id().encode(),
            value=publication.model_dump_json().encode(),
            partition=0,
        )
        return version_of_offset(sent.offset)
    finally:
        await producer.stop()


async def read_all(
    bootstrap_servers: str, prefix: str, security: KafkaSecurity | None = None
) -> list[PublishedRecord]:
    """Every record of the topic, in order, up to its end as of the call."""
    reader = VersionReader(bootstrap_servers, prefix, security)
    records: list[PublishedRecord] = []
    try:
        await reader.start()
        await reader.read_to_end(records.append)
    finally:
        await reader.stop()
    return records


class VersionReader:
    """Reads the topic from the start: to its end once (a worker's start), then as it grows."""

    def __init__(
        self, bootstrap_servers: str, prefix: str, security: KafkaSecurity | None = None
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._config = security.python_client_config() if security is not None else {}
        self.partition = TopicPartition(topic_name(prefix), 0)
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = False

    async def start(self) -> None:
        """Connect and assign the topic's one partition, from its first record."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap.split(","),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
            **self._config,
        )
        await consumer.start()
        consumer.assign([self.partition])
        await consumer.seek_to_beginning(self.partition)
        self._consumer = consumer

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the playbook reader is not started")
        return self._consumer

    async def read_to_end(self, handle: Callable[[PublishedRecord], None]) -> None:
        """Hand every record written before the call to ``handle``, in order."""
        consumer = self._started()
        end = (await consumer.end_offsets([self.partition]))[self.partition]
        while await consumer.position(self.partition) < end:
            await self._read_batch(consumer, handle)

    async def _read_batch(
        self, consumer: AIOKafkaConsumer, handle: Callable[[PublishedRecord], None]
    ) -> None:
        batch = await consumer.getmany(self.partition, timeout_ms=FETCH_TIMEOUT_MS)
        for message in batch.get(self.partition, []):
            handle(read_record(message.offset, message.value))

    async def follow(self, handle: Callable[[PublishedRecord], None]) -> None:
        """Hand every record to ``handle`` as it comes, from the start, until cancelled (a
        task of the worker's loop); the broker going away pauses it, not ends it."""
        if self._consumer is None:
            await self.start()
        consumer = self._started()
        while not self._stopping:
            try:
                await self._read_batch(consumer, handle)
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._stopping:
                    return
                log.exception("reading the playbook versions failed")
                await asyncio.sleep(1.0)  # a retry pause, not synchronisation

    async def stop(self) -> None:
        """Close the consumer (a :meth:`follow` in progress ends)."""
        self._stopping = True
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
