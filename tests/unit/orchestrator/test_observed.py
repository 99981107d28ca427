"""Per-worker indexes and play statistics, and the replication rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.core.playbook import PolicySpec
from orchestrator.core.state import CustomerState, OpenAction
from orchestrator.observed import PlayStats, WorkerView, is_flagged, merge_exports, plays_report

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = PolicySpec(decline_flag_threshold=0.5, decline_flag_min_outcomes=4)


def stats(**outcomes: int) -> PlayStats:
    result = PlayStats()
    result.outcomes.update(outcomes)
    return result


@pytest.mark.parametrize(
    ("outcomes", "flagged"),
    [
        ({"declined": 3}, False),  # too few answers to judge
        ({"declined": 2, "accepted": 2}, True),
        ({"declined": 1, "accepted": 3}, False),
        ({"declined": 4, "expired": 9}, True),  # expiries are not answers
        ({}, False),
    ],
)
def test_decline_flag(outcomes: dict[str, int], flagged: bool) -> None:
    assert is_flagged(stats(**outcomes), POLICY) is flagged


def test_workers_counts_add_up() -> None:
    first, second = WorkerView(), WorkerView()
    first.play("hot-lead").emitted = 2
    first.play("hot-lead").outcomes["declined"] += 2
    first.play("hot-lead").declines[("sales", "no-capacity")] += 2
    second.play("hot-lead").emitted = 3
    second.play("hot-lead").outcomes["accepted"] += 2
    second.segments["c-1"] = ("loyal",)
    segments, plays = merge_exports([first.export(), second.export()])
    assert segments == {"loyal": 1}
    report = plays_report(["hot-lead", "deal-won-onboarding"], plays, POLICY)
    assert report[0]["emitted"] == 5
    assert report[0]["decline_rate"] == 0.5
    assert report[0]["flagged"] is True
    assert report[0]["declines_by_department_and_reason"] == [
        {"department": "sales", "reason": "no-capacity", "count": 2}
    ]
    assert report[1]["emitted"] == 0


def test_deadline_index_returns_each_due_customer_once() -> None:
    view = WorkerView()
    action = OpenAction(
        action_id="a",
        action_type="t",
        department="sales",
        play_id="p",
        play_version=1,
        priority="high",
        created_at=NOW,
        deadline=NOW + timedelta(hours=1),
        expires_at=NOW + timedelta(days=1),
        trigger_event_id="e",
    )
    view.observe(CustomerState(customer_id="c-1", open_actions={"a": action}))
    assert view.due(NOW) == []
    assert view.due(NOW + timedelta(hours=2)) == ["c-1"]
    assert view.due(NOW + timedelta(hours=3)) == []


def test_deadline_whose_check_was_not_sent_is_due_again_unless_the_state_moved_it() -> None:
    view = WorkerView()
    view.deadlines.update({"c-1": NOW, "c-2": NOW})
    due = view.due(NOW)
    view.deadlines["c-2"] = NOW + timedelta(days=1)  # its state changed meanwhile
    view.retry_due(due, NOW)
    assert view.due(NOW) == ["c-1"]
    assert view.deadlines == {"c-2": NOW + timedelta(days=1)}


def test_aliases_and_erased_customers_are_not_counted() -> None:
    view = WorkerView()
    view.observe(CustomerState(customer_id="c-1", stages={"engage": "active"}, segments=["x"]))
    view.observe(CustomerState(customer_id="c-1", alias_of="c-0"))
    assert view.segment_counts() == {}
    assert view.stage_counts() == {}
