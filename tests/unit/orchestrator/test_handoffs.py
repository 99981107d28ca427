"""Given events / When a department takes the customer up / Then the hand-off is timed.

Every hand-off kind: the owner rules' (lead-to-sales, sale-to-onboarding, reassignment), case
escalations, and the orchestrator's own actions (time to acknowledge).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.outputs import OwnerChanged
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.messages import Decision, HandoffBreached, HandoffTimed
from orchestrator.core.playbook import Playbook

EventFactory = Callable[..., Any]
OutcomeFactory = Callable[..., Any]
CRM = {"crm_account_id": "crm-1", "email": "ann@example.com"}
DESK = {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"}
MKT = {"marketing_contact_id": "hs-1", "email": "ann@example.com"}
BIG_DEAL = {"amount": {"amount_minor": 6_000_000, "currency": "EUR"}}
HOUR = timedelta(hours=1)


def submit(engine: LocalEngine, event: Any) -> list[Decision]:
    return engine.submit_event(event, event.time)


def timed(decisions: list[Decision]) -> dict[str, HandoffTimed]:
    return {d.handoff: d for d in decisions if isinstance(d, HandoffTimed)}


def breaches(decisions: list[Decision]) -> list[str]:
    return [d.handoff for d in decisions if isinstance(d, HandoffBreached)]


def action(decisions: list[Decision], short: str) -> Any:
    return next(r for r in published(decisions) if ".action." in r.type and short in r.type)


def a_lead_handed_to_sales(engine: LocalEngine, make_event: EventFactory, t0: datetime) -> Any:
    """A contact marketing nurtures, then scored hot at t0: the hot-lead decisions."""
    submit(engine, make_event("marketing.email.opened", MKT, at=t0 - HOUR))
    return submit(engine, make_event("marketing.lead.scored", MKT, at=t0, score=90))


def state_of(engine: LocalEngine) -> Any:
    state = engine.resolve("email:ann@example.com")
    assert state is not None
    return state


def test_a_first_owner_is_no_hand_off(engine: LocalEngine, make_event: EventFactory) -> None:
    submit(engine, make_event("marketing.email.opened", MKT))
    assert state_of(engine).owner_rule == "marketing-nurture"
    assert state_of(engine).handoffs == {}


def test_a_lead_to_sales_hand_off_runs_from_the_rule_to_sales_first_event(
    engine: LocalEngine, make_event: EventFactory, t0: datetime
) -> None:
    # Given a nurtured contact scored hot: the lead-to-sales rule takes over from marketing's
    decisions = a_lead_handed_to_sales(engine, make_event, t0)
    handoff = state_of(engine).handoffs["lead-to-sales"]
    assert (handoff.from_department, handoff.to_department) == ("marketing", "sales")
    assert (handoff.started_at, handoff.due_at) == (t0, t0 + 4 * HOUR)  # transact's SLA
    owner_changed = next(r for r in published(decisions) if isinstance(r, OwnerChanged))
    assert owner_changed.data.handoff_deadline == t0 + 4 * HOUR
    # When sales qualifies the lead two hours later
    later = submit(engine, make_event("sales.lead.qualified", CRM, at=t0 + 2 * HOUR))
    # Then the hand-off took two hours, within its SLA
    assert timed(later)["lead-to-sales"] == HandoffTimed(
        "lead-to-sales", "marketing", "sales", 7200.0, True
    )
    assert state_of(engine).handoffs["lead-to-sales"].first_seconds == 7200.0


def test_a_won_deal_is_handed_to_onboarding_until_the_service_desk_accepts(
    engine: LocalEngine, make_event: EventFactory, make_outcome: OutcomeFactory, t0: datetime
) -> None:
    # Given a lead with sales, when the deal is won
    a_lead_handed_to_sales(engine, make_event, t0 - 5 * HOUR)
    won = submit(engine, make_event("sales.deal.won", CRM, at=t0))
    handoff = state_of(engine).handoffs["sale-to-onboarding"]
    assert (handoff.from_department, handoff.to_department) == ("sales", "service-desk")
    assert (handoff.started_at, handoff.due_at) == (t0, t0 + 24 * HOUR)  # fulfil's SLA
    # When the service desk accepts the onboarding three hours later
    onboarding = action(won, "start-onboarding")
    accepted = engine.submit(
        onboarding.data.customer_id,
        make_outcome("accepted", onboarding, at=t0 + 3 * HOUR),
        t0 + 3 * HOUR,
    )
    # Then the onboarding hand-off and the action's acknowledgement are timed
    assert timed(accepted) == {
        "sale-to-onboarding": HandoffTimed(
            "sale-to-onboarding", "sales", "service-desk", 10800.0, True
        ),
        "action:servicedesk.start-onboarding": HandoffTimed(
            "action:servicedesk.start-onboarding", "orchestrator", "service-desk", 10800.0, True
        ),
    }
    # And completing it later is no second acknowledgement
    completed = engine.submit(
        onboarding.data.customer_id,
        make_outcome("completed", onboarding, at=t0 + 9 * HOUR),
        t0 + 9 * HOUR,
    )
    assert timed(completed) == {}


def test_a_case_escalation_is_timed_to_the_service_desk_taking_it_up(
    engine: LocalEngine, make_event: EventFactory, make_outcome: OutcomeFactory, t0: datetime
) -> None:
    submit(engine, make_event("servicedesk.case.opened", DESK, at=t0 - HOUR, priority="P3"))
    # When the service desk escalates the case
    escalated = submit(engine, make_event("servicedesk.case.escalated", DESK, at=t0))
    # Then a case-escalation hand-off runs inside the service desk, its own event not ending it
    handoff = state_of(engine).handoffs["case-escalation"]
    assert (handoff.from_department, handoff.to_department) == ("service-desk", "service-desk")
    assert (handoff.due_at, handoff.ended_at) == (t0 + 4 * HOUR, None)  # service's SLA
    senior = action(escalated, "assign-senior-agent")
    assert senior.data.play_id == "case-escalated"
    # When a senior agent accepts it after 90 minutes
    at = t0 + timedelta(minutes=90)
    accepted = engine.submit(senior.data.customer_id, make_outcome("accepted", senior, at=at), at)
    assert timed(accepted)["case-escalation"].seconds == 5400.0
    assert timed(accepted)["case-escalation"].within_sla


def test_an_escalation_is_timed_even_when_its_action_is_already_open(
    engine: LocalEngine, make_event: EventFactory, t0: datetime
) -> None:
    # Given a gold customer's urgent case: a senior agent is already asked for
    submit(engine, make_event("sales.deal.won", CRM, at=t0 - 2 * HOUR, **BIG_DEAL))
    submit(engine, make_event("servicedesk.case.opened", DESK, at=t0 - HOUR, priority="P1"))
    # When the case is escalated, the second senior agent is suppressed, the hand-off starts
    escalated = submit(engine, make_event("servicedesk.case.escalated", DESK, at=t0))
    assert [r for r in published(escalated) if ".action." in r.type] == []
    assert state_of(engine).handoffs["case-escalation"].started_at == t0
    # And the service desk's next event about the customer ends it
    resolved = submit(engine, make_event("servicedesk.case.resolved", DESK, at=t0 + HOUR))
    assert timed(resolved)["case-escalation"].seconds == 3600.0


def test_a_hand_off_past_its_sla_is_counted_once_and_timed_when_taken_up(
    engine: LocalEngine, make_event: EventFactory, t0: datetime
) -> None:
    a_lead_handed_to_sales(engine, make_event, t0)
    assert "lead-to-sales" not in breaches(engine.tick(t0 + 4 * HOUR - timedelta(seconds=1)))
    # When the SLA passes with nobody in sales on it
    overdue = engine.tick(t0 + 4 * HOUR + timedelta(seconds=1))
    assert breaches(overdue).count("lead-to-sales") == 1
    assert "action:sales.assign-owner" in breaches(overdue)  # the action's deadline too
    assert "lead-to-sales" not in breaches(engine.tick(t0 + 5 * HOUR))
    # Then sales' late first event times it, out of SLA, without counting it again
    late = submit(engine, make_event("sales.lead.qualified", CRM, at=t0 + 6 * HOUR))
    assert timed(late)["lead-to-sales"].within_sla is False
    assert "lead-to-sales" not in breaches(late)


def test_a_control_customers_hand_off_is_timed_too(
    playbook: Playbook, make_event: EventFactory, t0: datetime
) -> None:
    policy = playbook.policy.model_copy(update={"control_group_share": 0.9999})
    engine = LocalEngine(dataclasses.replace(playbook, policy=policy))
    decisions = a_lead_handed_to_sales(engine, make_event, t0)
    assert [r for r in published(decisions) if ".action." in r.type] == []  # held out
    late = submit(engine, make_event("sales.lead.qualified", CRM, at=t0 + 6 * HOUR))
    assert timed(late)["lead-to-sales"] == HandoffTimed(
        "lead-to-sales", "marketing", "sales", 21600.0, False
    )
    assert breaches(late) == ["lead-to-sales"]


def test_a_churned_customer_is_reassigned_to_sales_retention(
    engine: LocalEngine, make_event: EventFactory, t0: datetime
) -> None:
    submit(engine, make_event("sales.deal.won", CRM, at=t0 - 24 * HOUR))
    submit(engine, make_event("sales.contract.cancelled", CRM, at=t0))
    handoff = state_of(engine).handoffs["reassignment"]
    assert state_of(engine).owner_rule == "churned-to-retention"
    assert (handoff.from_department, handoff.to_department) == ("sales", "sales")
    assert handoff.due_at == t0 + 48 * HOUR  # transact's reassignment SLA


def test_a_lead_gone_cold_is_handed_back_to_marketing(
    engine: LocalEngine, make_event: EventFactory, t0: datetime
) -> None:
    a_lead_handed_to_sales(engine, make_event, t0)
    submit(engine, make_event("marketing.lead.scored", MKT, at=t0 + HOUR, score=40))
    handoff = state_of(engine).handoffs["reassignment"]
    # Two processes receive reassignments: the new owner's department picks engage's.
    assert (handoff.from_department, handoff.to_department) == ("sales", "marketing")
    assert handoff.due_at == t0 + HOUR + 7 * 24 * HOUR


def test_every_action_is_timed_to_its_first_acknowledgement(
    engine: LocalEngine, make_event: EventFactory, make_outcome: OutcomeFactory, t0: datetime
) -> None:
    complaint = submit(engine, make_event("servicedesk.complaint.received", DESK, at=t0))
    retention = action(complaint, "offer-retention")
    at = t0 + 30 * HOUR  # its deadline is a day
    late = engine.submit(
        retention.data.customer_id, make_outcome("completed", retention, at=at), at
    )
    assert timed(late)["action:sales.offer-retention"] == HandoffTimed(
        "action:sales.offer-retention", "orchestrator", "sales", 108000.0, False
    )
    assert breaches(late) == ["action:sales.offer-retention"]


@pytest.mark.parametrize("kind", ["declined", "failed", "expired"])
def test_an_action_not_taken_up_is_not_timed(
    engine: LocalEngine,
    make_event: EventFactory,
    make_outcome: OutcomeFactory,
    t0: datetime,
    kind: str,
) -> None:
    complaint = submit(engine, make_event("servicedesk.complaint.received", DESK, at=t0))
    retention = action(complaint, "offer-retention")
    answer = engine.submit(
        retention.data.customer_id, make_outcome(kind, retention, at=t0 + HOUR), t0 + HOUR
    )
    assert timed(answer) == {}


def test_time_scaled_slas_time_the_simulated_company(
    playbook: Playbook, make_event: EventFactory, t0: datetime
) -> None:
    engine = LocalEngine(playbook.time_scaled(1440))
    a_lead_handed_to_sales(engine, make_event, t0)
    # 4 simulated hours are 10 real seconds at one simulated day per real minute.
    assert state_of(engine).handoffs["lead-to-sales"].due_at == t0 + timedelta(seconds=10)
