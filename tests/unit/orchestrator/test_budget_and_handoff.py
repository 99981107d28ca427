"""Segment budgets spent, the lead-to-sales hand-off clock and missed deadlines (pure core)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from department_kit.actions import OutcomeRequest, build_outcome
from lifecycle_schemas.outputs import DecisionRecorded
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import (
    BudgetSpec,
    OwnerSpec,
    Playbook,
    SegmentSpec,
    budget_key,
    short_type,
)
from orchestrator.core.reducer import merge_states
from orchestrator.core.state import CustomerState

EventFactory = Callable[..., Any]
CRM = {"crm_account_id": "crm-1", "email": "ann@example.com"}
MKT = {"marketing_contact_id": "hs-1", "email": "ann@example.com"}
BIG_DEAL = {"amount": {"amount_minor": 6_000_000, "currency": "EUR"}}
ONBOARDING_COST = 50_000  # servicedesk.start-onboarding in plays.yaml
SEND_OFFER_COST = 1_000  # marketing.send-offer of product-interest-offer
HOUR = timedelta(hours=1)


def feed(engine: LocalEngine, events: list[Any]) -> list[Any]:
    records: list[Any] = []
    for event in events:
        records = published(engine.submit_event(event, event.time + timedelta(seconds=1)))
    return records


def verdicts(records: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (short_type(c.action_type), c.verdict.value, c.reason_code)
        for r in records
        if isinstance(r, DecisionRecorded)
        for c in r.data.candidates
    ]


def with_budget(
    playbook: Playbook, segment_id: str, amount_minor: int, period: str | None = None
) -> Playbook:
    budget = BudgetSpec(amount_minor=amount_minor, currency="EUR", period=period)
    segments = tuple(
        s.model_copy(update={"budget": budget}) if s.id == segment_id else s
        for s in playbook.segments
    )
    return dataclasses.replace(playbook, segments=segments)


def test_a_sent_action_costs_every_budgeted_segment_the_customer_is_in(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    feed(engine, [make_event("sales.deal.won", CRM, **BIG_DEAL)])
    state = engine.resolve("crm_account_id:crm-1")
    assert state is not None
    assert "onboarding" in state.segments
    budgeted = {s.id for s in engine.playbook.segments if s.budget is not None}
    charged = {s: ONBOARDING_COST for s in state.segments if s in budgeted}
    assert state.segment_spend_minor == charged
    assert engine.segment_spend_minor == charged


def test_nothing_is_spent_on_a_control_customer(
    playbook: Playbook, make_event: EventFactory
) -> None:
    policy = playbook.policy.model_copy(update={"control_group_share": 0.9999})
    engine = LocalEngine(dataclasses.replace(playbook, policy=policy))
    feed(engine, [make_event("sales.deal.won", CRM, **BIG_DEAL)])
    assert engine.segment_spend_minor == {}


def test_promotions_stop_when_a_segment_budget_is_spent(
    playbook: Playbook, make_event: EventFactory
) -> None:
    engine = LocalEngine(with_budget(playbook, "onboarding", ONBOARDING_COST))
    feed(engine, [make_event("sales.deal.won", CRM, **BIG_DEAL)])
    assert engine.segment_spend_minor["onboarding"] == ONBOARDING_COST
    records = feed(engine, [make_event("marketing.web.page-visited", MKT)])
    assert ("marketing.send-offer", "suppressed", "segment-budget-spent") in verdicts(records)
    assert not [r for r in records if ".action." in r.type]
    # Service is not promotion: a complaint's retention call still goes out.
    records = feed(engine, [make_event("servicedesk.complaint.received", CRM)])
    assert ("sales.offer-retention", "won", "highest-score") in verdicts(records)


def test_a_budget_that_renews_is_spent_for_the_rest_of_its_period_only(
    playbook: Playbook, make_event: EventFactory, t0: datetime
) -> None:
    engine = LocalEngine(with_budget(playbook, "onboarding", ONBOARDING_COST, period="1d"))
    feed(engine, [make_event("sales.deal.won", CRM, at=t0, **BIG_DEAL)])

    later_that_day = feed(engine, [make_event("marketing.web.page-visited", MKT, at=t0 + HOUR)])
    next_day = t0 + timedelta(days=1)
    records = feed(engine, [make_event("marketing.web.page-visited", MKT, at=next_day)])

    assert ("marketing.send-offer", "suppressed", "segment-budget-spent") in verdicts(
        later_that_day
    )
    assert ("marketing.send-offer", "won", "highest-score") in verdicts(records)
    # Spend is counted per UTC day; the customer keeps only the current day's.
    onboarding = next(s for s in engine.playbook.segments if s.id == "onboarding")
    today, yesterday = budget_key(onboarding, next_day), budget_key(onboarding, t0)
    assert today != yesterday
    assert engine.segment_spend_minor[yesterday] == ONBOARDING_COST
    assert engine.segment_spend_minor[today] == SEND_OFFER_COST
    state = engine.resolve("crm_account_id:crm-1")
    assert state is not None
    assert {k for k in state.segment_spend_minor if k.startswith("onboarding")} == {today}


def test_a_budget_period_counts_from_the_epoch_in_utc() -> None:
    segment = SegmentSpec(
        id="vip",
        name="VIP",
        manager=OwnerSpec(department="sales", owner_id="sales-manager"),
        budget=BudgetSpec(amount_minor=1, currency="EUR", period="1d"),
        when="true",
    )
    assert budget_key(segment, datetime(1970, 1, 2, 0, 0, 1, tzinfo=UTC)) == "vip@1"
    assert budget_key(segment, datetime(1970, 1, 2, 23, 59, 59, tzinfo=UTC)) == "vip@1"
    lifetime = segment.model_copy(update={"budget": BudgetSpec(amount_minor=1, currency="EUR")})
    assert budget_key(lifetime, datetime(2026, 1, 1, tzinfo=UTC)) == "vip"
    with pytest.raises(ValueError, match="longer than zero"):
        BudgetSpec(amount_minor=1, currency="EUR", period="0d")


def test_promotions_go_out_while_the_budget_lasts(
    playbook: Playbook, make_event: EventFactory
) -> None:
    engine = LocalEngine(with_budget(playbook, "onboarding", ONBOARDING_COST + 1))
    feed(engine, [make_event("sales.deal.won", CRM, **BIG_DEAL)])
    records = feed(engine, [make_event("marketing.web.page-visited", MKT)])
    assert ("marketing.send-offer", "won", "highest-score") in verdicts(records)


def test_hand_off_runs_from_hot_lead_to_sales_qualifying_it(
    engine: LocalEngine, make_event: EventFactory, t0: Any
) -> None:
    feed(engine, [make_event("marketing.lead.scored", MKT, score=85, at=t0)])
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    assert state.handoff_started_at == t0 + timedelta(seconds=1)
    assert state.first_sales_contact_at is None
    qualified_at = t0 + timedelta(hours=5)
    feed(engine, [make_event("sales.lead.qualified", CRM, at=qualified_at)])
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    assert state.first_sales_contact_at == qualified_at + timedelta(seconds=1)


def test_hand_off_ends_when_sales_completes_the_call(
    engine: LocalEngine, make_event: EventFactory, t0: Any
) -> None:
    records = feed(engine, [make_event("marketing.lead.scored", MKT, score=85, at=t0)])
    call = next(r for r in records if r.type.endswith("call-customer.v1"))
    accepted = build_outcome(call, OutcomeRequest(outcome="accepted"), t0 + timedelta(hours=1))
    engine.submit(call.data.customer_id, accepted, t0 + timedelta(hours=1))
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    assert state.first_sales_contact_at is None  # accepting the call is not making it
    done_at = t0 + timedelta(hours=3)
    completed = build_outcome(call, OutcomeRequest(outcome="completed"), done_at)
    engine.submit(call.data.customer_id, completed, done_at)
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    assert state.first_sales_contact_at == done_at


def test_a_missed_deadline_stays_counted_when_the_action_is_acknowledged_late(
    engine: LocalEngine, make_event: EventFactory, t0: Any
) -> None:
    records = feed(engine, [make_event("marketing.lead.scored", MKT, score=85, at=t0)])
    call = next(r for r in records if r.type.endswith("call-customer.v1"))
    late = call.data.deadline + timedelta(minutes=1)
    engine.tick(late)
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    missed = state.deadlines_missed
    assert missed >= 1
    engine.submit(
        call.data.customer_id, build_outcome(call, OutcomeRequest(outcome="accepted"), late), late
    )
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    assert state.deadlines_missed == missed


def test_a_merge_keeps_the_earliest_hand_off_and_adds_spend(t0: Any) -> None:
    survivor, other = CustomerState.new("c-1"), CustomerState.new("c-2")
    survivor.handoff_started_at = t0 + timedelta(hours=2)
    other.handoff_started_at = t0
    other.first_sales_contact_at = t0 + timedelta(hours=1)
    survivor.segment_spend_minor = {"new-lead": 100}
    other.segment_spend_minor = {"new-lead": 50, "at-risk": 10}
    other.deadlines_missed = 2
    merge_states(survivor, other)
    assert survivor.handoff_started_at == t0
    assert survivor.first_sales_contact_at == t0 + timedelta(hours=1)
    assert survivor.segment_spend_minor == {"new-lead": 150, "at-risk": 10}
    assert survivor.deadlines_missed == 2
