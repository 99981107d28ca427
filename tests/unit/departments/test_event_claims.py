"""Event ids claimed before they are published: concurrent posts of one id on one service, and
claims left behind by a crashed request. The runtime on a real SQLite inbox, its requests
grouped by the real coalescer; Kafka is an in-memory publisher held at a gate, so a test can
hold a request between its claim and its acknowledgement (real processes, a real broker and
PostgreSQL: tests/integration/departments/test_replicas.py, tests/chaos/test_ingest_sigkill.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from department_kit.app import EventCoalescer
from department_kit.event_claims import AcceptedEvent, EventClaim
from department_kit.kafka_io import Delivery, OutgoingRecord
from department_kit.runtime import DepartmentRuntime, IdReused, body_digest
from department_kit.settings import DepartmentSettings
from lifecycle_schemas.catalogue import AnyDepartmentEvent, event_types_for
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_testing.waiting import eventually_async
from marketing_service.department import SPEC as MARKETING
from service_kit.problems import ProblemError

DEADLINE_S = 10.0
START = datetime.now(UTC)


class GatedPublisher:
    """Acknowledges each publish once the gate is open; counts the publishes held there."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.reachable = True
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0

    def publish(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        self.held += 1
        if not self.gate.wait(DEADLINE_S):
            raise AssertionError("the test never opened the gate")
        start = len(self.records)
        self.records.extend(records)
        return [Delivery(r.topic, 0, start + n) for n, r in enumerate(records)]

    def close(self, timeout_s: float = 10.0) -> None:
        pass


class Clock:
    """The runtime's wall clock, moved by the test (claims lapse by it)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def publisher() -> GatedPublisher:
    return GatedPublisher()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(tmp_path: Path, publisher: GatedPublisher, clock: Clock) -> DepartmentRuntime:
    settings = DepartmentSettings(
        department=Department.MARKETING,
        port=8101,
        data_dir=tmp_path,
        api_keys_json=json.dumps({"keys": []}),
        publish_timeout_s=2.0,
    )
    return DepartmentRuntime(MARKETING, settings, publisher=publisher, clock=clock)


def coalescer_of(runtime: DepartmentRuntime, claim_wait_s: float | None = None) -> EventCoalescer:
    """The coalescer as create_app builds it (two groups in flight)."""
    return EventCoalescer(
        runtime.accept_batches,
        max_events=100,
        claim_wait_s=runtime.claim_wait_s if claim_wait_s is None else claim_wait_s,
        clock=runtime.clock,
    )


def an_event() -> AnyDepartmentEvent:
    example: Any = EXAMPLES[sorted(event_types_for(Department.MARKETING))[0]]
    new_id = str(uuid.uuid4())
    built: AnyDepartmentEvent = example.model_copy(
        update={"id": new_id, "correlationid": new_id, "time": START - timedelta(minutes=1)}
    )
    return built


def held_batches(runtime: DepartmentRuntime) -> float:
    value = runtime.metrics.registry.get_sample_value("lifecycle_event_claims_held_total")
    return value or 0.0


def leave_claim(runtime: DepartmentRuntime, record: AnyDepartmentEvent, at: datetime) -> None:
    """A claim as a request leaves it when it crashes between its claim and its mark."""
    window_start = at - timedelta(days=7)
    claim = EventClaim(record.id, record.type, body_digest(encode_record(record)))
    with runtime.store.claiming(at, at + runtime.claim_lease) as claims:
        assert claims.claim([claim], window_start) == {record.id}


async def until(condition: Callable[[], bool]) -> None:
    async def check() -> bool:
        return condition()

    # A short interval: the tasks being waited on run between the checks.
    await eventually_async(check, timeout_s=DEADLINE_S, interval_s=0.005)


def test_concurrent_posts_of_one_id_publish_it_once_and_another_body_waits_for_its_409(
    runtime: DepartmentRuntime, publisher: GatedPublisher
) -> None:
    sent = an_event()
    changed = sent.model_copy(update={"time": START - timedelta(hours=1)})

    async def scenario() -> None:
        coalescer = coalescer_of(runtime)
        publisher.gate.clear()
        first = asyncio.create_task(coalescer.accept([[sent]]))
        await until(lambda: publisher.held == 1)  # claimed, and waiting for Kafka
        # While the first waits for Kafka, the same event again and the id with another body.
        again = asyncio.create_task(coalescer.accept([[sent]]))
        other = asyncio.create_task(coalescer.accept([[changed]]))
        await until(lambda: held_batches(runtime) >= 2)
        assert (again.done(), other.done()) == (False, False), "they wait for the first"
        publisher.gate.set()
        [placed], [replayed], [refused] = await asyncio.gather(first, again, other)
        assert isinstance(placed, list)
        assert replayed == placed, "answered with the first one's placement"
        assert refused == IdReused((0,))

    asyncio.run(scenario())
    assert len(publisher.records) == 1
    assert publisher.held == 1, "the others never reached Kafka"


def test_a_claim_left_by_a_crash_is_waited_for_then_taken_over_and_published_once(
    runtime: DepartmentRuntime, publisher: GatedPublisher, clock: Clock
) -> None:
    sent = an_event()
    leave_claim(runtime, sent, START)

    async def scenario() -> None:
        coalescer = coalescer_of(runtime)
        # The client retries on another replica (or after a restart) before the claim lapsed.
        clock.now = START + timedelta(seconds=1)
        retry = asyncio.create_task(coalescer.accept([[sent]]))
        await until(lambda: held_batches(runtime) >= 2)  # asked, and asked again
        assert not retry.done()
        assert publisher.records == []
        # Once the claim lapsed, the retry takes it over and publishes.
        clock.now = START + runtime.claim_lease + timedelta(seconds=1)
        [placed] = await retry
        assert isinstance(placed, list)
        assert [event.event_id for event in placed] == [sent.id]
        [replayed] = await coalescer.accept([[sent]])
        assert replayed == placed

    asyncio.run(scenario())
    assert len(publisher.records) == 1


def test_a_retry_after_the_lapse_publishes_at_once_also_on_the_import_path(
    runtime: DepartmentRuntime, publisher: GatedPublisher, clock: Clock
) -> None:
    crashed = [an_event(), an_event()]
    for record in crashed:
        leave_claim(runtime, record, START)
    clock.now = START + runtime.claim_lease + timedelta(milliseconds=1)

    async def over_http() -> list[AcceptedEvent] | IdReused:
        [outcome] = await coalescer_of(runtime).accept([[crashed[0]]])
        return outcome

    assert isinstance(asyncio.run(over_http()), list)
    imported = runtime.accept_events([crashed[1]])
    assert isinstance(imported, list)
    assert [r.value for r in publisher.records] == [encode_record(r) for r in crashed]
    assert held_batches(runtime) == 0, "a lapsed claim is taken over without waiting"


def test_a_claim_held_past_the_wait_answers_503_with_the_claims_remaining_time(
    runtime: DepartmentRuntime, publisher: GatedPublisher, clock: Clock
) -> None:
    sent, other = an_event(), an_event()
    leave_claim(runtime, sent, START)
    clock.now = START + timedelta(seconds=2)
    remaining_s = (runtime.claim_lease - timedelta(seconds=2)).total_seconds()

    async def scenario() -> None:
        with pytest.raises(ProblemError) as raised:
            await coalescer_of(runtime, claim_wait_s=0.2).accept([[other, sent]])
        assert raised.value.status == 503
        assert raised.value.slug == "event-id-in-flight"
        assert raised.value.headers == {"Retry-After": str(int(remaining_s))}

    asyncio.run(scenario())
    assert publisher.records == [], "nothing of the batch was sent"
    runtime.claim_wait_s = 0.2
    with pytest.raises(ProblemError):
        runtime.accept_events([sent])
    # The other event's claim was given back: it is free for the next request at once.
    assert isinstance(runtime.accept_batches([[other]])[0], list)
    assert len(publisher.records) == 1
