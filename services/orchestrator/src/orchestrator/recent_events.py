"""The department events of a recent window, read back from their topics (for
``orchestrator playbook diff``).

A consumer without a group reads every partition of the three department topics from the first
offset at or after ``since`` (Kafka's time index) to the end as of the call. Records that do not
decode as department events (sealed under crypto-shredding, malformed) are counted and left
out: the replay is an estimate of the candidate's effect, not the record of what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from lifecycle_schemas.codec import RecordDecodeError, decode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.topics import events_topic_for
from service_kit.kafka_security import KafkaSecurity

FETCH_TIMEOUT_MS = 500


@dataclass
class RecentEvents:
    """The window's department events in time order, and how many records were left out."""

    events: list[Any] = field(default_factory=list)
    skipped: int = 0


async def read_recent_events(
    bootstrap_servers: str,
    prefix: str,
    since: datetime,
    security: KafkaSecurity | None = None,
) -> RecentEvents:
    """Every department event written at or after ``since``, up to the topics' ends now."""
    config = security.python_client_config() if security is not None else {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers.split(","),
        enable_auto_commit=False,
        group_id=None,
        **config,
    )
    await consumer.start()
    found = RecentEvents()
    try:
        names = [events_topic_for(d).name_in(prefix) for d in Department]
        partitions = [
            TopicPartition(name, partition)
            for name, count in (await _partition_counts(bootstrap_servers, names, config)).items()
            for partition in range(count)
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions}
        )
        remaining = set()
        for tp in partitions:
            start = starts.get(tp)
            if start is None:  # nothing since then
                continue
            consumer.seek(tp, start.offset)
            if start.offset < ends[tp]:
                remaining.add(tp)
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=FETCH_TIMEOUT_MS)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        continue
                    _add(found, message.value)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    found.events.sort(key=lambda event: event.time)
    return found


async def _partition_counts(
    bootstrap_servers: str, names: list[str], config: dict[str, Any]
) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), **config)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in described
        if topic.get("error_code", 0) == 0
    }


def _add(found: RecentEvents, value: bytes | None) -> None:
    try:
        record = decode_record(value or b"", now=None)
    except (RecordDecodeError, ValueError):
        found.skipped += 1
        return
    if isinstance(record, DepartmentEvent):
        found.events.append(record)
    else:
        found.skipped += 1
