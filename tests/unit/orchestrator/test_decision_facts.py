"""The customer's decision log keeps the facts behind each chosen action (the 360 view's "why"):
the ones its play's condition read, plus value and segments, copied from the action record, for
the last few decisions only; states written before facts were kept still load."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from lifecycle_schemas.outputs import DecisionRecorded
from orchestrator.core import decide
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import Playbook
from orchestrator.core.state import MAX_DECISIONS, CustomerState
from orchestrator.stored import load_state

EventFactory = Callable[..., Any]
MKT = {"marketing_contact_id": "hs-1", "email": "ann@example.com"}


def submit(engine: LocalEngine, event: Any) -> list[Any]:
    return published(engine.submit_event(event, event.time + timedelta(seconds=1)))


def only_customer(engine: LocalEngine) -> CustomerState:
    (state,) = [s for s in engine.customers.values() if s.alias_of is None]
    return state


def a_decision_with_facts(
    engine: LocalEngine, make_event: EventFactory
) -> tuple[CustomerState, dict[str, Any], dict[str, Any]]:
    """A hot lead's customer, its decision with facts, and the same decision without them."""
    submit(engine, make_event("marketing.lead.scored", MKT, score=85))
    state = only_customer(engine)
    chose = state.decisions[-1]
    return state, chose, {k: v for k, v in chose.items() if k != "facts"}


def withdraw_sms_consent(engine: LocalEngine, make_event: EventFactory) -> None:
    """One more decision for the customer."""
    submit(engine, make_event("marketing.consent.changed", MKT, channel="sms", status="withdrawn"))


def test_a_won_decision_keeps_the_facts_its_play_read(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = submit(engine, make_event("marketing.lead.scored", MKT, score=85))
    call = next(r for r in records if r.type.endswith("call-customer.v1"))
    entry = only_customer(engine).decisions[-1]
    # hot-lead's condition reads is_customer and sales_contacted; value and segments always.
    assert set(entry["facts"]) == {"is_customer", "sales_contacted", "ltv", "segments"}
    assert entry["facts"] == {name: call.data.facts[name] for name in entry["facts"]}
    assert entry["facts"]["segments"] == "new-lead"
    # The published decision-log record is unchanged: its contract has no facts.
    log = next(r for r in records if isinstance(r, DecisionRecorded))
    assert "facts" not in log.data.model_dump()


def test_a_decision_nothing_won_keeps_no_facts(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    submit(engine, make_event("marketing.lead.scored", MKT, score=85))
    submit(engine, make_event("marketing.lead.scored", MKT, score=90))  # the call is still open
    first, second = only_customer(engine).decisions[-2:]
    assert "facts" in first
    assert {c["verdict"] for c in second["candidates"]} == {"suppressed"}
    assert "facts" not in second


def test_held_out_actions_keep_their_facts(playbook: Playbook, make_event: EventFactory) -> None:
    everyone_held_out = dataclasses.replace(
        playbook, policy=playbook.policy.model_copy(update={"control_group_share": 1.0})
    )
    engine = LocalEngine(everyone_held_out)
    assert not [
        r
        for r in submit(engine, make_event("marketing.lead.scored", MKT, score=85))
        if ".action." in r.type
    ]
    entry = only_customer(engine).decisions[-1]
    assert entry["control_group"] is True
    assert entry["facts"]["sales_contacted"] is False


def test_only_the_last_decisions_keep_facts_and_old_states_load(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    state, template, without_facts = a_decision_with_facts(engine, make_event)
    # Written by an older version: entries without facts, and a full log of entries with them.
    older = [
        without_facts,
        *[dict(template, decision_id=f"d-{n}") for n in range(MAX_DECISIONS - 1)],
    ]
    old_json = state.model_copy(update={"decisions": older}).to_json()
    engine.customers[state.customer_id] = load_state(old_json)
    withdraw_sms_consent(engine, make_event)
    decisions = only_customer(engine).decisions
    assert len(decisions) == MAX_DECISIONS
    with_facts = [n for n, d in enumerate(decisions) if "facts" in d]
    assert with_facts == list(range(MAX_DECISIONS - decide.MAX_DECISIONS_WITH_FACTS, MAX_DECISIONS))
    assert decisions[-1]["candidates"][0]["play_id"] == "consent-withdrawn"


def test_the_last_decisions_that_chose_an_action_keep_facts_past_those_that_did_not(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    state, chose, nothing = a_decision_with_facts(engine, make_event)
    older = [dict(chose, decision_id=f"d-{n}") for n in range(6)] + [nothing, nothing]
    engine.customers[state.customer_id] = state.model_copy(update={"decisions": older})
    withdraw_sms_consent(engine, make_event)
    with_facts = [n for n, d in enumerate(only_customer(engine).decisions) if "facts" in d]
    # Of six older decisions with facts, the four latest keep them, with the new one: five.
    assert with_facts == [2, 3, 4, 5, 8]
