"""Concurrent ingest requests published as groups: each answered with its own events or the
group's error. No broker: ``accept`` is a plain function standing in for the runtime's."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from department_kit.app import EventCoalescer
from department_kit.event_claims import AcceptedEvent
from department_kit.runtime import AcceptAttempt, IdReused
from lifecycle_schemas.catalogue import AnyDepartmentEvent, event_types_for
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_testing.waiting import eventually_async
from service_kit.problems import ProblemError, broker_unavailable

DEADLINE_S = 10.0


def events(count: int) -> list[AnyDepartmentEvent]:
    example: Any = EXAMPLES[sorted(event_types_for(Department.MARKETING))[0]]
    return [example.model_copy(update={"id": str(uuid.uuid4())}) for _ in range(count)]


class GatedAccept:
    """Acknowledges each group once let through; remembers every group it was handed."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.gate = threading.Event()
        self.failing = False
        self.reused: set[str] = set()

    def __call__(self, batches: Sequence[Sequence[AnyDepartmentEvent]]) -> list[AcceptAttempt]:
        self.groups.append([r.id for batch in batches for r in batch])
        if not self.gate.wait(DEADLINE_S):
            raise AssertionError("the test never opened the gate")
        if self.failing:
            raise broker_unavailable(5)
        return [
            IdReused((0,))
            if any(r.id in self.reused for r in batch)
            else [AcceptedEvent(r.id, r.type, "topic", 0, n) for n, r in enumerate(batch)]
            for batch in batches
        ]


async def one(coalescer: EventCoalescer, records: list[AnyDepartmentEvent]) -> list[AcceptedEvent]:
    """Where the events of a one-batch request are stored."""
    [outcome] = await coalescer.accept([records])
    assert not isinstance(outcome, IdReused)
    return outcome


async def until(condition: Any) -> None:
    async def holds() -> Any:
        return condition()

    await eventually_async(holds, timeout_s=DEADLINE_S, interval_s=0.005)


def test_requests_arriving_while_a_group_waits_are_published_as_the_next_group() -> None:
    accept = GatedAccept()

    async def scenario() -> None:
        coalescer = EventCoalescer(accept, max_events=100, in_flight=1)
        requests = [events(1), events(2), events(3)]
        first = asyncio.create_task(one(coalescer, requests[0]))
        await until(lambda: len(accept.groups) == 1)
        rest = [asyncio.create_task(one(coalescer, r)) for r in requests[1:]]
        await asyncio.sleep(0)  # the later requests are queued behind the first group
        accept.gate.set()
        answers = [await first] + [await task for task in rest]
        assert accept.groups == [
            [e.id for e in requests[0]],
            [e.id for request in requests[1:] for e in request],
        ]
        for request, answer in zip(requests, answers, strict=True):
            assert [a.event_id for a in answer] == [e.id for e in request]

    asyncio.run(scenario())


def test_every_request_of_a_failed_group_gets_its_error() -> None:
    accept = GatedAccept()
    accept.failing = True

    async def scenario() -> None:
        coalescer = EventCoalescer(accept, max_events=100, in_flight=1)
        first = asyncio.create_task(one(coalescer, events(1)))
        await until(lambda: len(accept.groups) == 1)
        later = [asyncio.create_task(one(coalescer, events(1))) for _ in range(2)]
        await asyncio.sleep(0)
        accept.gate.set()
        for task in [first, *later]:
            with pytest.raises(ProblemError) as raised:
                await task
            assert raised.value.status == 503
        assert len(accept.groups) == 2

    asyncio.run(scenario())


def test_a_group_holds_whole_requests_up_to_the_event_limit() -> None:
    accept = GatedAccept()

    async def scenario() -> None:
        coalescer = EventCoalescer(accept, max_events=4, in_flight=1)
        first = asyncio.create_task(one(coalescer, events(1)))
        await until(lambda: len(accept.groups) == 1)
        # 3 + 1 fit one group; the next 2 start another; 6 alone exceeds the limit and goes alone.
        sizes = [3, 1, 2, 6]
        later = [asyncio.create_task(one(coalescer, events(n))) for n in sizes]
        await asyncio.sleep(0)
        accept.gate.set()
        for task in [first, *later]:
            await task
        assert [len(group) for group in accept.groups] == [1, 4, 2, 6]

    asyncio.run(scenario())


def test_a_request_whose_client_left_does_not_disturb_the_others() -> None:
    accept = GatedAccept()

    async def scenario() -> None:
        coalescer = EventCoalescer(accept, max_events=100, in_flight=1)
        first = asyncio.create_task(one(coalescer, events(1)))
        await until(lambda: len(accept.groups) == 1)
        gone = asyncio.create_task(one(coalescer, events(1)))
        staying = asyncio.create_task(one(coalescer, events(2)))
        await asyncio.sleep(0)
        gone.cancel()
        accept.gate.set()
        assert len(await first) == 1
        assert len(await staying) == 2
        assert gone.cancelled()
        # Its group had not started: its event was not published (the client retries it).
        assert [len(group) for group in accept.groups] == [1, 2]

    asyncio.run(scenario())


def test_each_batch_of_a_request_is_answered_on_its_own() -> None:
    accept = GatedAccept()
    accept.gate.set()
    per_item = events(3)
    accept.reused = {per_item[1].id}

    async def scenario() -> None:
        coalescer = EventCoalescer(accept, max_events=100, in_flight=1)
        outcomes = await coalescer.accept([[event] for event in per_item])
        assert [isinstance(o, IdReused) for o in outcomes] == [False, True, False]
        assert accept.groups == [[e.id for e in per_item]]

    asyncio.run(scenario())
