"""The process view: per process, open hand-offs with their age, SLA attainment over a window
and the worst offenders, summed over workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.core import processes
from orchestrator.core.playbook import Playbook, load_playbook
from orchestrator.core.state import CustomerState, Handoff, Identifier

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
PLAYBOOK: Playbook = load_playbook()
ROUTES = {
    "lead-to-sales": ("marketing", "sales"),
    "sale-to-onboarding": ("sales", "service-desk"),
    "case-escalation": ("service-desk", "service-desk"),
}
SLA = {"lead-to-sales": 4 * HOUR, "sale-to-onboarding": 24 * HOUR, "case-escalation": 4 * HOUR}


def customer(customer_id: str, kind: str, started_ago: timedelta, took: timedelta | None) -> Any:
    """A customer whose hand-off of ``kind`` started ``started_ago``; ``took`` None: open."""
    state = CustomerState.new(customer_id)
    state.identifiers = [Identifier(kind="crm_account_id", value=customer_id, first_seen=NOW)]
    started = NOW - started_ago
    source, target = ROUTES[kind]
    state.handoffs[kind] = Handoff(
        from_department=source,
        to_department=target,
        started_at=started,
        due_at=started + SLA[kind],
        ended_at=None if took is None else started + took,
    )
    return state


def by_process(body: dict[str, Any]) -> dict[str, Any]:
    return {p["process"]: p for p in body["processes"]}


def test_open_hand_offs_attainment_and_offenders_per_process() -> None:
    states = [
        customer("on-time", "lead-to-sales", 10 * HOUR, 2 * HOUR),
        customer("late", "lead-to-sales", 20 * HOUR, 9 * HOUR),  # 5 h past its SLA
        customer("long-ago", "lead-to-sales", 30 * 24 * HOUR, 9 * HOUR),  # outside the window
        customer("waiting", "lead-to-sales", 6 * HOUR, None),  # 2 h past, still open
        customer("fresh", "lead-to-sales", HOUR, None),
        customer("onboarding", "sale-to-onboarding", 3 * HOUR, None),
    ]
    tally = processes.tally(states, PLAYBOOK, NOW, WEEK)
    body = by_process(processes.report(tally, PLAYBOOK, WEEK, 1.0))
    transact = body["transact"]
    assert transact["owner"]["owner_id"] == "head-of-sales"
    lead = next(k for k in transact["handoffs"] if k["handoff"] == "lead-to-sales")
    assert (lead["sla_seconds"], lead["open"], lead["open_overdue"]) == (14400.0, 2, 1)
    assert (lead["ended"], lead["within_sla"], lead["sla_attainment"]) == (2, 1, 0.5)
    assert [(o["customer_id"], o["age_seconds"]) for o in transact["oldest_open"]] == [
        ("waiting", 6 * 3600.0),
        ("fresh", 3600.0),
    ]
    assert [
        (o["customer_id"], o["overdue_seconds"], o["open"]) for o in transact["worst_offenders"]
    ] == [
        ("late", 5 * 3600.0, False),
        ("waiting", 2 * 3600.0, True),
    ]
    fulfil = body["fulfil"]
    assert (fulfil["open"], fulfil["sla_attainment"], fulfil["worst_offenders"]) == (1, None, [])
    assert [o["from_department"] for o in fulfil["oldest_open"]] == ["sales"]
    assert body["engage"]["open"] == body["service"]["open"] == 0


def test_workers_tallies_add_up() -> None:
    one = processes.tally([customer("a", "case-escalation", 6 * HOUR, HOUR)], PLAYBOOK, NOW, WEEK)
    two = processes.tally(
        [
            customer("b", "case-escalation", 9 * HOUR, 8 * HOUR),
            customer("c", "case-escalation", 5 * HOUR, None),
        ],
        PLAYBOOK,
        NOW,
        WEEK,
    )
    service = by_process(processes.report(processes.merge([one, two]), PLAYBOOK, WEEK, 1440.0))[
        "service"
    ]
    assert (service["ended"], service["within_sla"], service["open"]) == (2, 1, 1)
    assert service["sla_attainment"] == 0.5
    assert [o["customer_id"] for o in service["worst_offenders"]] == ["b", "c"]


def test_merged_away_and_erased_customers_are_left_out() -> None:
    alias = customer("alias", "lead-to-sales", HOUR, None)
    alias.alias_of = "someone"
    erased = customer("erased", "lead-to-sales", HOUR, None)
    erased.erased = True
    body = by_process(
        processes.report(processes.tally([alias, erased], PLAYBOOK, NOW, WEEK), PLAYBOOK, WEEK, 1.0)
    )
    assert body["transact"]["open"] == 0


def test_a_window_reaching_back_before_the_calendars_first_day_counts_every_hand_off() -> None:
    longest = timedelta(days=999_999_999)  # NOW minus this is before year 1
    states = [
        customer("long-ago", "lead-to-sales", 30 * 24 * HOUR, 9 * HOUR),
        customer("on-time", "lead-to-sales", 10 * HOUR, 2 * HOUR),
    ]
    body = by_process(
        processes.report(processes.tally(states, PLAYBOOK, NOW, longest), PLAYBOOK, longest, 1.0)
    )
    assert (body["transact"]["ended"], body["transact"]["within_sla"]) == (2, 1)
