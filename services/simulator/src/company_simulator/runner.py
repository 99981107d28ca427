"""Plays the simulated world against the running department services over HTTP.

The only adapter with I/O: it advances the world with the wall clock scaled by the speed
factor, posts each department's events to that department's service (batched, rate limited,
retried on 503 with the server's Retry-After), works the departments' inboxes, and posts the
staff's outcomes. Records are stamped with the real time they are sent, so the services'
clock-skew check holds whatever the speed. An action's deadline comes on the real clock (the
orchestrator divides its playbook's durations by the same speed, ORCHESTRATOR_TIME_SCALE) and is
mapped onto the simulated clock before the staff see it, so late staff really answer after it.

Each job runs in a task of its own: the clock (advancing the world), one event sender and one
outcome sender per department, the inbox poller and the progress report. A backlog of events
(the opening of an existing base is thousands of events in the first seconds, against the
rate limit) therefore never holds back the staff's outcomes, the inbox polls or the progress
line an operator tails.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import httpx

from company_simulator.world import (
    ContactQuestion,
    Mode,
    OutcomeReport,
    OutgoingEvent,
    World,
    action_deadline,
)
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department

BATCH_SIZE = 100
# Customers per contact-request batch (the department services take up to 1,000).
CONTACT_BATCH_SIZE = 200
TICK_S = 0.2
MAX_BACKOFF_S = 10.0
UNREACHABLE_BACKOFF_S = 1.0
PROGRESS_INTERVAL_S = 2.0
REQUEST_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class DepartmentEndpoint:
    """Where a department's service listens, and the key its systems use."""

    department: Department
    base_url: str
    api_key: str


@dataclass(frozen=True)
class SimulatedClock:
    """Real time against simulated time: both started together, simulated runs `speed` x faster."""

    real_start: datetime
    simulated_start: datetime
    speed: float  # simulated seconds per real second

    def simulated(self, real: datetime) -> datetime:
        """The simulated moment that happens at this real moment."""
        return self.simulated_start + (real - self.real_start) * self.speed

    def real(self, simulated: datetime) -> datetime:
        """The real moment at which this simulated moment happens."""
        return self.real_start + (simulated - self.simulated_start) / self.speed


@dataclass
class RunCounters:
    """What crossed the wire."""

    events_sent: int = 0
    events_rejected: int = 0
    retries: int = 0
    actions_seen: int = 0
    outcomes_sent: int = 0
    outcomes_refused: int = 0
    contacts_asked: int = 0
    contacts_denied: int = 0
    # Answered by the department service's fallback (the orchestrator was silent or away).
    contacts_unanswered: int = 0
    first_rejection: str | None = None
    last_error: str | None = None


@dataclass
class _Lane:
    """One department's outbox."""

    endpoint: DepartmentEndpoint
    events: deque[OutgoingEvent] = field(default_factory=deque)
    outcomes: deque[OutcomeReport] = field(default_factory=deque)
    questions: deque[ContactQuestion] = field(default_factory=deque)


