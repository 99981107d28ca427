"""Given a seeded world, its events are valid contracts and treatments change behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from company_simulator.behaviour import (
    BehaviourModel,
    StaffBehaviour,
    TreatmentEffect,
    effect_of_action,
)
from company_simulator.population import build_population
from company_simulator.world import Mode, OutcomeReport, OutgoingEvent, Step, World
from lifecycle_schemas.catalogue import department_of
from lifecycle_schemas.codec import decode_event, encode_record
from lifecycle_schemas.departments import Department

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DILIGENT_STAFF = BehaviourModel(
    staff=StaffBehaviour(let_slip_probability=0.0, decline_probability=0.0, late_probability=0.0)
)


def _world(size: int = 300, seed: int = 4, **options: Any) -> World:
    return World(build_population(size, seed), seed=seed, start=START, **options)


def _events(steps: list[Step]) -> list[OutgoingEvent]:
    return [step for step in steps if isinstance(step, OutgoingEvent)]


def test_every_event_is_a_valid_record_of_the_department_that_sends_it() -> None:
    events = _events(_world().advance(START + timedelta(days=45)))
    assert len(events) > 1000
    for event in events:
        decoded = decode_event(encode_record(event.record), now=None)
        assert department_of(decoded.type) is event.department


def test_events_come_out_in_time_order_and_never_before_the_start() -> None:
    events = _events(_world().advance(START + timedelta(days=30)))
    times = [event.at for event in events]
    assert times == sorted(times)
    assert times[0] >= START


def test_the_same_seed_replays_the_same_company() -> None:
    first = _events(_world().advance(START + timedelta(days=20)))
    second = _events(_world().advance(START + timedelta(days=20)))
    assert [(e.record.id, e.record.type) for e in first] == [
        (e.record.id, e.record.type) for e in second
    ]


def test_advancing_in_steps_gives_the_same_events_as_one_jump() -> None:
    stepped = _world()
    events: list[OutgoingEvent] = []
    for day in range(1, 21):
        events += _events(stepped.advance(START + timedelta(days=day)))
    jumped = _events(_world().advance(START + timedelta(days=20)))
    assert [e.record.id for e in events] == [e.record.id for e in jumped]


def test_the_lifecycle_is_covered() -> None:
    events = _events(_world(size=600).advance(START + timedelta(days=90)))
    names = {type(event.record).__name__ for event in events}
    assert {
        "ContactCaptured", "CampaignMessageSent", "EmailOpened", "WebPageVisited", "LeadScored",
        "LeadQualified", "OpportunityCreated", "QuoteIssued", "DealWon", "DealLost",
        "OrderFulfilled", "CaseOpened", "CaseResolved", "SatisfactionReceived",
        "ComplaintReceived", "ConsentChanged",
    } <= names  # fmt: skip


def test_without_actions_coordinated_and_siloed_worlds_behave_alike() -> None:
    coordinated = _world(mode=Mode.COORDINATED)
    siloed = _world(mode=Mode.SILOED)
    end = START + timedelta(days=40)
    assert [e.record.id for e in _events(coordinated.advance(end))] == [
        e.record.id for e in _events(siloed.advance(end))
    ]


def _action(action_type: str, customer_email: str, number: int, deadline: datetime,
            parameters: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "action_id": f"action-{number}",
        "type": action_type,
        "deadline": deadline.isoformat(),
        "record": {"data": {"customer": {"email": customer_email}, "parameters": parameters or {}}},
    }


def test_suppressing_promotions_during_urgent_cases_prevents_conflicting_contacts() -> None:
    # An ideal coordinator: every urgent case gets a suppress-promotions action at once.
    suppress = "com.customerlifecycle.action.marketing.suppress-promotions.v1"
    coordinated = _world(size=2000, seed=7, behaviour=DILIGENT_STAFF)
    emails = {c.number: c.email for c in build_population(2000, 7)}
    day = START
    for number in range(60 * 24):
        day = START + timedelta(hours=number)
        for event in _events(coordinated.advance(day)):
            record = event.record
            if type(record).__name__ == "CaseOpened" and record.data.priority.value in ("P1", "P2"):
                email = next(
                    email
                    for n, email in emails.items()
                    if record.data.customer.helpdesk_requester_id == f"req-7-{n}"
                )
                coordinated.receive_action(
                    Department.MARKETING,
                    _action(suppress, email, number, day + timedelta(hours=1),
                            {"until": (day + timedelta(days=10)).isoformat()}),
                )  # fmt: skip
    siloed = _world(size=1200, seed=7, mode=Mode.SILOED)
    siloed.advance(day)
    assert siloed.tally.conflicting_contacts > 0
    assert coordinated.tally.conflicting_contacts < siloed.tally.conflicting_contacts


def test_a_fast_sales_call_on_a_hot_lead_shortens_the_hand_off() -> None:
    call = "com.customerlifecycle.action.sales.call-customer.v1"
    world = _world(size=400, seed=2, behaviour=DILIGENT_STAFF)
    scored: dict[str, datetime] = {}
    for hour in range(40 * 24):
        now = START + timedelta(hours=hour)
        for event in _events(world.advance(now)):
            record = event.record
            if type(record).__name__ == "LeadScored" and record.data.score >= 70:
                email = record.data.customer.email
                if email not in scored:
                    scored[email] = now
                    world.receive_action(
                        Department.SALES, _action(call, email, hour, now + timedelta(hours=4))
                    )
    siloed = _world(size=400, seed=2, mode=Mode.SILOED)
    siloed.advance(START + timedelta(days=40))
    coordinated_median = world.tally.median_handoff_hours()
    siloed_median = siloed.tally.median_handoff_hours()
    assert coordinated_median is not None
    assert siloed_median is not None
    assert coordinated_median < siloed_median


def test_staff_report_outcomes_for_the_actions_they_work() -> None:
    world = _world(behaviour=DILIGENT_STAFF)
    world.advance(START + timedelta(days=2))
    customer = build_population(300, 4)[0]
    deadline = START + timedelta(days=3)
    offer = "com.customerlifecycle.action.marketing.enrol-in-journey.v1"
    assert world.receive_action(Department.MARKETING, _action(offer, customer.email, 1, deadline))
    # The same action seen again in the inbox is not worked twice.
    assert not world.receive_action(
        Department.MARKETING, _action(offer, customer.email, 1, deadline)
    )
    reports = [s for s in world.advance(START + timedelta(days=5)) if isinstance(s, OutcomeReport)]
    assert [r.body["outcome"] for r in reports if r.action_id == "action-1"] == [
        "accepted",
        "completed",
    ]


def test_an_action_for_an_unknown_customer_is_ignored() -> None:
    world = _world()
    unknown = _action("x.y.call-customer.v1", "nobody@example.org", 9, START)
    assert not world.receive_action(Department.SALES, unknown)


@pytest.mark.parametrize(
    ("action_type", "effect"),
    [
        ("com.customerlifecycle.action.marketing.suppress-promotions.v1",
         TreatmentEffect.PROMOTIONS_SUPPRESSED),
        ("com.customerlifecycle.action.sales.call-customer.v1", TreatmentEffect.SALES_CALLED),
        ("com.customerlifecycle.action.servicedesk.proactive-outreach.v1",
         TreatmentEffect.RETENTION_OUTREACH),
        ("com.customerlifecycle.action.marketing.erase-personal-data.v1", None),
    ],
)  # fmt: skip
def test_action_types_map_to_their_effect(action_type: str, effect: TreatmentEffect | None) -> None:
    assert effect_of_action(action_type) is effect


def test_outreach_after_a_complaint_lowers_churn() -> None:
    model = BehaviourModel()
    assert model.churn_probability({TreatmentEffect.RETENTION_OUTREACH}, complained=True) < (
        model.churn_probability(set(), complained=True)
    )
    annoyed = {TreatmentEffect.PROMOTION_DURING_URGENT_CASE}
    assert model.churn_probability(annoyed, complained=False) > model.churn_probability(
        set(), complained=False
    )
