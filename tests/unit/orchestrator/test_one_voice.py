"""One voice across plays: one open action of a type (so of a department) per customer, and
one contact per department when several plays speak at the same moment."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.outputs import DecisionRecorded
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import ActionSpec, Playbook, PlaySpec, TriggerSpec

EventFactory = Callable[..., Any]
OutcomeFactory = Callable[..., Any]
DESK = {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"}
HOUR = timedelta(hours=1)
DETRACTOR = ("servicedesk.satisfaction.received", {"nps": 2, "csat": 2})
COMPLAINT: tuple[str, dict[str, Any]] = ("servicedesk.complaint.received", {})


def submit(engine: LocalEngine, event: Any) -> list[Any]:
    return published(engine.submit_event(event, event.time))


def sent(records: list[Any]) -> list[tuple[str, str]]:
    return [
        (r.type.split(".action.")[1][:-3], r.data.play_id) for r in records if ".action." in r.type
    ]


def candidates(records: list[Any]) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            c.action_type.split(".action.")[1][:-3],
            c.play_id,
            c.verdict.value,
            c.reason_code,
            c.reason,
        )
        for r in records
        if isinstance(r, DecisionRecorded)
        for c in r.data.candidates
    ]


def with_play(playbook: Playbook, play: PlaySpec) -> Playbook:
    return dataclasses.replace(playbook, plays=(*playbook.plays, play))


def complaint_play(play_id: str, action_type: str, propensity: float) -> PlaySpec:
    """A second play on complaints asking sales for something."""
    return PlaySpec(
        id=play_id,
        name=play_id,
        trigger=TriggerSpec(event="servicedesk.complaint.received"),
        actions=[
            ActionSpec(type=action_type, propensity=propensity, rationale="A second opinion.")
        ],
    )


@pytest.mark.parametrize(("first", "second"), [(DETRACTOR, COMPLAINT), (COMPLAINT, DETRACTOR)])
def test_a_detractor_with_a_complaint_gets_one_retention_offer(
    engine: LocalEngine,
    make_event: EventFactory,
    t0: datetime,
    first: tuple[str, dict[str, Any]],
    second: tuple[str, dict[str, Any]],
) -> None:
    # Given one play already asked sales for a retention offer
    earlier = submit(engine, make_event(first[0], DESK, at=t0, **first[1]))
    first_play = next(play for kind, play in sent(earlier) if kind == "sales.offer-retention")
    # When the other play's trigger comes a minute later
    later = submit(engine, make_event(second[0], DESK, at=t0 + timedelta(minutes=1), **second[1]))
    # Then nothing more goes to sales or marketing, and the log says why
    assert sent(later) == []
    retention = [c for c in candidates(later) if c[0] == "sales.offer-retention"]
    assert len(retention) == 1
    assert retention[0][2:4] == ("suppressed", "already-open")
    assert first_play in retention[0][4]
    suppress = [c for c in candidates(later) if c[0] == "marketing.suppress-promotions"]
    assert [c[2:4] for c in suppress] == [("suppressed", "already-open")]


def test_a_declined_retention_offer_leaves_room_for_another(
    engine: LocalEngine, make_event: EventFactory, make_outcome: OutcomeFactory, t0: datetime
) -> None:
    earlier = submit(engine, make_event(DETRACTOR[0], DESK, at=t0, **DETRACTOR[1]))
    offer = next(r for r in earlier if r.type.endswith("offer-retention.v1"))
    engine.submit(offer.data.customer_id, make_outcome("declined", offer, at=t0 + HOUR), t0 + HOUR)
    later = submit(engine, make_event(COMPLAINT[0], DESK, at=t0 + 2 * HOUR))
    assert ("sales.offer-retention", "complaint-retention") in sent(later)


def test_two_plays_asking_for_the_same_action_at_once_send_it_once(
    playbook: Playbook, make_event: EventFactory, t0: datetime
) -> None:
    engine = LocalEngine(
        with_play(playbook, complaint_play("complaint-callback", "sales.offer-retention", 0.1))
    )
    records = submit(engine, make_event(COMPLAINT[0], DESK, at=t0))
    assert [play for kind, play in sent(records) if kind == "sales.offer-retention"] == [
        "complaint-retention"
    ]
    loser = next(c for c in candidates(records) if c[1] == "complaint-callback")
    assert loser[2:4] == ("suppressed", "already-open")
    assert "chosen for play complaint-retention" in loser[4]


@pytest.mark.parametrize(("propensity", "winner"), [(0.01, "complaint-retention"), (1.0, "vip")])
def test_two_plays_speaking_through_one_department_at_once_are_ranked_by_score(
    playbook: Playbook, make_event: EventFactory, t0: datetime, propensity: float, winner: str
) -> None:
    # complaint-retention's offer scores 0.5 x 9,000 x 3 (high) = 13,500; the vip call
    # 0.01 x 1 x 3 = 0.03, or 1.0 x 9,000 x 3 = 27,000
    call = ActionSpec(
        type="sales.call-customer",
        propensity=propensity,
        priority="high",
        expected_value_minor=1_000_000 if propensity == 1.0 else 0,
        cost_minor=100_000 if propensity == 1.0 else 0,
        rationale="A second opinion.",
        parameters={"topic": "vip-complaint"},
    )
    vip = PlaySpec(
        id="vip",
        name="vip",
        trigger=TriggerSpec(event="servicedesk.complaint.received"),
        actions=[call],
    )
    engine = LocalEngine(with_play(playbook, vip))
    records = submit(engine, make_event(COMPLAINT[0], DESK, at=t0))
    to_sales = [play for kind, play in sent(records) if kind.startswith("sales.")]
    assert to_sales == [winner]
    loser = next(c for c in candidates(records) if c[1] != winner and c[0].startswith("sales."))
    assert loser[2:4] == ("lost", "one-voice")
    assert winner in loser[4]
    # Marketing is another department: its suppression goes out either way.
    assert ("marketing.suppress-promotions", "complaint-retention") in sent(records)


def test_a_late_answer_to_an_escalated_action_does_not_reopen_it(
    engine: LocalEngine, make_event: EventFactory, make_outcome: OutcomeFactory, t0: datetime
) -> None:
    mkt = {"marketing_contact_id": "hs-1", "email": "ann@example.com"}
    hot = submit(engine, make_event("marketing.lead.scored", mkt, at=t0, score=90))
    assign = next(r for r in hot if r.type.endswith("assign-owner.v1"))
    escalation = published(engine.tick(t0 + 5 * HOUR))
    assert ("sales.assign-owner", "hot-lead-escalation") in sent(escalation)
    at = t0 + 6 * HOUR
    engine.submit(assign.data.customer_id, make_outcome("accepted", assign, at=at), at)
    state = engine.customers[assign.data.customer_id]
    live = [
        a.play_id
        for a in state.open_actions.values()
        if a.action_type.endswith("assign-owner.v1") and a.status.value in ("open", "accepted")
    ]
    assert live == ["hot-lead-escalation"]
