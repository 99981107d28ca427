"""The process view: per lifecycle process, its open hand-offs with their age, SLA attainment
over a window, and the worst offenders (pure; tallies add up across workers).

Read from the hand-offs in the customers' states (``CustomerState.handoffs``: the latest one of
each kind per customer), so it survives restarts and rebalances. Attainment counts the hand-offs
that ended within the window: taken up by the SLA / all taken up. The worst offenders are the
hand-offs furthest past their SLA: still open ones (measured to now) and ones that ended late
within the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from orchestrator.core.playbook import Playbook
from orchestrator.core.state import CustomerState, Handoff

# Open hand-offs listed per process (oldest first), and worst offenders per process.
MAX_OPEN_LISTED = 20
MAX_OFFENDERS = 5
COUNTS = ("open", "open_overdue", "ended", "within_sla")


def _window_start(now: datetime, window: timedelta) -> datetime:
    """When the window began; one reaching back before the calendar's first day starts there."""
    try:
        return now - window
    except OverflowError:
        return datetime.min.replace(tzinfo=now.tzinfo)


def _item(customer_id: str, kind: str, handoff: Handoff, now: datetime) -> dict[str, Any]:
    end = handoff.ended_at or now
    return {
        "customer_id": customer_id,
        "handoff": kind,
        "from_department": handoff.from_department,
        "to_department": handoff.to_department,
        "started_at": handoff.started_at.isoformat(),
        "due_at": handoff.due_at.isoformat(),
        "open": handoff.ended_at is None,
        "age_seconds": round(max(0.0, (end - handoff.started_at).total_seconds()), 3),
        "overdue_seconds": round(max(0.0, (end - handoff.due_at).total_seconds()), 3),
    }


def _empty(playbook: Playbook) -> dict[str, Any]:
    return {
        process.id.value: {
            "kinds": {r.handoff.value: dict.fromkeys(COUNTS, 0) for r in process.receives},
            "open": [],
            "offenders": [],
        }
        for process in playbook.processes
    }


def tally(
    states: list[CustomerState], playbook: Playbook, now: datetime, window: timedelta
) -> dict[str, Any]:
    """One worker's process figures (``GET /internal/process-tally``)."""
    processes = _empty(playbook)
    since = _window_start(now, window)
    for state in states:
        if state.alias_of is not None or state.erased or not state.identifiers:
            continue
        for kind, handoff in state.handoffs.items():
            process = playbook.receiving_process(kind, handoff.to_department)
            if process is None:
                continue  # a kind no process receives any more (the playbook changed)
            entry = processes[process.id.value]
            counts = entry["kinds"].setdefault(kind, dict.fromkeys(COUNTS, 0))
            item = _item(state.customer_id, kind, handoff, now)
            if handoff.ended_at is None:
                counts["open"] += 1
                counts["open_overdue"] += now > handoff.due_at
                entry["open"].append(item)
            elif handoff.ended_at >= since:
                counts["ended"] += 1
                counts["within_sla"] += handoff.ended_at <= handoff.due_at
            else:
                continue
            if item["overdue_seconds"] > 0:
                entry["offenders"].append(item)
    return {name: _trimmed(entry) for name, entry in processes.items()}


def _trimmed(entry: dict[str, Any]) -> dict[str, Any]:
    entry["open"] = sorted(entry["open"], key=lambda i: (-i["age_seconds"], i["customer_id"]))[
        :MAX_OPEN_LISTED
    ]
    entry["offenders"] = sorted(
        entry["offenders"], key=lambda i: (-i["overdue_seconds"], i["customer_id"])
    )[:MAX_OFFENDERS]
    return entry


def merge(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """Add several workers' tallies."""
    total: dict[str, Any] = {}
    for worker in tallies:
        for name, entry in worker.items():
            into = total.setdefault(name, {"kinds": {}, "open": [], "offenders": []})
            for kind, counts in entry.get("kinds", {}).items():
                mine = into["kinds"].setdefault(kind, dict.fromkeys(COUNTS, 0))
                for count in COUNTS:
                    mine[count] += int(counts.get(count, 0))
            into["open"] += entry.get("open", [])
            into["offenders"] += entry.get("offenders", [])
    return {name: _trimmed(entry) for name, entry in total.items()}


def _rate(within: int, ended: int) -> float | None:
    return round(within / ended, 4) if ended else None


def _listed(items: list[dict[str, Any]], customer_ids: bool) -> list[dict[str, Any]]:
    if customer_ids:
        return items
    return [{k: v for k, v in item.items() if k != "customer_id"} for item in items]


def report(
    merged: dict[str, Any],
    playbook: Playbook,
    window: timedelta,
    time_scale: float,
    *,
    customer_ids: bool = True,
) -> dict[str, Any]:
    """``GET /v1/processes``: every process with its owner, SLAs and figures.

    Seconds are real seconds (the worker's clock); ``time_scale`` says how many of the
    customers' seconds pass in one (``ORCHESTRATOR_TIME_SCALE``). ``customer_ids``: whether
    the listed hand-offs name their customer (not for a key without ``customers:read``).
    """
    processes = []
    for process in playbook.processes:
        entry = merged.get(process.id.value) or {"kinds": {}, "open": [], "offenders": []}
        kinds: list[dict[str, Any]] = []
        totals = dict.fromkeys(COUNTS, 0)
        for received in process.receives:
            found = entry["kinds"].get(received.handoff.value, {})
            counts = {count: int(found.get(count, 0)) for count in COUNTS}
            for count in COUNTS:
                totals[count] += counts[count]
            sla = process.sla(received.handoff.value)
            assert sla is not None
            kinds.append(
                {
                    "handoff": received.handoff.value,
                    "sla_seconds": sla.total_seconds(),
                    **counts,
                    "sla_attainment": _rate(counts["within_sla"], counts["ended"]),
                }
            )
        processes.append(
            {
                "process": process.id.value,
                "name": process.name,
                "owner": process.owner.model_dump(exclude_none=True),
                "handoffs": kinds,
                **totals,
                "sla_attainment": _rate(totals["within_sla"], totals["ended"]),
                "oldest_open": _listed(entry["open"], customer_ids),
                "worst_offenders": _listed(entry["offenders"], customer_ids),
            }
        )
    return {
        "window_seconds": window.total_seconds(),
        "time_scale": time_scale,
        "processes": processes,
    }
