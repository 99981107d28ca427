"""Departments' own contact requests, decided and reserved by the pure core (core/contacts.py):
Given the customer's events, When a department asks, Then the verdict and its reason."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle_schemas.outputs import ContactDecided
from lifecycle_schemas.vocabulary import ContactDecision
from lifecycle_testing.core_events import T0, EventFactory, build_event
from orchestrator.core.control import in_control_group
from orchestrator.core.decide import ContactAsk, cap_denial
from orchestrator.core.effects import OrchestratorTopics, outbox_records
from orchestrator.core.engine import LocalEngine
from orchestrator.core.identity import new_customer_id
from orchestrator.core.messages import Publish, Reply
from orchestrator.core.playbook import FrequencyCap, Playbook, QuietHours

SALES = {"crm_account_id": "crm-1", "email": "ann@example.com"}
MARKETING = {"email": "ann@example.com"}
DESK = {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"}
_numbers = iter(range(1, 10_000_000))


def request(
    department: str,
    customer: dict[str, str],
    at: datetime,
    *,
    channel: str = "email",
    purpose: str = "promotional",
    wait: timedelta = timedelta(seconds=2),
) -> Any:
    """A department's contact request, made at ``at``, waited for ``wait``."""
    n = next(_numbers)
    return build_event(
        f"{department}.contact.requested",
        customer,
        id=f"req-{n}",
        at=at,
        channel=channel,
        purpose=purpose,
        campaign_id=None,
        content_tag=None,
        answer_by=(at + wait).isoformat(),
    )


def ask(engine: LocalEngine, contact_request: Any, now: datetime | None = None) -> ContactDecided:
    """Apply the request; the one decision it is answered with (logged, and replied)."""
    decisions = engine.submit_event(contact_request, now or contact_request.time)
    logged = [d.record for d in decisions if isinstance(d, Publish)]
    replies = [d for d in decisions if isinstance(d, Reply)]
    assert len(logged) == 1
    assert isinstance(logged[0], ContactDecided)
    assert [(r.department, r.record) for r in replies] == [
        (contact_request.department.value, logged[0])
    ]
    return logged[0]


def verdict(decided: ContactDecided) -> tuple[str, str]:
    return decided.data.decision.value, decided.data.reason_code


def test_an_unknown_customer_is_allowed_under_the_defaults_and_recorded(
    engine: LocalEngine,
) -> None:
    decided = ask(engine, request("marketing", {"email": "new@example.com"}, T0))
    assert verdict(decided) == ("allow", "unknown-customer")
    assert decided.data.expires_at == T0 + timedelta(hours=1)
    state = engine.resolve("email:new@example.com")
    assert state is not None
    assert state.identifier_keys() == ["email:new@example.com"]
    assert [c.contact_id for c in state.contact_log] == [decided.data.contact_id]
    assert state.timeline[-1].kind == "contact-request"


