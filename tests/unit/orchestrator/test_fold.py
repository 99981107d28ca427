"""Given events / Then state: how each event type changes the golden record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from lifecycle_schemas.catalogue import DEPARTMENT_EVENT_TYPES
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.outputs import ContactDecided, CustomerProfile
from orchestrator.core.engine import LocalEngine, erased, published
from orchestrator.core.playbook import Playbook, short_type
from orchestrator.core.reducer import apply
from orchestrator.core.state import CustomerState

EventFactory = Callable[..., Any]
CRM = {"crm_account_id": "crm-1", "email": "ann@example.com"}
EUR = "EUR"


def money(amount: int) -> dict[str, Any]:
    return {"amount_minor": amount, "currency": EUR}


def fold_all(playbook: Playbook, events: list[Any]) -> CustomerState:
    state = CustomerState.new("c-1")
    for event in events:
        state, _ = apply(state, event, event.time, playbook)
    return state


@pytest.mark.parametrize(
    "short",
    sorted(short_type(t) for t in DEPARTMENT_EVENT_TYPES),
)
def test_every_event_type_applies_and_publishes_the_profile(playbook: Playbook, short: str) -> None:
    event: Any = EXAMPLES[f"com.customerlifecycle.{short}.v1"]
    state, decisions = apply(CustomerState.new("c-1"), event, event.time, playbook)
    assert state.applied_event_ids == [event.id]
    assert state.timeline[0].record_id == event.id
    if short.endswith(".contact.requested"):
        # A department asking before a contact: answered and logged; no profile, no plays.
        assert [type(r) for r in published(decisions)] == [ContactDecided]
        return
    profiles = [r for r in published(decisions) if isinstance(r, CustomerProfile)]
    if "erasure" in short:
        assert erased(decisions) == ["c-1"]
        assert profiles == []
    else:
        assert len(profiles) == 1
        assert profiles[0].data.profile_version == 1


GIVEN_WHEN_THEN: list[tuple[str, list[tuple[str, dict[str, Any]]], dict[str, Any]]] = [
    ("lead captured", [("marketing.contact.captured", {})], {"stages": {"engage": "active"}}),
    (
        "lead qualified",
        [("sales.lead.qualified", {"estimated_value": money(500_000)})],
        {"lead_qualified": True, "stages": {"engage": "completed", "transact": "active"}},
    ),
    (
        "opportunity replaces the lead estimate",
        [
            ("sales.lead.qualified", {"estimated_value": money(500_000)}),
            ("sales.opportunity.created", {"estimated_value": money(700_000)}),
        ],
        {"open_opportunities": {"0065g00000OpP1": 700_000}},
    ),
    (
        "quote updates the opportunity",
        [("sales.opportunity.created", {}), ("sales.quote.issued", {"amount": money(900_000)})],
        {"open_opportunities": {"0065g00000OpP1": 900_000}},
    ),
    (
        "deal won",
        [("sales.opportunity.created", {}), ("sales.deal.won", {"amount": money(100_000)})],
        {
            "open_opportunities": {},
            "revenue_to_date_minor": 100_000,
            "purchases": 1,
            "stages": {"engage": "completed", "transact": "completed", "fulfil": "active"},
        },
    ),
    (
        "two deals add up",
        [("sales.deal.won", {"amount": money(100_000)}), ("sales.deal.won", {"amount": money(50)})],
        {"revenue_to_date_minor": 100_050, "purchases": 2},
    ),
    (
        "other currency is not added",
        [
            ("sales.deal.won", {"amount": money(100_000)}),
            ("sales.deal.won", {"amount": {"amount_minor": 7, "currency": "USD"}}),
        ],
        {"revenue_to_date_minor": 100_000, "currency": EUR},
    ),
    (
        "deal lost stalls a prospect",
        [
            ("sales.opportunity.created", {"opportunity_id": "0065g00000OpX9"}),
            ("sales.deal.lost", {}),
        ],
        {"stages": {"transact": "stalled"}},
    ),
    (
        "order fulfilled",
        [("sales.deal.won", {}), ("sales.order.fulfilled", {})],
        {"stages": {"fulfil": "completed", "service": "active"}},
    ),
    (
        "fulfilment problem",
        [("servicedesk.fulfilment.problem-reported", {})],
        {"stages": {"fulfil": "stalled"}},
    ),
    (
        "case opened",
        [("servicedesk.case.opened", {"priority": "P2"})],
        {"open_cases": {"ZD-100482": "P2"}},
    ),
    (
        "case escalated",
        [
            ("servicedesk.case.opened", {"priority": "P3"}),
            ("servicedesk.case.escalated", {"priority": "P1"}),
        ],
        {"open_cases": {"ZD-100482": "P1"}},
    ),
    (
        "case resolved",
        [("servicedesk.case.opened", {}), ("servicedesk.case.resolved", {})],
        {"open_cases": {}},
    ),
    (
        "satisfaction",
        [("servicedesk.satisfaction.received", {"csat": 5, "nps": 10})],
        {"last_csat": 5, "last_nps": 10, "sentiment": 1.0},
    ),
    (
        "satisfaction csat only",
        [("servicedesk.satisfaction.received", {"csat": 1, "nps": None})],
        {"last_csat": 1, "last_nps": None, "sentiment": -1.0},
    ),
    ("complaint", [("servicedesk.complaint.received", {})], {"sentiment": -0.5}),
    ("lead score", [("marketing.lead.scored", {"score": 42})], {"lead_score": 42}),
    (
        "consent withdrawn",
        [("marketing.consent.changed", {"status": "withdrawn", "channel": "sms"})],
        {},
    ),
    ("cancelled", [("sales.deal.won", {}), ("sales.contract.cancelled", {})], {"purchases": 1}),
    ("promotional message", [("marketing.campaign.message-sent", {})], {}),
]


@pytest.mark.parametrize(
    ("name", "given", "then"), GIVEN_WHEN_THEN, ids=[c[0] for c in GIVEN_WHEN_THEN]
)
def test_given_events_then_state(
    playbook: Playbook,
    make_event: EventFactory,
    name: str,
    given: list[tuple[str, dict[str, Any]]],
    then: dict[str, Any],
) -> None:
    state = fold_all(playbook, [make_event(short, CRM, **fields) for short, fields in given])
    for field, expected in then.items():
        actual = getattr(state, field)
        if isinstance(expected, dict) and field == "stages":
            assert {k: actual.get(k) for k in expected} == expected
        else:
            assert actual == expected


def test_consent_and_unsubscribe(playbook: Playbook, make_event: EventFactory) -> None:
    state = fold_all(
        playbook,
        [
            make_event("marketing.consent.changed", CRM, channel="sms", status="granted"),
            make_event("marketing.unsubscribed", CRM, channel="email", list_id=None),
            make_event("marketing.unsubscribed", CRM, channel="sms", list_id="newsletter"),
        ],
    )
    assert {c: v.status for c, v in state.consents.items()} == {
        "sms": "granted",
        "email": "withdrawn",
    }


def test_profile_attributes_carry_source_and_time(
    playbook: Playbook, make_event: EventFactory
) -> None:
    event = make_event("marketing.contact.captured", CRM)
    state = fold_all(playbook, [event])
    assert state.attributes["given_name"].value == "Ann"
    assert state.attributes["given_name"].source == "marketing"
    assert state.attributes["given_name"].updated_at == event.time


def test_identifiers_are_linked_with_their_department(
    playbook: Playbook, make_event: EventFactory
) -> None:
    state = fold_all(
        playbook,
        [
            make_event("sales.deal.won", {"crm_account_id": "crm-1"}),
            make_event(
                "servicedesk.case.opened",
                {"helpdesk_requester_id": "zd-1", "email": "a@example.com"},
            ),
        ],
    )
    assert [(i.kind, i.department) for i in state.identifiers] == [
        ("crm_account_id", "sales"),
        ("helpdesk_requester_id", "service-desk"),
        ("email", "service-desk"),
    ]


@pytest.mark.parametrize(
    ("given", "segment"),
    [
        ([("sales.deal.won", {"amount": money(1_000_000)})], "value-gold"),
        ([("sales.deal.won", {"amount": money(20_000_000)})], "value-platinum"),
        ([("sales.deal.won", {"amount": money(100_000)})], "value-silver"),
        ([("marketing.contact.captured", {})], "new-lead"),
        ([("sales.opportunity.created", {})], "active-opportunity"),
        ([("sales.deal.won", {})], "onboarding"),
        ([("sales.deal.won", {}), ("sales.deal.won", {"opportunity_id": "o2"})], "loyal"),
        ([("sales.deal.won", {}), ("servicedesk.complaint.received", {})], "at-risk"),
        ([("sales.deal.won", {}), ("sales.contract.cancelled", {})], "churned"),
        ([("sales.deal.won", {"customer": None})], "key-account-fischer-logistik"),
    ],
)
def test_segment_membership(
    engine: LocalEngine,
    make_event: EventFactory,
    given: list[tuple[str, dict[str, Any]]],
    segment: str,
) -> None:
    customer = {"crm_account_id": "0015g00000AbCdEAAZ"}
    for short, fields in given:
        fields = {k: v for k, v in fields.items() if k != "customer"}
        event = make_event(short, customer, **fields)
        engine.submit_event(event, event.time + timedelta(seconds=1))
    state = engine.resolve("crm_account_id:0015g00000AbCdEAAZ")
    assert state is not None
    assert segment in state.segments


def test_leaving_a_segment_is_published(engine: LocalEngine, make_event: EventFactory) -> None:
    opened = make_event("sales.opportunity.created", CRM)
    engine.submit_event(opened, opened.time)
    lost = make_event("sales.deal.lost", CRM, opportunity_id="0065g00000OpP1")
    records = published(engine.submit_event(lost, lost.time))
    exited = {r.data.segment_id for r in records if r.type.endswith("segment.exited.v1")}
    # The pipeline was the prospect's only value: the value tier goes with it.
    assert exited == {"active-opportunity", "value-silver"}


def test_the_profile_is_published_only_when_it_changed(
    playbook: Playbook, make_event: EventFactory
) -> None:
    def profiles(decisions: list[Any]) -> list[CustomerProfile]:
        return [r for r in published(decisions) if isinstance(r, CustomerProfile)]

    captured = make_event("marketing.contact.captured", CRM)
    state, decisions = apply(CustomerState.new("c-1"), captured, captured.time, playbook)
    assert [p.data.profile_version for p in profiles(decisions)] == [1]
    # A message sent changes the timeline, which the profile does not carry: nothing to publish.
    sent = make_event("marketing.campaign.message-sent", CRM)
    state, decisions = apply(state, sent, sent.time, playbook)
    assert state.applied_event_ids[-1] == sent.id
    assert profiles(decisions) == []
    assert state.profile_version == 1
    # A change the profile carries is published with the next version.
    consent = make_event("marketing.consent.changed", CRM, channel="sms", status="granted")
    state, decisions = apply(state, consent, consent.time, playbook)
    assert [p.data.profile_version for p in profiles(decisions)] == [2]
