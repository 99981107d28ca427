"""Given events / Then decisions: the default playbook's plays and the contact policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.outputs import DecisionRecorded
from lifecycle_testing.core_events import DESK, actions, feed
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.identity import new_customer_id
from orchestrator.core.playbook import Playbook, short_type

EventFactory = Callable[..., Any]
CRM = {"crm_account_id": "crm-1", "email": "ann@example.com"}
MKT = {"marketing_contact_id": "hs-1", "email": "ann@example.com"}
BIG_DEAL = {"amount": {"amount_minor": 6_000_000, "currency": "EUR"}}


def candidates(records: list[Any]) -> list[tuple[str, str, str]]:
    logs = [r for r in records if isinstance(r, DecisionRecorded)]
    return [
        (short_type(c.action_type), c.verdict.value, c.reason_code)
        for log in logs
        for c in log.data.candidates
    ]


def test_urgent_case_from_high_value_customer(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(
        engine,
        [
            make_event("sales.deal.won", CRM, **BIG_DEAL),
            make_event("servicedesk.case.opened", DESK, priority="P1", case_id="ZD-9"),
        ],
    )
    assert set(actions(records)) >= {
        ("servicedesk.prioritise-case", "urgent-case-high-value"),
        ("servicedesk.assign-senior-agent", "urgent-case-high-value"),
        ("marketing.suppress-promotions", "urgent-case-high-value"),
        ("sales.call-customer", "urgent-case-high-value"),
    }
    prioritise = next(r for r in records if r.type.endswith("prioritise-case.v1"))
    assert prioritise.data.parameters.case_id == "ZD-9"
    assert prioritise.data.department.value == "service-desk"


def test_urgent_case_from_low_value_customer_gets_no_special_treatment(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(engine, [make_event("servicedesk.case.opened", DESK, priority="P1")])
    assert ("servicedesk.prioritise-case", "urgent-case-high-value") not in actions(records)


def test_p3_case_does_not_trigger_the_urgent_play(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(
        engine,
        [
            make_event("sales.deal.won", CRM, **BIG_DEAL),
            make_event("servicedesk.case.opened", DESK, priority="P3"),
        ],
    )
    assert actions(records) == []


def test_promotion_is_suppressed_while_urgent_case_open(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(
        engine,
        [
            make_event("sales.deal.won", CRM, **BIG_DEAL),
            make_event("servicedesk.case.opened", DESK, priority="P2"),
            make_event("marketing.web.page-visited", MKT),
        ],
    )
    assert actions(records) == []
    assert ("marketing.send-offer", "suppressed", "promotions-suppressed") in candidates(records)


def test_promotion_after_resolution_resumes(engine: LocalEngine, make_event: EventFactory) -> None:
    records = feed(
        engine,
        [
            make_event("sales.deal.won", CRM, **BIG_DEAL),
            make_event("servicedesk.case.opened", DESK, priority="P2", case_id="ZD-1"),
            make_event("servicedesk.case.resolved", DESK, case_id="ZD-1"),
        ],
    )
    assert actions(records) == [("marketing.resume-promotions", "urgent-case-resolved")]
    records = feed(engine, [make_event("marketing.web.page-visited", MKT)])
    assert ("marketing.send-offer", "product-interest-offer") in actions(records)


def test_open_urgent_case_rule_suppresses_without_the_flag(
    playbook: Playbook, make_event: EventFactory
) -> None:
    # Without the play that sends suppress-promotions, the policy rule still bites.
    plays = tuple(p for p in playbook.plays if p.id != "urgent-case-no-promotions")
    records = feed(
        LocalEngine(dataclasses.replace(playbook, plays=plays)),
        [
            make_event("sales.deal.won", CRM, amount={"amount_minor": 100, "currency": "EUR"}),
            make_event("servicedesk.case.opened", DESK, priority="P1"),
            make_event("marketing.web.page-visited", MKT),
        ],
    )
    assert ("marketing.send-offer", "suppressed", "open-urgent-case") in candidates(records)


def test_hot_lead_gets_a_sales_owner_and_a_call(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(engine, [make_event("marketing.lead.scored", MKT, score=85)])
    assert set(actions(records)) == {
        ("sales.assign-owner", "hot-lead"),
        ("sales.call-customer", "hot-lead"),
    }
    call = next(r for r in records if r.type.endswith("call-customer.v1"))
    assert call.data.deadline - call.time == timedelta(days=1)
    owner = [r for r in records if r.type.endswith("owner.changed.v1")]
    assert owner
    assert owner[0].data.owner.owner_id == "inside-sales"


@pytest.mark.parametrize("score", [0, 50, 79])
def test_lukewarm_lead_is_left_to_marketing(
    engine: LocalEngine, make_event: EventFactory, score: int
) -> None:
    assert actions(feed(engine, [make_event("marketing.lead.scored", MKT, score=score)])) == []


def test_deal_won_starts_onboarding_and_customer_journey(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(engine, [make_event("sales.deal.won", CRM, opportunity_id="opp-7")])
    assert set(actions(records)) == {
        ("servicedesk.start-onboarding", "deal-won-onboarding"),
        ("marketing.enrol-in-journey", "deal-won-onboarding"),
    }
    onboarding = next(r for r in records if r.type.endswith("start-onboarding.v1"))
    assert onboarding.data.parameters.opportunity_id == "opp-7"
    state = engine.resolve("crm_account_id:crm-1")
    assert state is not None
    assert "onboarding" in state.segments


@pytest.mark.parametrize("kind", ["renewal", "upsell", "cross-sell"])
def test_a_deal_that_is_not_new_business_starts_no_onboarding(
    engine: LocalEngine, make_event: EventFactory, kind: str
) -> None:
    # Renewals, upsells and cross-sells are sold to customers who were onboarded already.
    records = feed(engine, [make_event("sales.deal.won", CRM, opportunity_id="opp-2", kind=kind)])
    assert ("servicedesk.start-onboarding", "deal-won-onboarding") not in actions(records)


def test_complaint_brings_retention_and_stops_promotions(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(engine, [make_event("servicedesk.complaint.received", DESK)])
    assert set(actions(records)) == {
        ("sales.offer-retention", "complaint-retention"),
        ("marketing.suppress-promotions", "complaint-retention"),
    }


@pytest.mark.parametrize(("nps", "expected"), [(0, True), (6, True), (7, False), (10, False)])
def test_detractor_gets_retention(
    engine: LocalEngine, make_event: EventFactory, nps: int, expected: bool
) -> None:
    records = feed(engine, [make_event("servicedesk.satisfaction.received", DESK, nps=nps)])
    assert (("sales.offer-retention", "detractor-retention") in actions(records)) is expected


def test_satisfaction_without_nps_is_no_detractor(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(
        engine, [make_event("servicedesk.satisfaction.received", DESK, nps=None, csat=1)]
    )
    assert actions(records) == []


def test_renewal_for_healthy_customer_opens_renewal(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(engine, [make_event("sales.renewal.due", CRM, contract_id="CTR-1")])
    assert actions(records) == [("sales.create-opportunity", "renewal-healthy")]
    renewal = next(r for r in records if ".action." in r.type)
    assert renewal.data.parameters.kind.value == "renewal"
    assert renewal.data.parameters.contract_id == "CTR-1"


def test_renewal_for_unhealthy_customer_is_not_a_sales_push(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(
        engine,
        [make_event("servicedesk.complaint.received", DESK), make_event("sales.renewal.due", CRM)],
    )
    assert actions(records) == []


def test_consent_withdrawn_stops_marketing_at_once(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(
        engine, [make_event("marketing.consent.changed", MKT, channel="email", status="withdrawn")]
    )
    assert actions(records) == [("marketing.suppress-promotions", "consent-withdrawn")]
    suppress = next(r for r in records if ".action." in r.type)
    assert [c.value for c in suppress.data.parameters.channels] == ["email"]
    assert suppress.data.deadline - suppress.time == timedelta(minutes=15)


def test_consent_wins_over_any_offer(engine: LocalEngine, make_event: EventFactory) -> None:
    feed(
        engine,
        [
            make_event("sales.deal.won", CRM),
            make_event("marketing.consent.changed", MKT, channel="email", status="withdrawn"),
        ],
    )
    records = feed(engine, [make_event("marketing.web.page-visited", MKT)])
    assert ("marketing.send-offer", "suppressed", "no-consent") in candidates(records)


@pytest.mark.parametrize("source", ["marketing", "sales", "servicedesk"])
def test_erasure_makes_every_department_erase(
    engine: LocalEngine, make_event: EventFactory, source: str, t0: datetime
) -> None:
    customer = {"marketing": MKT, "sales": CRM, "servicedesk": DESK}[source]
    decisions = engine.submit_event(
        make_event(f"{source}.erasure.requested", customer), t0 + timedelta(days=1)
    )
    records = published(decisions)
    assert {a for a, _ in actions(records)} == {
        "marketing.erase-personal-data",
        "sales.erase-personal-data",
        "servicedesk.erase-personal-data",
    }
    identifier = next(f"{k}:{v}" for k, v in customer.items())
    # Every identifier is forgotten; the record, found by its id, keeps nothing personal.
    assert identifier not in engine.identities
    state = engine.resolve(new_customer_id(identifier))
    assert state is not None
    assert state.erased
    assert not state.attributes
    assert not state.identifiers
    assert not any(r.type.endswith("customer.profile.v1") for r in records)


def test_nothing_but_erasure_reaches_an_erased_customer(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    feed(engine, [make_event("sales.erasure.requested", CRM)])
    # An erased customer takes nothing more: no action, no decision, not even a log of one
    # (a late or replayed record must not bring anything back).
    records = feed(engine, [make_event("servicedesk.complaint.received", CRM)])
    assert records == []


def test_exclusive_group_keeps_the_best_offer(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = feed(
        engine, [make_event("sales.deal.won", CRM), make_event("marketing.web.page-visited", MKT)]
    )
    assert actions(records) == [("marketing.send-offer", "product-interest-offer")]
    assert ("sales.create-opportunity", "lost", "exclusive-group") in candidates(records)


def test_frequency_cap_on_promotional_email(engine: LocalEngine, make_event: EventFactory) -> None:
    events = [make_event("sales.deal.won", CRM)] + [
        make_event("marketing.campaign.message-sent", MKT, message_id=f"m-{i}") for i in range(3)
    ]
    feed(engine, events)
    records = feed(engine, [make_event("marketing.web.page-visited", MKT)])
    assert ("marketing.send-offer", "suppressed", "frequency-cap") in candidates(records)


def test_frequency_cap_window_passes(
    engine: LocalEngine, make_event: EventFactory, t0: datetime
) -> None:
    feed(
        engine,
        [make_event("sales.deal.won", CRM)]
        + [
            make_event("marketing.campaign.message-sent", MKT, message_id=f"m-{i}")
            for i in range(3)
        ],
    )
    later = make_event("marketing.web.page-visited", MKT, at=t0 + timedelta(days=8))
    assert ("marketing.send-offer", "product-interest-offer") in actions(feed(engine, [later]))


def test_same_action_is_not_sent_twice_while_open(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    feed(engine, [make_event("servicedesk.case.opened", DESK, priority="P1", case_id="ZD-1")])
    records = feed(
        engine, [make_event("servicedesk.case.opened", DESK, priority="P2", case_id="ZD-2")]
    )
    assert actions(records) == []
    assert ("marketing.suppress-promotions", "suppressed", "already-open") in candidates(records)


def test_at_risk_segment_entry_triggers_outreach(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    feed(engine, [make_event("sales.deal.won", CRM)])
    records = feed(
        engine, [make_event("servicedesk.satisfaction.received", DESK, nps=None, csat=1)]
    )
    entered = [r.data.segment_id for r in records if r.type.endswith("segment.entered.v1")]
    assert "at-risk" in entered
    assert ("servicedesk.proactive-outreach", "at-risk-outreach") in actions(records)


def test_every_candidate_has_a_stable_action_id(playbook: Any, make_event: EventFactory) -> None:
    event = make_event("marketing.lead.scored", MKT, score=90)
    first = feed(LocalEngine(playbook), [event])
    second = feed(LocalEngine(playbook), [event])
    assert [r.id for r in first] == [r.id for r in second]
    assert all(r.id == r.data.action_id for r in first if ".action." in r.type)
