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


def _kinds(events: list[OutgoingEvent]) -> set[str]:
    """Event names, with the variants that matter: priorities, deal kinds, consent, reasons."""
    found = set()
    for event in events:
        name, data = type(event.record).__name__, event.record.data
        found.add(name)
        if name == "CaseOpened":
            found.add(f"CaseOpened:{data.priority.value}")
        elif name == "DealWon":
            found.add(f"DealWon:{data.kind.value}")
        elif name == "ConsentChanged":
            found.add(f"ConsentChanged:{data.status.value}")
        elif name == "ContractCancelled":
            found.add(f"ContractCancelled:{data.reason_code}")
    return found


def test_the_lifecycle_is_covered() -> None:
    names = _kinds(_events(_world(size=600).advance(START + timedelta(days=120))))
    assert {
        "ContactCaptured", "CampaignMessageSent", "EmailOpened", "EmailClicked",
        "WebPageVisited", "FormSubmitted", "LeadScored", "LeadQualified", "OpportunityCreated",
        "QuoteIssued", "DealWon:new-business", "DealWon:upsell", "DealLost", "OrderFulfilled",
        "FulfilmentProblemReported", "CaseOpened:P1", "CaseOpened:P2", "CaseOpened:P3",
        "CaseOpened:P4", "CaseResolved", "SatisfactionReceived", "ComplaintReceived",
        "ConsentChanged:withdrawn", "ConsentChanged:granted", "RenewalDue",
        # A renewal follows its RenewalDue with a renewal deal or a lapse; churn cancels.
        "DealWon:renewal", "ContractCancelled:not-renewed", "ContractCancelled:dissatisfied",
    } <= names  # fmt: skip


def test_the_company_is_already_running_on_its_first_day() -> None:
    # make run's defaults: 2,000 customers, one simulated day per real minute.
    world = _world(size=2000, seed=42)
    first_day = _events(world.advance(START + timedelta(days=1)))
    names = _kinds(first_day)
    assert {
        "DealWon:upsell", "DealLost", "OrderFulfilled", "CaseOpened:P1", "CaseOpened:P2",
        "CaseOpened:P3", "CaseOpened:P4", "CaseResolved", "ComplaintReceived", "RenewalDue",
        "QuoteIssued", "EmailClicked",
    } <= names  # fmt: skip
    hot = [
        e for e in first_day
        if type(e.record).__name__ == "LeadScored" and e.record.data.score >= 80
    ]  # fmt: skip
    promotions = [
        e for e in first_day
        if type(e.record).__name__ == "CampaignMessageSent" and e.record.data.promotional
    ]  # fmt: skip
    assert len(hot) >= 20
    assert len(promotions) >= 100
    # The existing base (customers with contracts) goes out in the first two simulated hours.
    contracts = [e for e in first_day if "DealWon:new-business" in _kinds([e])]
    assert len(contracts) == world.tally.existing_customers > 400
    assert max(e.at for e in contracts) <= START + timedelta(hours=2)


def test_a_fresh_start_has_only_new_leads_arriving() -> None:
    world = _world(existing_base=False)
    names = _kinds(_events(world.advance(START + timedelta(hours=2))))
    assert world.tally.existing_customers == 0
    assert "DealWon:new-business" not in names
    assert "ContactCaptured" in names


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


def _worked(world: World) -> tuple[datetime, list[OutcomeReport]]:
    """One sales call worked by the world's staff: its deadline and the staff's reports."""
    world.advance(START + timedelta(days=1))
    customer = next(j.customer for j in world.journeys() if j.active)
    deadline = world.now + timedelta(hours=4)
    call = "com.customerlifecycle.action.sales.call-customer.v1"
    assert world.receive_action(Department.SALES, _action(call, customer.email, 1, deadline))
    reports = [s for s in world.advance(START + timedelta(days=4)) if isinstance(s, OutcomeReport)]
    return deadline, [r for r in reports if r.action_id == "action-1"]


@pytest.mark.parametrize("seed", range(5))
def test_late_staff_answer_hours_after_the_deadline_and_others_before_it(seed: int) -> None:
    late = BehaviourModel(staff=StaffBehaviour(0.0, 0.0, late_probability=1.0))
    deadline, reports = _worked(_world(seed=seed, behaviour=late))
    accepted = next(r for r in reports if r.body["outcome"] == "accepted")
    # Past the deadline by more than the orchestrator's check interval at make run's speed.
    assert accepted.at >= deadline + timedelta(hours=late.staff.late_by_hours[0])
    deadline, reports = _worked(_world(seed=seed, behaviour=DILIGENT_STAFF))
    accepted = next(r for r in reports if r.body["outcome"] == "accepted")
    assert accepted.at < deadline


