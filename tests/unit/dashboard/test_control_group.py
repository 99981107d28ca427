"""The global control group in the pure core: a stable share is observed, not treated."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from lifecycle_schemas.outputs import CustomerProfile, DecisionRecorded
from lifecycle_testing.core_events import T0, build_event
from orchestrator.core.control import control_bucket, in_control_group
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import Playbook, PolicySpec, load_playbook

MKT = {"marketing_contact_id": "hs-1", "email": "ann@example.com"}


def with_share(share: float) -> Playbook:
    playbook = load_playbook()
    policy = playbook.policy.model_copy(update={"control_group_share": share})
    return dataclasses.replace(playbook, policy=policy)


def hot_lead(n: int = 1) -> Any:
    return build_event(
        "marketing.lead.scored", MKT, id=f"evt-{n}", at=T0 + timedelta(minutes=n), score=85
    )


def customer_id_of_hot_lead() -> str:
    engine = LocalEngine(with_share(0.0))
    engine.submit_event(hot_lead(), T0 + timedelta(minutes=2))
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    return state.customer_id


def records_for(share: float) -> list[Any]:
    engine = LocalEngine(with_share(share))
    return published(engine.submit_event(hot_lead(), T0 + timedelta(minutes=2)))


def test_bucket_is_stable_and_spread() -> None:
    ids = [f"cust-{i}" for i in range(20_000)]
    assert [control_bucket(i) for i in ids[:50]] == [control_bucket(i) for i in ids[:50]]
    share = sum(in_control_group(i, 0.10) for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert not any(in_control_group(i, 0.0) for i in ids)


def test_a_smaller_share_is_a_subset_of_a_larger_one() -> None:
    ids = [f"cust-{i}" for i in range(5_000)]
    small = {i for i in ids if in_control_group(i, 0.05)}
    large = {i for i in ids if in_control_group(i, 0.10)}
    assert small
    assert small < large


def test_the_default_share_is_ten_percent() -> None:
    assert PolicySpec().control_group_share == pytest.approx(0.10)


def test_treated_customer_gets_actions_and_a_treated_log() -> None:
    bucket = control_bucket(customer_id_of_hot_lead())
    records = records_for(bucket / 10_000)  # the customer's bucket is just outside the group
    assert any(".action." in r.type for r in records)
    log = next(r for r in records if isinstance(r, DecisionRecorded))
    assert log.data.control_group is False
    assert "won" in {c.verdict.value for c in log.data.candidates}


def test_control_customer_gets_no_action_and_every_winner_is_logged_held_out() -> None:
    bucket = control_bucket(customer_id_of_hot_lead())
    treated = records_for(bucket / 10_000)
    held = records_for((bucket + 1) / 10_000)  # now the bucket is inside the group
    assert not any(".action." in r.type for r in held)
    log = next(r for r in held if isinstance(r, DecisionRecorded))
    assert log.data.control_group is True
    treated_log = next(r for r in treated if isinstance(r, DecisionRecorded))
    won = {c.action_type for c in treated_log.data.candidates if c.verdict.value == "won"}
    held_out = {
        (c.action_type, c.reason_code) for c in log.data.candidates if c.verdict.value == "held-out"
    }
    assert held_out == {(a, "control-group") for a in won}
    profile = next(r for r in held if isinstance(r, CustomerProfile))
    assert profile.data.control_group is True
    assert profile.data.open_action_ids == ()


def test_erasure_is_never_held_out() -> None:
    engine = LocalEngine(with_share(0.9999))
    event = build_event("marketing.erasure.requested", MKT, id="evt-9", at=T0)
    records = published(engine.submit_event(event, T0 + timedelta(seconds=1)))
    assert sum(r.type.endswith("erase-personal-data.v1") for r in records) == 3


def test_conflicting_contact_is_counted_only_during_an_urgent_case() -> None:
    engine = LocalEngine(with_share(0.0))
    desk = {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"}
    events = [
        build_event("marketing.campaign.message-sent", MKT, id="evt-1", at=T0, promotional=True),
        build_event(
            "servicedesk.case.opened", desk, id="evt-2", at=T0 + timedelta(hours=1), priority="P1"
        ),
        build_event(
            "marketing.campaign.message-sent",
            MKT,
            id="evt-3",
            at=T0 + timedelta(hours=2),
            promotional=True,
        ),
        build_event(
            "marketing.campaign.message-sent",
            MKT,
            id="evt-4",
            at=T0 + timedelta(hours=3),
            promotional=False,
        ),
    ]
    for event in events:
        engine.submit_event(event, event.time + timedelta(seconds=1))
    state = engine.resolve("marketing_contact_id:hs-1")
    assert state is not None
    assert state.conflicting_contacts == 1
