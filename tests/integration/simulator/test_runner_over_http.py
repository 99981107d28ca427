"""Given department services that hold every event POST, the simulator's runner still reports
its progress on time, polls every inbox and posts the staff's outcomes; once the services
answer, the whole backlog goes out, each event once and in order.

The services here are a real HTTP server of the test's own that answers like the department
services' API and holds event batches until the test releases them: the opening of an existing
base is a backlog of events that takes the rate limit many seconds to send, and nothing else
the runner does may wait behind it (an operator tailing simulator.log saw nothing for seconds).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from company_simulator.population import build_population
from company_simulator.runner import DepartmentEndpoint, RunCounters, Runner
from company_simulator.world import Mode, OutgoingEvent, Step, World
from lifecycle_schemas.departments import Department
from lifecycle_testing.waiting import eventually

# Marketing's campaign tool applies a suppression on receipt: the staff's two outcome reports
# (accepted, completed) are due at once, whatever the staff's habits.
SUPPRESS = "com.customerlifecycle.action.marketing.suppress-promotions.v1"
HELD_FOR_AT_MOST_S = 120.0


@dataclass
class Departments:
    """What the server saw, per department; event POSTs wait until ``answer_events`` is set."""

    inbox_action: dict[str, Any]
    answer_events: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    event_ids: dict[str, list[str]] = field(default_factory=dict)
    posts_waiting: int = 0
    polls: Counter[str] = field(default_factory=Counter)
    outcomes: list[tuple[str, str]] = field(default_factory=list)


def handler_for(seen: Departments) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            """Quiet: the test reports what it saw."""

        def answer(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            department = self.path.lstrip("/").partition("/")[0]
            with seen.lock:
                seen.polls[department] += 1
            items = [seen.inbox_action] if department == Department.MARKETING.value else []
            self.answer(200, {"items": items, "next_after": None})

        def do_POST(self) -> None:
            department, _, rest = self.path.lstrip("/").partition("/")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if rest == "v1/events":
                with seen.lock:
                    seen.posts_waiting += 1
                seen.answer_events.wait(HELD_FOR_AT_MOST_S)
                with seen.lock:
                    seen.posts_waiting -= 1
                    seen.event_ids.setdefault(department, []).extend(e["id"] for e in body)
                self.answer(202, {"accepted": len(body)})
            else:  # v1/actions/<id>/outcome
                with seen.lock:
                    seen.outcomes.append((department, body["outcome"]))
                self.answer(200, {})

    return Handler


@dataclass
class RecordingWorld:
    """A world, and the ids of the events it produced per department, in its order."""

    world: World
    produced: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        advance = self.world.advance

        def recording(until: datetime) -> list[Step]:
            steps = advance(until)
            for step in steps:
                if isinstance(step, OutgoingEvent):
                    ids = self.produced.setdefault(step.department.value, [])
                    ids.append(step.record.id)
            return steps

        self.world.advance = recording  # type: ignore[method-assign]


@pytest.fixture
def world() -> RecordingWorld:
    return RecordingWorld(
        World(
            build_population(300, 42),
            seed=42,
            start=datetime.now(UTC).replace(microsecond=0),
            mode=Mode.COORDINATED,
            existing_base=True,
        )
    )


@pytest.fixture
def departments(world: RecordingWorld) -> Iterator[tuple[Departments, str]]:
    customer = next(j.customer for j in world.world.journeys() if j.active)
    action = {
        "action_id": "suppress-1",
        "type": SUPPRESS,
        "deadline": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "record": {"data": {"customer": {"email": customer.email}, "parameters": {}}},
    }
    seen = Departments(action)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(seen))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        seen.answer_events.set()
        server.shutdown()
        server.server_close()


def test_progress_polls_and_outcomes_go_on_while_the_event_backlog_waits(
    world: RecordingWorld, departments: tuple[Departments, str]
) -> None:
    seen, url = departments
    lines: list[tuple[float, str]] = []
    runner = Runner(
        world.world,
        [DepartmentEndpoint(d, f"{url}/{d.value}", "key") for d in Department],
        simulated_seconds_per_second=14_400.0,  # ten simulated days per real minute
        events_per_second=200.0,
        poll_interval_s=0.2,
        progress_interval_s=0.5,
        request_timeout_s=HELD_FOR_AT_MOST_S,
        progress=lambda line: lines.append((time.monotonic(), line)),
    )
    finished: list[RunCounters] = []
    running = threading.Thread(
        target=lambda: finished.append(asyncio.run(runner.run(600.0, simulated_days=1.0)))
    )
    running.start()
    try:
        # Given every department's events stuck in a POST the service does not answer,
        eventually(lambda: seen.posts_waiting, timeout_s=30, what="an event POST waiting")
        held_since = time.monotonic()
        polls_before = Counter(seen.polls)

        # then progress lines keep coming,
        def lines_since_the_hold() -> list[str]:
            return [line for at, line in lines if at > held_since]

        eventually(
            lines_since_the_hold,
            lambda since: len(since) >= 3,
            timeout_s=60,
            what="progress lines while the events wait",
            describe=lambda since: f"{since} (all lines: {[line for _, line in lines]})",
        )
        # every inbox is polled,
        eventually(
            lambda: {d.value: seen.polls[d.value] - polls_before[d.value] for d in Department},
            lambda polled: all(n >= 2 for n in polled.values()),
            timeout_s=60,
            what="inbox polls while the events wait",
        )
        # and the staff's outcomes are posted,
        eventually(
            lambda: sorted(seen.outcomes),
            lambda outcomes: (
                outcomes
                == [
                    (Department.MARKETING.value, "accepted"),
                    (Department.MARKETING.value, "completed"),
                ]
            ),
            timeout_s=60,
            what="the suppression's outcomes while the events wait",
        )
        assert seen.posts_waiting > 0, "the event POSTs were answered before the checks ended"
        assert "backlog 0 " not in lines[-1][1]
    finally:
        # When the services answer again,
        seen.answer_events.set()
        running.join(timeout=120)
    assert not running.is_alive(), "the run did not end once its backlog could go out"

    # then every event the world produced went out once, in each department's order.
    (counters,) = finished
    assert seen.event_ids == world.produced
    sent = [event_id for ids in seen.event_ids.values() for event_id in ids]
    assert len(sent) == len(set(sent)) == counters.events_sent == world.world.tally.events
    assert counters.events_rejected == 0
    assert "backlog 0 " in lines[-1][1]
    # One line at once (before any event POST was answered), then one per interval.
    assert "events sent 0 " in lines[0][1]
