"""The dashboard page and its read-only API: live flow, portfolio, customers, processes, proof
of value.

Mounted on the orchestrator's FastAPI app by :func:`install_reporting`. Everything here reads what
the worker already holds (its tables, its in-memory view, its metrics registry) and, for the
coordinated-versus-siloed comparison, the simulator's run summaries; nothing is written.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from pydantic import AfterValidator

from orchestrator.access import Access, Caller
from orchestrator.api_document import Flow, Funnel, Processes, ProofOfValue, RecentCustomers
from orchestrator.core import processes, proof
from orchestrator.core.playbook import DURATION_PATTERN, parse_duration
from orchestrator.core.state import ActionStatus, CustomerState
from orchestrator.flow_history import Sampler, install_history
from orchestrator.peers import PeerClient
from orchestrator.streaming import Topology
from orchestrator.worker_port import WorkerPort
from service_kit.api_keys import Scope
from service_kit.http import problem_responses

log = logging.getLogger("orchestrator.reporting")
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
TALLY_TTL_S = 5.0
SAMPLE_CUSTOMERS = 25
SIMULATION_MODES = ("coordinated", "siloed")
# The process view's SLA attainment window, on the customers' calendar, and its longest.
DEFAULT_PROCESS_WINDOW = "7d"
MAX_PROCESS_WINDOW = timedelta(days=36_500)
# The longest window in real time (whole days: exact in the seconds a peer is asked for).
LONGEST_REAL_WINDOW = timedelta(days=timedelta.max.days)


def bounded_window(window: str) -> str:
    """A process view window of at most 100 years (a longer one is refused with a 422 naming
    ``window``, not left to overflow the calendar)."""
    try:
        too_long = parse_duration(window) > MAX_PROCESS_WINDOW
    except OverflowError:  # beyond what a timedelta holds
        too_long = True
    if too_long:
        raise ValueError(f"a window is at most {MAX_PROCESS_WINDOW.days}d")
    return window


def metric_sums(
    registry: CollectorRegistry, name: str, label: str | tuple[str, ...] | None
) -> dict[str, float]:
    """A metric's samples summed by one label, by several (their values joined by ``": "``),
    or under ``"all"``; ``_created`` left out."""
    labels = (label,) if isinstance(label, str) else label or ()
    sums: dict[str, float] = {}
    for family in registry.collect():
        if family.name != name.removesuffix("_total"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = ": ".join(sample.labels.get(n, "") for n in labels) if any(labels) else "all"
            sums[key] = sums.get(key, 0.0) + float(sample.value)
    return sums


def simulation_summaries(directory: Path | None) -> dict[str, Any]:
    """The simulator's latest summaries by mode (``coordinated.json``, ``siloed.json``), if any."""
    found: dict[str, Any] = {}
    if directory is None:
        return found
    for mode in SIMULATION_MODES:
        path = directory / f"{mode}.json"
        try:
            found[mode] = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):  # a summary being written or broken is left out
            log.warning("simulation summary unreadable", extra={"path": str(path)})
    return found


def _segment_entry(tally: dict[str, dict[str, Any]], segment: str) -> dict[str, Any]:
    return tally.setdefault(segment, {"value_minor": 0, "spend_minor": 0, "open_actions": {}})


