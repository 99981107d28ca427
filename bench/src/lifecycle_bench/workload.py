"""The benchmark's input: realistic department events, preloaded onto a real topic.

Records come from the simulated company (the same events `make run` posts), encoded exactly
as the department services publish them and keyed by customer, so every pipeline measured
moves the same bytes the orchestrator gets.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from company_simulator.population import build_population
from company_simulator.world import OutgoingEvent, World
from lifecycle_schemas.codec import encode_record, kafka_key

# The simulated company produces about 40 events per customer in 60 days.
EVENTS_PER_CUSTOMER_ESTIMATE = 40


@dataclass(frozen=True)
class Workload:
    """Encoded records with their keys, in the order the company produced them."""

    records: tuple[tuple[bytes, bytes], ...]

    @property
    def total_bytes(self) -> int:
        return sum(len(key) + len(value) for key, value in self.records)

    @property
    def customers(self) -> int:
        return len({key for key, _ in self.records})


def build_workload(record_count: int, seed: int = 1) -> Workload:
    """`record_count` department events from the simulated company, encoded and keyed."""
    customers = max(50, record_count // EVENTS_PER_CUSTOMER_ESTIMATE + 1)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    world = World(build_population(customers, seed), seed=seed, start=start)
    records: list[tuple[bytes, bytes]] = []
    day = 0
    while len(records) < record_count:
        day += 5
        for step in world.advance(start + timedelta(days=day)):
            if isinstance(step, OutgoingEvent):
                records.append((kafka_key(step.record).encode(), encode_record(step.record)))
        if day > 3650:
            raise RuntimeError("the simulated company ran out of events")
    return Workload(tuple(records[:record_count]))


async def _preload(bootstrap: str, records_by_topic: dict[str, list[tuple[bytes, bytes]]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = [
            await producer.send(topic, key=key, value=value)
            for topic, records in records_by_topic.items()
            for key, value in records
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def preload(bootstrap: str, topic: str, workload: Workload) -> float:
    """Write the workload to `topic` (acks=all); return the seconds it took."""
    return asyncio.run(_preload(bootstrap, {topic: list(workload.records)}))


def preload_by_topic(
    bootstrap: str, records_by_topic: dict[str, list[tuple[bytes, bytes]]]
) -> float:
    """Write keyed records to their topics (acks=all); return the seconds it took."""
    return asyncio.run(_preload(bootstrap, records_by_topic))
