"""The dashboard's last hour: each worker samples its own counters every ``STEP_S`` seconds
into a bounded ring (``orchestrator.core.history``), and ``GET /v1/dashboard/history`` sums
the rings of every worker of the group.

Kept in the worker rather than read from Prometheus so that the page needs nothing but the
orchestrator (``make run``, a test, a cluster without a Prometheus the page may reach) and
costs a few kilobytes per worker: an hour of samples is at most 361 small dictionaries. The
ring starts empty with the worker (Prometheus and Grafana keep the long history).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from orchestrator.api_document import History
from orchestrator.core import history
from service_kit.http import problem_responses

log = logging.getLogger("orchestrator.history")
STEP_S = 10
SPAN_S = 3600
# Rates per minute are read over this much of the ring (the issue: not over two polls).
RATE_WINDOW_S = 300
# Conflicting contacts are counted from the customers' states: a scan, at most this often.
CONFLICT_SCAN_EVERY_S = 60.0
SERIES = ("events_in", "actions_out", "declines", "deadlines_missed", "conflicting_contacts")
ACK_PREFIX = "ack:"  # ack:<department>:<le>, the hand-off duration's buckets per department
# Counter -> (series, the label it is also split by, only samples with this label value).
COUNTED: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "lifecycle_events_processed_total": ("events_in", "source", None),
    "lifecycle_actions_emitted_total": ("actions_out", "department", None),
    "lifecycle_action_outcomes_received_total": ("declines", "department", ("outcome", "declined")),
    "lifecycle_handoff_deadlines_missed_total": ("deadlines_missed", "department", None),
}


def flow_sample(registry: CollectorRegistry) -> dict[str, float]:
    """This worker's counters as one flat sample (one pass over the registry).

    Totals under the series names, the same per department under ``<series>:<department>``,
    hand-off duration buckets under ``ack:<department>:<le>``, and each segment's current
    budget spend under ``spent:<segment>``."""
    sample: dict[str, float] = dict.fromkeys(SERIES[:-1], 0.0)

    def add(name: str, value: float) -> None:
        sample[name] = sample.get(name, 0.0) + value

    for family in registry.collect():
        for s in family.samples:
            labels, value = s.labels, float(s.value)
            counted = COUNTED.get(s.name)
            if counted is not None:
                series, by, only = counted
                if only is None or labels.get(only[0]) == only[1]:
                    add(series, value)
                    add(f"{series}:{labels.get(by, '')}", value)
            elif s.name == "lifecycle_handoff_duration_seconds_bucket":
                add(f"{ACK_PREFIX}{labels.get('to_department', '')}:{labels.get('le', '')}", value)
            elif s.name.startswith("lifecycle_segment_budget_spent_"):
                add(f"spent:{labels.get('segment', '')}", value)
    return sample


def history_report(rings: list[list[history.Sample]]) -> dict[str, Any]:
    """``GET /v1/dashboard/history`` from every worker's samples."""
    samples = history.merge(rings)
    names = {n for _, values in samples for n in values}
    departments = sorted(
        {
            n.split(":", 1)[1]
            for n in names
            if n.startswith(("events_in:", "actions_out:", "declines:", "deadlines_missed:"))
        }
        | {n.split(":")[1] for n in names if n.startswith(ACK_PREFIX)}
    )

    def hour(name: str) -> float:
        return sum(amount for _, amount in history.increases(samples, name))

    per_department = {}
    for department in departments:
        buckets = history.bucket_increases(samples, f"{ACK_PREFIX}{department}:", SPAN_S)
        finite = [b for b in buckets if b != float("inf")]
        per_department[department] = {
            "events_in": hour(f"events_in:{department}"),
            "events_in_per_minute": history.window_rate(
                samples, f"events_in:{department}", RATE_WINDOW_S
            )["per_minute"],
            "actions_out": hour(f"actions_out:{department}"),
            "actions_out_per_minute": history.window_rate(
                samples, f"actions_out:{department}", RATE_WINDOW_S
            )["per_minute"],
            "declines": hour(f"declines:{department}"),
            "deadlines_missed": hour(f"deadlines_missed:{department}"),
            "acknowledged": buckets.get(float("inf"), 0.0),
            "acknowledge_p50_seconds": history.quantile(0.5, buckets),
            "acknowledge_p90_seconds": history.quantile(0.9, buckets),
            "acknowledge_largest_bound_seconds": max(finite) if finite else None,
        }
    return {
        "step_seconds": STEP_S,
        "span_seconds": SPAN_S,
        "workers": len(rings),
        "series": {name: history.increases(samples, name) for name in SERIES},
        "rates": {name: history.window_rate(samples, name, RATE_WINDOW_S) for name in SERIES},
        "hour": {name: hour(name) for name in SERIES},
        "departments": per_department,
        "segments_spent": {
            name.removeprefix("spent:"): history.levels(samples, name)
            for name in sorted(names)
            if name.startswith("spent:")
        },
    }