def test_staff_who_let_an_action_slip_never_answer() -> None:
    slipping = BehaviourModel(staff=StaffBehaviour(let_slip_probability=1.0))
    world = _world(behaviour=slipping)
    _, reports = _worked(world)
    assert reports == []
    assert world.tally.actions_let_slip == 1


def test_a_deadline_given_on_the_worlds_clock_wins_over_the_actions_own() -> None:
    # The runner maps the orchestrator's real-clock deadline onto the simulated clock.
    world = _world(behaviour=DILIGENT_STAFF)
    world.advance(START + timedelta(days=1))
    customer = build_population(300, 4)[0]
    real_clock_deadline = START - timedelta(days=300)  # long past in simulated terms
    simulated_deadline = world.now + timedelta(hours=6)
    call = "com.customerlifecycle.action.sales.call-customer.v1"
    action = _action(call, customer.email, 1, real_clock_deadline)
    assert world.receive_action(Department.SALES, action, deadline=simulated_deadline)
    reports = [s for s in world.advance(START + timedelta(days=3)) if isinstance(s, OutcomeReport)]
    accepted = next(r for r in reports if r.body["outcome"] == "accepted")
    assert world.now - timedelta(days=2) < accepted.at < simulated_deadline


def _open_case(world: World, until: datetime) -> tuple[str, str, datetime]:
    """The first case opened before `until`: (case id, requester id, when)."""
    for event in _events(world.advance(until)):
        if type(event.record).__name__ == "CaseOpened":
            data = event.record.data
            return data.case_id, data.customer.helpdesk_requester_id or "", event.at
    raise AssertionError("no case opened")


def _resolved_at(world: World, case_id: str, until: datetime) -> datetime:
    for event in _events(world.advance(until)):
        if type(event.record).__name__ == "CaseResolved" and event.record.data.case_id == case_id:
            return event.at
    raise AssertionError(f"{case_id} not resolved")


def test_a_prioritised_case_is_resolved_sooner() -> None:
    prioritise = "com.customerlifecycle.action.servicedesk.prioritise-case.v1"
    end = START + timedelta(days=30)
    untreated, treated = _world(behaviour=DILIGENT_STAFF), _world(behaviour=DILIGENT_STAFF)
    case_id, requester, opened_at = _open_case(untreated, START + timedelta(hours=3))
    assert _open_case(treated, START + timedelta(hours=3))[0] == case_id
    number = int(requester.rsplit("-", 1)[1])
    email = build_population(300, 4)[number].email
    action = _action(
        prioritise, email, 1, treated.now + timedelta(minutes=30), {"case_id": case_id}
    )
    assert treated.receive_action(Department.SERVICE_DESK, action)
    usual = _resolved_at(untreated, case_id, end) - opened_at
    hurried = _resolved_at(treated, case_id, end) - opened_at
    assert hurried < usual


def test_working_a_renewal_raises_the_chance_of_renewing() -> None:
    model = BehaviourModel()
    worked = {TreatmentEffect.RENEWAL_WORKED}
    assert model.renewal_probability(worked, complained=False) > model.renewal_probability(
        set(), complained=False
    )
    assert model.renewal_probability(set(), complained=True) < model.renewal_probability(
        {TreatmentEffect.RETENTION_OUTREACH}, complained=True
    )
    # In the world: a completed renewal opportunity (the renewal-healthy play's action) is kept.
    world = _world(behaviour=DILIGENT_STAFF)
    world.advance(START + timedelta(hours=3))
    journey = next(
        j
        for j in world.journeys()
        if j.contract_ends is not None and j.contract_ends > world.now + timedelta(days=60)
    )
    action = _action(
        "com.customerlifecycle.action.sales.create-opportunity.v1",
        journey.customer.email,
        1,
        world.now + timedelta(days=3),
        {"kind": "renewal", "contract_id": journey.contract_id},
    )
    assert world.receive_action(Department.SALES, action)
    world.advance(world.now + timedelta(days=4))
    assert TreatmentEffect.RENEWAL_WORKED in journey.effects
