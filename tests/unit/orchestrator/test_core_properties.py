"""Properties of the pure core: idempotent, lossless, deterministic, one voice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import Playbook
from orchestrator.core.reducer import apply
from orchestrator.core.state import LIVE, CustomerState

EventFactory = Callable[..., Any]
CUSTOMERS = [
    {"crm_account_id": "crm-1", "email": "ann@example.com"},
    {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"},
    {"marketing_contact_id": "hs-1"},
    {"helpdesk_requester_id": "zd-2", "email": "bob@example.com"},
]
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("sales.deal.won", {}),
    ("sales.opportunity.created", {}),
    ("sales.renewal.due", {}),
    ("sales.contract.cancelled", {}),
    ("marketing.lead.scored", {"score": 90}),
    ("marketing.web.page-visited", {}),
    ("marketing.consent.changed", {"status": "withdrawn", "channel": "email"}),
    ("marketing.campaign.message-sent", {}),
    ("servicedesk.case.opened", {"priority": "P1"}),
    ("servicedesk.case.resolved", {}),
    ("servicedesk.complaint.received", {}),
    ("servicedesk.satisfaction.received", {"nps": 3}),
    ("sales.erasure.requested", {}),
]
histories = st.lists(
    st.tuples(
        st.sampled_from(range(len(STEPS))),
        st.sampled_from(range(len(CUSTOMERS))),
    ),
    min_size=1,
    max_size=12,
)
# After an erasure forgot an e-mail, a redelivered older event may link it again
# (docs/orchestrator.md, known limits): the system-level replay property leaves erasure out.
histories_without_erasure = st.lists(
    st.tuples(
        st.sampled_from(range(len(STEPS) - 1)),
        st.sampled_from(range(len(CUSTOMERS))),
    ),
    min_size=1,
    max_size=12,
)
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def events_of(history: list[tuple[int, int]], make_event: EventFactory) -> list[Any]:
    return [make_event(STEPS[s][0], CUSTOMERS[c], **STEPS[s][1]) for s, c in history]


def run(playbook: Playbook, events: list[Any]) -> tuple[LocalEngine, list[Any]]:
    engine = LocalEngine(playbook)
    decisions: list[Any] = []
    for event in events:
        decisions += engine.submit_event(event, event.time + timedelta(seconds=5))
    return engine, decisions


@PROPERTY_SETTINGS
@given(history=histories_without_erasure)
def test_replaying_applied_events_changes_nothing(
    playbook: Playbook, make_event: EventFactory, history: list[tuple[int, int]]
) -> None:
    events = events_of(history, make_event)
    engine, _ = run(playbook, events)
    before = {cid: state.to_json() for cid, state in engine.customers.items()}
    for event in events:
        assert engine.submit_event(event, event.time + timedelta(days=1)) == []
    assert {cid: state.to_json() for cid, state in engine.customers.items()} == before


@PROPERTY_SETTINGS
@given(history=histories)
def test_apply_ignores_a_message_id_it_has_applied(
    playbook: Playbook, make_event: EventFactory, history: list[tuple[int, int]]
) -> None:
    events = events_of(history, make_event)
    state = CustomerState.new("c-1")
    for event in events:
        state, _ = apply(state, event, event.time, playbook)
        again, decisions = apply(state, event, event.time, playbook)
        assert decisions == []
        assert again is state


@PROPERTY_SETTINGS
@given(history=histories)
def test_state_survives_serialisation(
    playbook: Playbook, make_event: EventFactory, history: list[tuple[int, int]]
) -> None:
    engine, _ = run(playbook, events_of(history, make_event))
    for state in engine.customers.values():
        assert CustomerState.from_json(state.to_json()) == state


@PROPERTY_SETTINGS
@given(history=histories)
def test_identical_input_gives_identical_decisions(
    playbook: Playbook, make_event: EventFactory, history: list[tuple[int, int]]
) -> None:
    events = events_of(history, make_event)
    _, first = run(playbook, events)
    _, second = run(playbook, events)
    assert first == second
    assert first  # every event at least publishes a profile or a tombstone


@PROPERTY_SETTINGS
@given(history=histories)
def test_states_stay_within_their_bounds(
    playbook: Playbook, make_event: EventFactory, history: list[tuple[int, int]]
) -> None:
    engine, _ = run(playbook, events_of(history * 5, make_event))
    for state in engine.customers.values():
        assert len(state.timeline) <= 50
        assert len(state.decisions) <= 20
        assert len(state.applied_event_ids) <= 256
        assert len(state.to_json()) < 64_000


# One voice: events of every kind, the departments' answers to any action sent so far, and
# the deadline timer, in any order.
OUTCOMES = ("accepted", "completed", "declined", "expired")
VOICE_STEPS: list[tuple[str, dict[str, Any]]] = [
    *STEPS[:-1],
    ("servicedesk.satisfaction.received", {"nps": 1}),
    ("servicedesk.case.escalated", {}),
    ("marketing.email.opened", {}),
    ("sales.lead.qualified", {}),
    ("marketing.lead.scored", {"score": 30}),
]
voice_histories = st.lists(
    st.one_of(
        st.tuples(
            st.just("event"),
            st.sampled_from(range(len(VOICE_STEPS))),
            st.sampled_from(range(len(CUSTOMERS))),
        ),
        st.tuples(st.just("outcome"), st.sampled_from(range(len(OUTCOMES))), st.integers(0, 40)),
        st.tuples(st.just("tick"), st.integers(1, 30), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


def live_types(state: CustomerState) -> list[str]:
    return [a.action_type for a in state.open_actions.values() if a.status in LIVE]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=voice_histories)
def test_never_two_open_actions_of_one_type_per_customer(
    playbook: Playbook,
    make_event: EventFactory,
    make_outcome: Callable[..., Any],
    t0: datetime,
    history: list[tuple[str, int, int]],
) -> None:
    engine = LocalEngine(playbook)
    sent: list[Any] = []
    now = t0
    for step, a, b in history:
        now += timedelta(hours=1)
        if step == "event":
            short, fields = VOICE_STEPS[a]
            decisions = engine.submit_event(make_event(short, CUSTOMERS[b], at=now, **fields), now)
        elif step == "outcome" and sent:
            action = sent[b % len(sent)]
            answer = make_outcome(OUTCOMES[a], action, at=now)
            decisions = engine.submit(action.data.customer_id, answer, now)
        else:
            now += timedelta(hours=a)
            decisions = engine.tick(now)
        sent += [r for r in published(decisions) if ".action." in r.type]
        for state in engine.customers.values():
            types = live_types(state)
            assert len(types) == len(set(types)), (state.customer_id, sorted(types))