class Sampler:
    """Samples the worker's counters into its ring every ``STEP_S`` seconds, on the API's loop
    (never the worker's: the registry is read as a Prometheus scrape reads it).

    Conflicting contacts come from a scan of the worker's customers, read a few dozen per turn
    of the worker's loop: slow on a busy worker, so it runs beside the sampling, at most once a
    ``CONFLICT_SCAN_EVERY_S``, and each sample takes the last count it finished."""

    def __init__(
        self, registry: CollectorRegistry, conflicts: Callable[[], Awaitable[float]]
    ) -> None:
        self.registry = registry
        self.conflicts = conflicts
        self.ring = history.SampleRing(STEP_S, SPAN_S)
        self._scan: asyncio.Task[None] | None = None
        self._scanned_at = -CONFLICT_SCAN_EVERY_S
        self._conflicts = 0.0

    async def sample(self) -> None:
        """Take one sample now (a conflict scan due is started, not waited for)."""
        values = flow_sample(self.registry)
        scanning = self._scan is not None and not self._scan.done()
        if not scanning and time.monotonic() - self._scanned_at >= CONFLICT_SCAN_EVERY_S:
            self._scanned_at = time.monotonic()
            self._scan = asyncio.create_task(self._count_conflicts())
        values["conflicting_contacts"] = self._conflicts
        self.ring.record(time.time(), values)

    async def _count_conflicts(self) -> None:
        try:
            self._conflicts = await self.conflicts()
        except Exception:  # the worker busy or not started: the last count stands
            log.warning("conflicting contacts not counted this time")

    async def run(self) -> None:
        """Sample until cancelled; a failed sample is logged and the next one taken."""
        try:
            while True:
                try:
                    await self.sample()
                except Exception:
                    log.exception("dashboard history sample failed")
                await asyncio.sleep(STEP_S - time.time() % STEP_S)
        finally:
            if self._scan is not None:
                self._scan.cancel()


def install_history(
    api: FastAPI,
    sampler: Sampler,
    ask_other_workers: Callable[[str], Awaitable[list[Any]]],
    reports_read: list[Any],
    cluster_only: list[Any],
) -> None:
    """Add the history routes to ``api`` and run ``sampler`` while the app is served."""
    served = api.router.lifespan_context

    @asynccontextmanager
    async def sampling(app: FastAPI) -> AsyncIterator[Any]:
        task = asyncio.create_task(sampler.run())
        try:
            async with served(app) as state:
                yield state
        finally:
            task.cancel()

    api.router.lifespan_context = sampling

    @api.get("/internal/flow-samples", include_in_schema=False, dependencies=cluster_only)
    async def flow_samples() -> list[history.Sample]:
        return sampler.ring.samples()

    @api.get(
        "/v1/dashboard/history",
        tags=["reports"],
        summary="The last hour, over every worker",
        response_model=None,
        responses={
            200: {"model": History, "description": "The last hour"},
            **problem_responses(400, 401, 403, 429),
        },
        dependencies=reports_read,
    )
    async def flow_history() -> dict[str, Any]:
        """Events in, actions out, declines, missed deadlines and conflicting contacts per
        sample over the last hour, rates per minute over the last five minutes, and per
        department its actions, declines, missed deadlines and time to acknowledge, summed over
        every worker of the group (each keeps its own hour in memory). Aggregates only, no
        customer ids. Needs `reports:read`."""
        rings = [sampler.ring.samples()]
        for answer in await ask_other_workers("/internal/flow-samples"):
            rings.append([(int(at), dict(values)) for at, values in answer])
        return history_report(rings)
