"""The benchmark's input: realistic department events, preloaded onto a real topic.

Records come from the simulated company (the same events `make run` posts), encoded exactly
as the department services publish them and keyed by customer, so every pipeline measured
moves the same bytes the orchestrator gets.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from company_simulator.population import build_population
from company_simulator.world import OutgoingEvent, World
from lifecycle_schemas.codec import decode_event, encode_record, kafka_key
from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import events_topic_for

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
    # Every customer starts as a new lead (no opening base of running contracts), the workload
    # every figure in docs/benchmarks.md was measured on.
    world = World(build_population(customers, seed), seed=seed, start=start, existing_base=False)
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


# The one event type of the per-customer workloads: a won deal for a customer nobody has seen
# (it triggers the default playbook's onboarding play, so every event should produce outputs).
NEW_CUSTOMER_EVENT_TYPE = "com.customerlifecycle.sales.deal.won.v1"


class NewCustomerEvents:
    """Cheap valid department events, one per new customer (unique crm id, e-mail, deal).

    Built from the contracts' example by changing only identifiers and `time`, so encoding a
    record is one `json.dumps`; the first record is decoded with the contracts' codec as a guard.
    """

    def __init__(self, run_tag: str) -> None:
        example = EXAMPLES[NEW_CUSTOMER_EVENT_TYPE]
        self.topic_spec = events_topic_for(Department.SALES)
        self.run_tag = run_tag
        self._template: dict[str, Any] = example.model_dump(mode="json", exclude_none=True)
        self._template["data"]["customer"].pop("phone", None)
        decode_event(self.record(0, datetime.now(UTC))[1], now=None)

    def event_id(self, number: int) -> str:
        """The id of customer `number`'s event (what its outputs name as their causation)."""
        return stable_id("bench-new-customer", self.run_tag, number)

    def crm_account_id(self, number: int) -> str:
        """Customer `number`'s CRM account id (an identifier the orchestrator serves it by)."""
        return f"bench-{self.run_tag}-{number}"

    def record(self, number: int, time: datetime) -> tuple[bytes, bytes]:
        """Customer `number`'s event stamped `time`, as (key, value) bytes."""
        crm_id = self.crm_account_id(number)
        event_id = self.event_id(number)
        body = {**self._template, "id": event_id, "correlationid": event_id}
        body["time"] = time.isoformat().replace("+00:00", "Z")
        body["subject"] = f"crm_account_id:{crm_id}"
        data = {**self._template["data"], "opportunity_id": f"opp-{crm_id}"}
        data["customer"] = {"crm_account_id": crm_id, "email": f"{crm_id}@bench.example.com"}
        body["data"] = data
        return body["subject"].encode(), json.dumps(body, separators=(",", ":")).encode()

    def records(self, count: int, time: datetime) -> list[tuple[bytes, bytes]]:
        """Events of customers 0 .. count-1, all stamped `time`."""
        return [self.record(number, time) for number in range(count)]