def test_an_open_urgent_case_denies_a_promotion_and_allows_a_service_message(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    engine.submit_event(make_event("servicedesk.case.opened", DESK, priority="P1"), T0)
    later = T0 + timedelta(hours=1)
    promotion = ask(engine, request("marketing", MARKETING, later))
    assert verdict(promotion) == ("deny", "open-urgent-case")
    assert promotion.data.reason == "no promotion while a P1 or P2 case is open"
    assert promotion.data.expires_at is None
    service = ask(engine, request("marketing", MARKETING, later, purpose="service"))
    assert verdict(service) == ("allow", "within-policy")


def test_withdrawn_consent_denies_every_purpose_but_legal(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    engine.submit_event(
        make_event("marketing.consent.changed", MARKETING, channel="email", status="withdrawn"), T0
    )
    later = T0 + timedelta(minutes=5)
    for purpose in ("promotional", "service", "transactional"):
        decided = ask(engine, request("sales", SALES, later, purpose=purpose))
        assert verdict(decided) == ("deny", "no-consent"), purpose
    assert verdict(ask(engine, request("sales", SALES, later, purpose="legal"))) == (
        "allow",
        "within-policy",
    )
    # Another channel's service call goes; a promotion does not (the consent-withdrawn play
    # suppressed promotions).
    phone = request("sales", SALES, later, channel="phone", purpose="service")
    assert verdict(ask(engine, phone)) == ("allow", "within-policy")
    assert verdict(ask(engine, request("sales", SALES, later, channel="phone"))) == (
        "deny",
        "promotions-suppressed",
    )


def test_an_erased_customer_is_denied_and_nothing_of_the_request_is_kept(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    engine.submit_event(make_event("marketing.contact.captured", MARKETING), T0)
    engine.submit_event(make_event("marketing.erasure.requested", MARKETING), T0)
    customer_id = next(iter(engine.customers))
    decisions = engine.submit(customer_id, request("servicedesk", DESK, T0, purpose="legal"), T0)
    answered = [d.record for d in decisions if isinstance(d, Reply)]
    assert [verdict(r) for r in answered if isinstance(r, ContactDecided)] == [("deny", "erased")]
    assert len(answered) == 1
    assert engine.customers[customer_id].contact_log == []
    assert engine.customers[customer_id].identifiers == []


def test_the_email_cap_allows_three_promotions_a_week_then_denies(engine: LocalEngine) -> None:
    verdicts = [
        verdict(ask(engine, request("marketing", MARKETING, T0 + timedelta(minutes=n))))
        for n in range(4)
    ]
    assert verdicts[1:] == [("allow", "within-policy")] * 2 + [("deny", "frequency-cap")]
    assert verdicts[0] == ("allow", "unknown-customer")
    # Another channel, and a non-promotional e-mail, are not under the promotional e-mail cap.
    later = T0 + timedelta(minutes=5)
    assert verdict(ask(engine, request("marketing", MARKETING, later, channel="sms")))[0] == "allow"
    assert verdict(ask(engine, request("marketing", MARKETING, later, purpose="service")))[0] == (
        "allow"
    )


def test_a_lapsed_reservation_frees_its_slot_and_a_reported_send_keeps_it(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    first = ask(engine, request("marketing", MARKETING, T0))
    for n in (1, 2):
        ask(engine, request("marketing", MARKETING, T0 + timedelta(minutes=n)))
    # The first contact is reported sent: it counts as a send now, no longer as a reservation.
    sent = make_event(
        "marketing.campaign.message-sent",
        MARKETING,
        at=T0 + timedelta(minutes=10),
        contact_id=first.data.contact_id,
    )
    engine.submit_event(sent, sent.time)
    state = engine.resolve("email:ann@example.com")
    assert state is not None
    assert sorted(c.reserved_until is not None for c in state.contact_log) == [False, True, True]
    assert first.data.contact_id not in [c.contact_id for c in state.contact_log]
    # Two hours on, the two unreported reservations lapsed; the reported send still counts.
    later = T0 + timedelta(hours=2)
    verdicts = [
        verdict(ask(engine, request("marketing", MARKETING, later + timedelta(seconds=n))))
        for n in range(3)
    ]
    assert verdicts == [("allow", "within-policy")] * 2 + [("deny", "frequency-cap")]


def test_a_request_decided_after_the_department_stopped_waiting_reserves_nothing(
    engine: LocalEngine,
) -> None:
    late = request("marketing", MARKETING, T0)
    decided = ask(engine, late, now=T0 + timedelta(seconds=3))
    assert verdict(decided) == ("deny", "answer-too-late")
    state = engine.resolve("email:ann@example.com")
    assert state is not None
    assert state.contact_log == []


def test_quiet_hours_deny_service_calls_at_night_not_transactional_messages(
    playbook: Playbook,
) -> None:
    quiet = QuietHours(start="21:00", end="08:00", channels=["phone", "sms"])
    engine = LocalEngine(with_policy(playbook, quiet_hours=[quiet]))
    night = T0.replace(hour=22)
    assert verdict(
        ask(engine, request("sales", SALES, night, channel="phone", purpose="service"))
    ) == (
        "deny",
        "quiet-hours",
    )
    assert (
        verdict(
            ask(engine, request("sales", SALES, night, channel="phone", purpose="transactional"))
        )[0]
        == "allow"
    )
    assert verdict(ask(engine, request("sales", SALES, night, channel="email")))[0] == "allow"
    morning = (T0 + timedelta(days=1)).replace(hour=8)
    assert verdict(ask(engine, request("sales", SALES, morning, channel="phone")))[0] == "allow"


def test_an_overall_cap_counts_every_channel(playbook: Playbook) -> None:
    overall = FrequencyCap(channel="any", max=2, window="7d", promotional_only=True)
    engine = LocalEngine(with_policy(playbook, frequency_caps=[overall]))
    verdicts = [
        verdict(ask(engine, request("marketing", MARKETING, T0 + timedelta(minutes=n), channel=c)))
        for n, c in enumerate(("email", "sms", "in-app"))
    ]
    assert [v[0] for v in verdicts] == ["allow", "allow", "deny"]
    assert verdicts[2] == ("deny", "frequency-cap")


def test_a_spent_segment_budget_denies_promotions_only(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    engine.submit_event(make_event("marketing.contact.captured", MARKETING), T0)
    state = engine.resolve("email:ann@example.com")
    assert state is not None
    assert "new-lead" in state.segments
    engine.segment_spend_minor["new-lead"] = 10**12
    later = T0 + timedelta(hours=1)
    assert verdict(ask(engine, request("marketing", MARKETING, later))) == (
        "deny",
        "segment-budget-spent",
    )
    assert verdict(ask(engine, request("marketing", MARKETING, later, purpose="service")))[0] == (
        "allow"
    )


def test_a_control_group_customer_is_allowed_and_logged_but_consent_still_wins(
    playbook: Playbook, make_event: EventFactory
) -> None:
    engine = LocalEngine(with_policy(playbook, control_group_share=0.5))
    email = next(
        f"held{n}@example.com"
        for n in range(1000)
        if in_control_group(_customer_id(f"email:held{n}@example.com"), 0.5)
    )
    engine.submit_event(make_event("servicedesk.case.opened", {"email": email}, priority="P1"), T0)
    decided = ask(engine, request("marketing", {"email": email}, T0 + timedelta(minutes=1)))
    assert verdict(decided) == ("allow", "control-group")
    assert decided.data.control_group is True
    engine.submit_event(
        make_event(
            "marketing.consent.changed", {"email": email}, channel="email", status="withdrawn"
        ),
        T0,
    )
    assert verdict(
        ask(engine, request("marketing", {"email": email}, T0 + timedelta(hours=1)))
    ) == (
        "deny",
        "no-consent",
    )


def test_department_reservations_count_in_the_plays_caps_too(playbook: Playbook) -> None:
    # The phone cap (3 a day, every contact) is shared: the plays see the departments' calls.
    engine = LocalEngine(playbook)
    for n in range(3):
        ask(
            engine,
            request("sales", SALES, T0 + timedelta(minutes=n), channel="phone", purpose="service"),
        )
    state = engine.resolve("email:ann@example.com")
    assert state is not None
    now = T0 + timedelta(minutes=5)
    assert cap_denial(state, playbook, ContactAsk("phone", promotional=False), [], now) == (
        "frequency-cap",
        "at most 3 phone contacts per 1d",
    )
    assert (
        cap_denial(state, playbook, ContactAsk("phone", False), [], T0 + timedelta(hours=2)) is None
    )


def test_the_answer_is_copied_to_the_requesting_departments_topic(engine: LocalEngine) -> None:
    decisions = engine.submit_event(request("sales", SALES, T0), T0)
    topics = OrchestratorTopics.in_namespace("t1.")
    records = outbox_records(decisions, topics)
    assert sorted(r.topic for r in records) == [
        "t1.lifecycle.decision-log.v1",
        "t1.lifecycle.sales.contact-decisions.v1",
    ]
    assert len({r.value for r in records}) == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["marketing", "sales", "servicedesk"]),
            st.sampled_from(["email", "sms"]),
            st.integers(min_value=0, max_value=40),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=0, max_value=3),
)
def test_racing_requests_never_exceed_a_cap(
    playbook: Playbook, asks: list[tuple[str, str, int]], cap: int
) -> None:
    """However departments interleave their promotional requests (seconds apart, well inside
    the reservation), each channel allows exactly ``min(asked, cap)``: never one over the cap,
    and no slot left unused."""
    caps = [FrequencyCap(channel=c, max=cap, window="7d") for c in ("email", "sms")]
    engine = LocalEngine(with_policy(playbook, frequency_caps=caps))
    customers = {"marketing": MARKETING, "sales": SALES, "servicedesk": DESK}
    allowed = {"email": 0, "sms": 0}
    asked = {"email": 0, "sms": 0}
    for position, (department, channel, seconds) in enumerate(sorted(asks, key=lambda a: a[2])):
        at = T0 + timedelta(seconds=seconds, microseconds=position)
        decided = ask(engine, request(department, customers[department], at, channel=channel))
        asked[channel] += 1
        if decided.data.decision is ContactDecision.ALLOW:
            allowed[channel] += 1
        else:
            assert decided.data.reason_code == "frequency-cap"
    assert allowed == {channel: min(asked[channel], cap) for channel in asked}


def with_policy(playbook: Playbook, **changes: Any) -> Playbook:
    return dataclasses.replace(playbook, policy=playbook.policy.model_copy(update=changes))


def _customer_id(identifier: str) -> str:
    return new_customer_id(identifier)