def portfolio_tally(
    states: list[CustomerState], budget_keys: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Per segment: revenue of its live members now, the treatment budget spent on members, and
    the plays active for it: each play's actions open or accepted for its current members.

    Spend stays with a segment after the customer leaves it (it was spent on a member), and
    merged-away customers carry none (their spend moved to the survivor). ``budget_keys`` maps
    each budgeted segment's current spend key to its id (``Playbook.current_budget_keys``):
    a budget that renews shows its current period only.
    """
    tally: dict[str, dict[str, Any]] = {}
    for state in states:
        if state.alias_of is not None:
            continue
        if not state.erased and state.identifiers:
            waiting = [
                a.play_id
                for a in state.open_actions.values()
                if a.status in (ActionStatus.OPEN, ActionStatus.ACCEPTED)
            ]
            for segment in state.segments:
                entry = _segment_entry(tally, segment)
                entry["value_minor"] += state.revenue_to_date_minor
                for play_id in waiting:
                    entry["open_actions"][play_id] = entry["open_actions"].get(play_id, 0) + 1
        for key, minor in state.segment_spend_minor.items():
            if (segment_id := budget_keys.get(key)) is not None:
                _segment_entry(tally, segment_id)["spend_minor"] += minor
    return tally


def merge_portfolios(tallies: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Sum several workers' portfolio tallies."""
    total: dict[str, dict[str, Any]] = {}
    for tally in tallies:
        for segment, entry in tally.items():
            into = _segment_entry(total, segment)
            into["value_minor"] += int(entry.get("value_minor", 0))
            into["spend_minor"] += int(entry.get("spend_minor", 0))
            for play_id, count in entry.get("open_actions", {}).items():
                into["open_actions"][play_id] = into["open_actions"].get(play_id, 0) + int(count)
    return total


def _customer_card(state: CustomerState) -> dict[str, Any]:
    open_actions = [
        a
        for a in state.open_actions.values()
        if a.status in (ActionStatus.OPEN, ActionStatus.ACCEPTED)
    ]
    return {
        "customer_id": state.customer_id,
        "identifiers": [f"{i.kind}:{i.value}" for i in state.identifiers],
        "revenue_to_date_minor": state.revenue_to_date_minor,
        "segments": state.segments,
        "open_actions": len(open_actions),
        "last_event_at": state.last_event_at.isoformat() if state.last_event_at else None,
    }


@dataclass(frozen=True)
class Reading:
    """How the reporting routes read: the worker through its port, other workers over HTTP."""

    port: WorkerPort
    peers: PeerClient
    other_workers: Callable[[], list[str]]  # run on the worker's loop


async def ask_other_workers(reading: Reading, access: Access, path: str) -> list[Any]:
    """What every other worker of the group answers on ``path`` (JSON)."""
    answers = []
    for url in await reading.port.read(reading.other_workers):
        try:
            async with reading.peers.session().get(
                f"{url}{path}", headers=access.cluster_headers()
            ) as reply:
                answers.append(await reply.json(content_type=None))
        except Exception:  # a worker that is gone leaves its customers out, not the answer
            log.warning("worker tally unavailable", extra={"worker": url, "path": path})
    return answers


def install_reporting(api: FastAPI, topology: Topology, access: Access, reading: Reading) -> None:
    """Add the dashboard page, its static files and the reporting routes to ``api``."""
    port = reading.port
    reports_reader = Depends(access.require(Scope.REPORTS_READ))
    reports_read = [reports_reader]
    customers_read = Depends(access.require(Scope.CUSTOMERS_READ))
    cluster_only = [Depends(access.require_cluster)]
    refusals = problem_responses(400, 401, 403, 429)
    settings = topology.settings
    cache: dict[str, Any] = {"at": 0.0, "states": []}

    async def local_states() -> list[CustomerState]:
        """This worker's customers, re-read at most every few seconds (the bytes on the
        worker's loop, a few hundred per turn; decoded here, on the API's)."""
        if time.monotonic() - cache["at"] > TALLY_TTL_S:
            # On the worker's loop a few dozen at a time (orchestrator.worker_port).
            states = await port.collect(topology.reads.local_customers)
            cache.update(at=time.monotonic(), states=states)
        return list(cache["states"])

    def share() -> float:
        return topology.playbook.policy.control_group_share

    # Declines per play and segment budgets for Prometheus, from what the worker keeps anyway.
    topology.metrics.watch_worker(
        topology.view, topology.playbook.segments, lambda: topology.segment_spend
    )

    async def conflicting_contacts() -> float:
        """Conflicting contacts of this worker's live customers (as the proof of value counts
        them), for the dashboard's last hour."""
        # Its own read, not local_states(): a scan filling the API's cache would hand a read
        # that follows within TALLY_TTL_S the customers as they were before it (the audit
        # test saw a customer made after the scan missing from /v1/dashboard/customers).
        states = await port.collect(topology.reads.local_customers)
        groups = proof.tally(states, share())
        return float(sum(group.conflicting_contacts for group in groups.values()))

    install_history(
        api,
        Sampler(topology.metrics.registry, conflicting_contacts),
        lambda path: ask_other_workers(reading, access, path),
        reports_read,
        cluster_only,
    )

    api.mount(
        "/dashboard/static",
        StaticFiles(directory=DASHBOARD_DIR / "static"),
        name="dashboard-static",
    )

    @api.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @api.get("/dashboard", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(DASHBOARD_DIR / "index.html", media_type="text/html")

    @api.get("/internal/proof-tally", include_in_schema=False, dependencies=cluster_only)
    async def proof_tally() -> dict[str, Any]:
        return proof.export(proof.tally(await local_states(), share()))

    async def from_other_workers(path: str) -> list[Any]:
        return await ask_other_workers(reading, access, path)

    def budget_keys() -> dict[str, str]:
        return topology.playbook.current_budget_keys(datetime.now(UTC))

    @api.get("/internal/portfolio-tally", include_in_schema=False, dependencies=cluster_only)
    async def portfolio() -> dict[str, dict[str, Any]]:
        return portfolio_tally(await local_states(), budget_keys())

    @api.get(
        "/v1/reports/proof-of-value",
        tags=["reports"],
        summary="Treated versus control",
        response_model=None,
        responses={200: {"model": ProofOfValue, "description": "The report"}, **refusals},
        dependencies=reports_read,
    )
    async def proof_of_value() -> dict[str, Any]:
        """Proof of value (docs/proof-of-value.md): each measure for the treated customers and
        the control group, with counts and 95 % intervals, and the simulator's summaries.
        Needs `reports:read`."""
        exports = [proof.export(proof.tally(await local_states(), share()))]
        exports += await from_other_workers("/internal/proof-tally")
        body = proof.report(proof.merge(exports), share(), settings.time_scale)
        body["simulation"] = simulation_summaries(settings.simulation_dir)
        return body

    def window_of(window: str) -> timedelta:
        """A window on the customers' calendar (``7d``: simulated days under a time scale), in
        real time (at most the longest a timedelta holds, under a very slow time scale)."""
        try:
            return parse_duration(window) / topology.playbook.calendar.time_scale
        except OverflowError:
            return LONGEST_REAL_WINDOW

    @api.get("/internal/process-tally", include_in_schema=False, dependencies=cluster_only)
    async def process_tally(
        window_s: Annotated[float, Query(gt=0, le=LONGEST_REAL_WINDOW.total_seconds())],
    ) -> dict[str, Any]:
        playbook = topology.playbook
        return processes.tally(
            await local_states(), playbook, datetime.now(UTC), timedelta(seconds=window_s)
        )

    @api.get(
        "/v1/processes",
        tags=["reports"],
        summary="Lifecycle processes and their hand-offs",
        response_model=None,
        responses={
            200: {"model": Processes, "description": "Every process"},
            **problem_responses(400, 401, 403, 422, 429),
        },
    )
    async def process_view(
        window: Annotated[
            str, Query(pattern=DURATION_PATTERN), AfterValidator(bounded_window)
        ] = DEFAULT_PROCESS_WINDOW,
        caller: Caller = reports_reader,
    ) -> dict[str, Any]:
        """Per lifecycle process: its owner, the SLA of each hand-off it receives, the open
        hand-offs with their age, SLA attainment over ``window`` and the worst offenders.

        Customer ids are personal data: a key without ``customers:read`` gets the hand-offs
        without them. Needs `reports:read`."""
        playbook = topology.playbook
        real = window_of(window)
        tallies = [processes.tally(await local_states(), playbook, datetime.now(UTC), real)]
        tallies += await from_other_workers(
            f"/internal/process-tally?window_s={real.total_seconds()}"
        )
        body = processes.report(
            processes.merge(tallies),
            playbook,
            real,
            settings.time_scale,
            customer_ids=caller.may(Scope.CUSTOMERS_READ),
        )
        return {"window": window, **body}

    @api.get(
        "/v1/dashboard/flow",
        tags=["reports"],
        summary="Counters of this worker",
        response_model=None,
        responses={200: {"model": Flow, "description": "The counters"}, **refusals},
        dependencies=reports_read,
    )
    async def flow() -> dict[str, Any]:
        """Events in, actions out, outcomes, dead letters, missed deadlines, suppressions and
        lag, as totals since this worker started. Needs `reports:read`."""
        registry = topology.metrics.registry
        lag = metric_sums(registry, "lifecycle_consumer_lag", None).get("all", 0.0)
        return {
            "at": time.time(),
            "events_in": metric_sums(registry, "lifecycle_events_processed_total", "source"),
            "actions_out": metric_sums(registry, "lifecycle_actions_emitted_total", "department"),
            "outcomes_in": metric_sums(
                registry, "lifecycle_action_outcomes_received_total", "outcome"
            ),
            "dead_letters": sum(
                metric_sums(registry, "lifecycle_dead_letter_records_total", "reason").values()
            ),
            "deadlines_missed": metric_sums(
                registry, "lifecycle_handoff_deadlines_missed_total", "department"
            ),
            "suppressed": metric_sums(registry, "lifecycle_candidates_suppressed_total", "reason"),
            # The departments' contact requests decided here, by "<decision>: <reason>".
            "contact_requests": metric_sums(
                registry, "lifecycle_contact_requests_decided_total", ("decision", "reason")
            ),
            "lag": lag,
        }

    @api.get(
        "/v1/dashboard/funnel",
        tags=["reports"],
        summary="Stages and segment portfolio",
        response_model=None,
        responses={200: {"model": Funnel, "description": "The funnel"}, **refusals},
        dependencies=reports_read,
    )
    async def funnel() -> dict[str, Any]:
        """Customers by lifecycle stage and status on this worker; value, budget spent and
        plays active per segment over every worker. Needs `reports:read`."""
        counts = await port.read(topology.view.stage_counts)
        stages: dict[str, dict[str, int]] = {}
        for (stage, status), n in sorted(counts.items()):
            stages.setdefault(stage, {})[status] = n
        tallies = [portfolio_tally(await local_states(), budget_keys())]
        tallies += await from_other_workers("/internal/portfolio-tally")
        segments = merge_portfolios(tallies)
        return {
            "stages": stages,
            "segment_value_minor": {s: e["value_minor"] for s, e in segments.items()},
            "segment_spend_minor": {s: e["spend_minor"] for s, e in segments.items()},
            # Plays active: each play's actions open or accepted for the segment's members now.
            "segment_open_actions": {s: e["open_actions"] for s, e in segments.items()},
        }

    @api.get(
        "/v1/dashboard/customers",
        tags=["customers"],
        summary="Recently active customers",
        response_model=None,
        responses={200: {"model": RecentCustomers, "description": "The customers"}, **refusals},
    )
    async def recent_customers(request: Request, caller: Caller = customers_read) -> dict[str, Any]:
        """A sample of this worker's live customers, those with decisions first (personal
        data: audit-logged). Needs `customers:read`."""
        live = [
            s for s in await local_states() if s.alias_of is None and not s.erased and s.identifiers
        ]
        # Customers with decisions first: their 360 view has a "why" to show.
        live.sort(
            key=lambda s: (bool(s.decisions), s.last_event_at is not None, s.last_event_at),
            reverse=True,
        )
        shown = live[:SAMPLE_CUSTOMERS]
        access.audit(caller, request, [s.customer_id for s in shown])
        return {"customers": [_customer_card(s) for s in shown]}