class TokenBucket:
    """At most `rate` events per second, in bursts of at most one batch."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = float(BATCH_SIZE)
        self._updated = clock()

    def take(self, wanted: int) -> int:
        """How many of `wanted` may go now (0 means wait)."""
        now = self._clock()
        self._tokens = min(float(BATCH_SIZE), self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted


def load_api_keys(path: str) -> dict[Department, str]:
    """Plain department keys from the file `make run` writes.

    The file holds ``{"keys": {"local-<department>": "<key>"}}``.
    """
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    keys = document.get("keys", document)
    found: dict[Department, str] = {}
    for department in Department:
        for name in (f"local-{department.value}", department.value):
            if isinstance(keys.get(name), str):
                found[department] = keys[name]
                break
    return found


class Runner:
    """Drives one world against the department services until a deadline."""

    def __init__(
        self,
        world: World,
        endpoints: list[DepartmentEndpoint],
        *,
        simulated_seconds_per_second: float,
        events_per_second: float,
        poll_interval_s: float = 1.0,
        progress_interval_s: float = PROGRESS_INTERVAL_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        progress: Callable[[str], None] = print,
    ) -> None:
        self.world = world
        self.counters = RunCounters()
        self._lanes = {e.department: _Lane(e) for e in endpoints}
        self._speed = simulated_seconds_per_second
        self._bucket = TokenBucket(events_per_second)
        self._poll_interval_s = poll_interval_s
        self._progress_interval_s = progress_interval_s
        self._progress = progress
        self._request_timeout_s = request_timeout_s
        self.clock = SimulatedClock(datetime.now(UTC), world.now, simulated_seconds_per_second)
        self._sim_now = world.now

    async def run(self, duration_s: float, simulated_days: float) -> RunCounters:
        """Run until `duration_s` of real time pass, or `simulated_days` of simulated time
        did and everything the world produced has been posted."""
        sim_start = self.world.now
        self.clock = SimulatedClock(datetime.now(UTC), sim_start, self._speed)
        sim_end = sim_start + timedelta(days=simulated_days)
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(self._request_timeout_s)) as client,
            asyncio.TaskGroup() as tasks,
        ):
            self._advance(sim_start)
            self._progress(self.progress_line(self._sim_now))  # at once, then every interval
            workers = [tasks.create_task(self._report_progress())]
            for lane in self._lanes.values():
                workers.append(tasks.create_task(self._send_events(client, lane)))
                workers.append(tasks.create_task(self._send_outcomes(client, lane)))
                workers.append(tasks.create_task(self._ask_contacts(client, lane)))
            if self.world.mode is Mode.COORDINATED:
                workers.append(tasks.create_task(self._poll_inboxes(client)))
            await self._keep_time(duration_s, sim_end)
            for worker in workers:
                worker.cancel()
        self._progress(self.progress_line(self.world.now))
        return self.counters

    async def _keep_time(self, duration_s: float, sim_end: datetime) -> None:
        """Advance the world with the wall clock until the run is over."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            self._advance(
                min(sim_end, self.clock.simulated_start + timedelta(seconds=elapsed * self._speed))
            )
            if elapsed >= duration_s or (self._sim_now >= sim_end and self._all_sent()):
                return
            await asyncio.sleep(TICK_S)  # pacing of the simulated clock, not synchronisation

    def _advance(self, sim_now: datetime) -> None:
        """Move the world on to `sim_now`; queue what its people did on their lanes."""
        self._sim_now = sim_now
        for step in self.world.advance(sim_now):
            lane = self._lanes[step.department]
            if isinstance(step, OutgoingEvent):
                lane.events.append(step)
            elif isinstance(step, ContactQuestion):
                lane.questions.append(step)
            else:
                lane.outcomes.append(step)

    def _all_sent(self) -> bool:
        # A batch or an outcome leaves its lane only once it was posted: nothing is in flight.
        return not any(
            lane.events or lane.outcomes or lane.questions for lane in self._lanes.values()
        )

    def progress_line(self, sim_now: datetime) -> str:
        """One line of progress for the terminal."""
        c, t = self.counters, self.world.tally
        backlog = sum(len(lane.events) for lane in self._lanes.values())
        return (
            f"sim {sim_now:%Y-%m-%d %H:%M} | events sent {c.events_sent} rejected "
            f"{c.events_rejected} retried {c.retries} backlog {backlog} | actions seen "
            f"{c.actions_seen} outcomes {c.outcomes_sent} | won {t.deals_won} lost "
            f"{t.deals_lost} upsells {t.expansions_won} renewed {t.renewals} cases "
            f"{t.cases_opened} churned {t.churned} conflicts {t.conflicting_contacts}"
        )

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(self._progress_interval_s)  # the report's cadence
            self._progress(self.progress_line(self._sim_now))

    async def _send_events(self, client: httpx.AsyncClient, lane: _Lane) -> None:
        """Post the lane's events in order, in batches, within the shared rate limit."""
        while True:
            wanted = min(BATCH_SIZE, len(lane.events))
            granted = self._bucket.take(wanted) if wanted else 0
            if granted == 0:
                await asyncio.sleep(TICK_S)  # nothing queued, or the rate limit is spent
                continue
            batch = list(islice(lane.events, granted))
            if await self._post_events(client, lane.endpoint, batch):
                for _ in batch:
                    lane.events.popleft()

    async def _send_outcomes(self, client: httpx.AsyncClient, lane: _Lane) -> None:
        """Post the staff's outcome reports in order; the rate limit is for events only."""
        while True:
            if not lane.outcomes:
                await asyncio.sleep(TICK_S)  # nothing to report yet
            elif await self._post_outcome(client, lane.endpoint, lane.outcomes[0]):
                lane.outcomes.popleft()
            else:
                await asyncio.sleep(UNREACHABLE_BACKOFF_S)  # the service is not answering

    async def _ask_contacts(self, client: httpx.AsyncClient, lane: _Lane) -> None:
        """Ask before the lane's own contacts, a campaign batch at a time; queue what is
        allowed to be sent."""
        while True:
            if not lane.questions:
                await asyncio.sleep(TICK_S)  # nothing to ask yet
                continue
            first = lane.questions[0]
            batch = list(
                islice(
                    (
                        q
                        for q in lane.questions
                        if (q.channel, q.purpose, q.campaign_id)
                        == (first.channel, first.purpose, first.campaign_id)
                    ),
                    CONTACT_BATCH_SIZE,
                )
            )
            answers = await self._post_questions(client, lane.endpoint, batch)
            if answers is None:
                await asyncio.sleep(UNREACHABLE_BACKOFF_S)  # the service is not answering
                continue
            asked = {q.question_id for q in batch}
            lane.questions = deque(q for q in lane.questions if q.question_id not in asked)
            for question, answer in zip(batch, answers, strict=True):
                allowed = answer.get("decision") == "allow"
                self.counters.contacts_asked += 1
                self.counters.contacts_denied += not allowed
                self.counters.contacts_unanswered += str(answer.get("reason_code")).startswith(
                    "orchestrator-"
                )
                steps = self.world.contact_answered(
                    question.question_id, allowed, answer.get("contact_id")
                )
                lane.events.extend(s for s in steps if isinstance(s, OutgoingEvent))

    async def _post_questions(
        self, client: httpx.AsyncClient, endpoint: DepartmentEndpoint, batch: list[ContactQuestion]
    ) -> list[dict[str, Any]] | None:
        """The answers to a batch in its order; None when it should be asked again."""
        first = batch[0]
        try:
            response = await client.post(
                f"{endpoint.base_url}/v1/contact-requests/batch",
                json={
                    "customers": [q.customer for q in batch],
                    "channel": first.channel,
                    "purpose": first.purpose,
                    "campaign_id": first.campaign_id,
                },
                headers={"Authorization": f"Bearer {endpoint.api_key}"},
            )
        except httpx.HTTPError as error:
            self.counters.last_error = f"{endpoint.department.value}: {type(error).__name__}"
            return None
        if response.status_code in (429, 503):
            return None
        if response.status_code != 200:
            # The simulator's bug: counted like a rejected event, the contacts not sent.
            self.counters.events_rejected += len(batch)
            if self.counters.first_rejection is None:
                self.counters.first_rejection = f"{response.status_code}: {response.text[:500]}"
            return [{"decision": "deny"} for _ in batch]
        results = sorted(response.json().get("results", []), key=lambda r: int(r["index"]))
        return results if len(results) == len(batch) else [{"decision": "deny"} for _ in batch]

    async def _poll_inboxes(self, client: httpx.AsyncClient) -> None:
        while True:
            await asyncio.gather(*(self._poll_inbox(client, lane) for lane in self._lanes.values()))
            await asyncio.sleep(self._poll_interval_s)  # the staff's polling cadence

    async def _post_events(
        self, client: httpx.AsyncClient, endpoint: DepartmentEndpoint, batch: list[OutgoingEvent]
    ) -> bool:
        sent_at = datetime.now(UTC)
        body = (
            b"["
            + b",".join(encode_record(e.record.model_copy(update={"time": sent_at})) for e in batch)
            + b"]"
        )
        try:
            response = await client.post(
                f"{endpoint.base_url}/v1/events",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {endpoint.api_key}",
                },
            )
        except httpx.HTTPError as error:
            self.counters.retries += 1
            self.counters.last_error = f"{endpoint.department.value}: {type(error).__name__}"
            await asyncio.sleep(UNREACHABLE_BACKOFF_S)  # while the service is unreachable
            return False
        if response.status_code in (200, 202):
            self.counters.events_sent += len(batch)
            return True
        if response.status_code == 503 or response.status_code == 429:
            self.counters.retries += 1
            retry_after = float(response.headers.get("Retry-After", "1") or 1)
            await asyncio.sleep(min(retry_after, MAX_BACKOFF_S))
            return False
        # Bad input is the simulator's bug: count it, keep the first reason, drop the batch.
        self.counters.events_rejected += len(batch)
        if self.counters.first_rejection is None:
            self.counters.first_rejection = f"{response.status_code}: {response.text[:500]}"
        return True

    async def _post_outcome(
        self, client: httpx.AsyncClient, endpoint: DepartmentEndpoint, report: OutcomeReport
    ) -> bool:
        try:
            response = await client.post(
                f"{endpoint.base_url}/v1/actions/{report.action_id}/outcome",
                json=report.body,
                headers={"Authorization": f"Bearer {endpoint.api_key}"},
            )
        except httpx.HTTPError as error:
            self.counters.last_error = f"{endpoint.department.value}: {type(error).__name__}"
            return False
        if response.status_code == 503:
            return False
        if response.status_code < 300:
            self.counters.outcomes_sent += 1
        else:
            # 409: the action is already final (e.g. expired); the staff's report is moot.
            self.counters.outcomes_refused += 1
        return True

    async def _poll_inbox(self, client: httpx.AsyncClient, lane: _Lane) -> None:
        endpoint = lane.endpoint
        try:
            response = await client.get(
                f"{endpoint.base_url}/v1/actions",
                params={"status": "open", "limit": 200},
                headers={"Authorization": f"Bearer {endpoint.api_key}"},
            )
        except httpx.HTTPError as error:
            self.counters.last_error = f"{endpoint.department.value}: {type(error).__name__}"
            return
        if response.status_code != 200:
            return
        for action in _items(response.json()):
            real_deadline = action_deadline(action)
            deadline = self.clock.simulated(real_deadline) if real_deadline else None
            if self.world.receive_action(endpoint.department, action, deadline=deadline):
                self.counters.actions_seen += 1


def _items(page: Any) -> list[dict[str, Any]]:
    if isinstance(page, list):
        return [item for item in page if isinstance(item, dict)]
    if isinstance(page, dict):
        for key in ("items", "actions", "data"):
            if isinstance(page.get(key), list):
                return [item for item in page[key] if isinstance(item, dict)]
    return []
