"""Owners, hand-off deadlines, escalation and feedback from outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from lifecycle_schemas.codec import decode_record, encode_record
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.outcomes import ActionDeclined
from lifecycle_schemas.outputs import HandoffDeadlineMissed, OwnerChanged
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import short_type
from orchestrator.core.state import ActionStatus

EventFactory = Callable[..., Any]
MKT = {"marketing_contact_id": "hs-1", "email": "ann@example.com"}


def outcome(kind: str, action: Any, **fields: Any) -> Any:
    """An outcome record for ``action``, from the contract example of its kind."""
    document = json.loads(encode_record(EXAMPLES[f"com.customerlifecycle.outcome.{kind}.v1"]))
    document["data"].update(
        customer_id=action.data.customer_id,
        action_id=action.id,
        action_type=action.type,
        department=action.data.department.value,
        **fields,
    )
    document["source"] = f"/services/{action.data.department.value}"
    document["subject"] = action.data.customer_id
    document["id"] = f"{kind}-{action.id}"
    document["time"] = (action.time + timedelta(minutes=5)).isoformat()
    return decode_record(json.dumps(document).encode(), now=None)


def hot_lead(engine: LocalEngine, make_event: EventFactory) -> list[Any]:
    event = make_event("marketing.lead.scored", MKT, score=90)
    return published(engine.submit_event(event, event.time))


def test_every_new_customer_gets_exactly_one_owner(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = published(
        engine.submit_event(
            make_event("marketing.email.opened", MKT),
            make_event("marketing.email.opened", MKT).time,
        )
    )
    owners = [r for r in records if isinstance(r, OwnerChanged)]
    assert len(owners) == 1
    assert owners[0].data.owner.owner_id == "demand-generation"
    assert owners[0].data.handoff_deadline is not None


def test_account_owner_from_sales_becomes_the_owner_of_a_customer(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    crm = {"crm_account_id": "crm-1"}
    for event in [
        make_event("sales.deal.won", crm),
        make_event("sales.account.owner-assigned", crm),
    ]:
        engine.submit_event(event, event.time)
    state = engine.resolve("crm_account_id:crm-1")
    assert state is not None
    assert state.owner is not None
    assert state.owner.owner_id == "005-jmartin"
    assert state.owner_rule == "customer-account-owner"


def test_unacknowledged_action_is_escalated_after_its_deadline(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = hot_lead(engine, make_event)
    assign = next(r for r in records if r.type.endswith("assign-owner.v1"))
    assert engine.tick(assign.data.deadline - timedelta(seconds=1)) == []
    escalation = published(engine.tick(assign.data.deadline + timedelta(seconds=1)))
    missed = [r for r in escalation if isinstance(r, HandoffDeadlineMissed)]
    assert [m.data.action_id for m in missed] == [assign.id]
    assert missed[0].data.escalated_to is not None
    escalated = [r for r in escalation if ".action." in r.type]
    assert [(short_type(r.type), r.data.play_id) for r in escalated] == [
        ("sales.assign-owner", "hot-lead-escalation")
    ]
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    # Missed, then replaced by the escalation's assign-owner: one live action of a type.
    assert state.open_actions[assign.id].status is ActionStatus.SUPERSEDED


def test_a_missed_deadline_escalates_once(engine: LocalEngine, make_event: EventFactory) -> None:
    records = hot_lead(engine, make_event)
    assign = next(r for r in records if r.type.endswith("assign-owner.v1"))
    engine.tick(assign.data.deadline + timedelta(seconds=1))
    again = published(engine.tick(assign.data.deadline + timedelta(seconds=2)))
    assert not any(
        isinstance(r, HandoffDeadlineMissed) and r.data.action_id == assign.id for r in again
    )


def test_accepted_action_is_not_escalated(engine: LocalEngine, make_event: EventFactory) -> None:
    records = hot_lead(engine, make_event)
    for action in [r for r in records if ".action." in r.type]:
        engine.submit(action.data.customer_id, outcome("accepted", action), action.time)
    assert engine.tick(records[-1].time + timedelta(days=3)) == []


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("accepted", ActionStatus.ACCEPTED),
        ("completed", ActionStatus.COMPLETED),
        ("declined", ActionStatus.DECLINED),
        ("failed", ActionStatus.FAILED),
        ("expired", ActionStatus.EXPIRED),
    ],
)
def test_outcome_updates_the_action(
    engine: LocalEngine, make_event: EventFactory, kind: str, status: ActionStatus
) -> None:
    action = next(r for r in hot_lead(engine, make_event) if ".action." in r.type)
    result = outcome(kind, action)
    engine.submit(action.data.customer_id, result, result.time)
    state = engine.customers[action.data.customer_id]
    assert state.open_actions[action.id].status is status
    if isinstance(result, ActionDeclined):
        assert state.open_actions[action.id].decline_reason == result.data.reason_code.value


def test_declined_call_can_be_proposed_again(engine: LocalEngine, make_event: EventFactory) -> None:
    records = hot_lead(engine, make_event)
    for action in [r for r in records if ".action." in r.type]:
        engine.submit(action.data.customer_id, outcome("declined", action), action.time)
    again = make_event("marketing.lead.scored", MKT, score=95)
    actions = [r for r in published(engine.submit_event(again, again.time)) if ".action." in r.type]
    assert {short_type(r.type) for r in actions} == {"sales.call-customer", "sales.assign-owner"}


def test_a_lead_sales_has_called_is_not_handed_off_again(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    records = hot_lead(engine, make_event)
    for action in [r for r in records if ".action." in r.type]:
        engine.submit(action.data.customer_id, outcome("completed", action), action.time)
    again = make_event("marketing.lead.scored", MKT, score=95)
    actions = [r for r in published(engine.submit_event(again, again.time)) if ".action." in r.type]
    assert actions == []


def test_outcome_for_an_unknown_action_changes_only_the_timeline(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    action = next(r for r in hot_lead(engine, make_event) if ".action." in r.type)
    state_before = engine.customers[action.data.customer_id].open_actions
    stray = outcome("completed", action)
    stray = stray.model_copy(
        update={
            "data": stray.data.model_copy(
                update={"action_id": "00000000-0000-5000-8000-000000000000"}
            )
        }
    )
    engine.submit(action.data.customer_id, stray, stray.time)
    assert engine.customers[action.data.customer_id].open_actions == state_before
