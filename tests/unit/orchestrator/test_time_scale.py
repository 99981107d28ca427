"""Given a time scale, every duration of the playbook is divided by it, its calendar counts
days that much faster, and nothing else changes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from lifecycle_testing.core_events import DESK, T0, EventFactory, actions, feed
from orchestrator.core.engine import LocalEngine
from orchestrator.core.ltv import predicted_lifetime_value_minor
from orchestrator.core.playbook import (
    Playbook,
    load_playbook,
    parse_duration,
    scaled_duration,
)
from orchestrator.core.state import CustomerState
from orchestrator.core.timescale import WALL_CLOCK, Calendar
from orchestrator.core.views import customer_view
from orchestrator.settings import OrchestratorSettings

MAKE_RUN_SCALE = 1440.0  # one simulated day per real minute


def durations(playbook: Playbook) -> list[timedelta]:
    """Every duration the playbook holds, in a fixed order."""
    found = [
        parse_duration(text)
        for play in playbook.plays
        for action in play.actions
        for text in (action.deadline, action.expires)
    ]
    found += [parse_duration(cap.window) for cap in playbook.policy.frequency_caps]
    found += [parse_duration(rule.deadline) for rule in playbook.owner_rules if rule.deadline]
    found += [parse_duration(r.sla) for process in playbook.processes for r in process.receives]
    return found


@pytest.mark.parametrize(
    ("text", "factor", "expected"),
    [
        ("1h", 1440, "2500ms"),
        ("7d", 1440, "420000ms"),
        ("15m", 2880, "312ms"),
        ("1d", 7, "12342857ms"),
        ("4h", 1, "14400000ms"),
        ("1s", 1e6, "1ms"),  # never zero: a deadline stays in the future
    ],
)
def test_a_duration_is_divided_by_the_scale(text: str, factor: float, expected: str) -> None:
    assert scaled_duration(text, factor) == expected
    assert parse_duration(expected) == timedelta(milliseconds=int(expected[:-2]))


def test_every_playbook_duration_is_divided_by_the_scale() -> None:
    shipped = load_playbook()
    scaled = shipped.time_scaled(MAKE_RUN_SCALE)
    before, after = durations(shipped), durations(scaled)
    assert len(before) == len(after) > 40
    for original, divided in zip(before, after, strict=True):
        assert abs(divided.total_seconds() - original.total_seconds() / MAKE_RUN_SCALE) < 0.001
    # The lead-to-sales hand-off's SLA (4h) and a 1d action deadline, in real seconds.
    transact = scaled.receiving_process("lead-to-sales", "sales")
    assert transact is not None
    assert transact.sla("lead-to-sales") == timedelta(seconds=10)
    assert any(
        parse_duration(a.deadline) == timedelta(seconds=60) for p in scaled.plays for a in p.actions
    )


def test_scaling_keeps_everything_but_the_durations() -> None:
    shipped = load_playbook()
    scaled = shipped.time_scaled(MAKE_RUN_SCALE)
    assert scaled.segments == shipped.segments
    assert scaled.expressions is shipped.expressions
    assert [p.id for p in scaled.plays] == [p.id for p in shipped.plays]
    for original, play in zip(shipped.plays, scaled.plays, strict=True):
        for a, b in zip(original.actions, play.actions, strict=True):
            assert a.model_copy(update={"deadline": b.deadline, "expires": b.expires}) == b
            # Expiry never comes before the deadline, scaled or not.
            assert parse_duration(b.expires) >= parse_duration(b.deadline)
    assert scaled.policy.suppressions == shipped.policy.suppressions
    assert scaled.policy.control_group_share == shipped.policy.control_group_share
    # The original is untouched (frozen specs, copied).
    assert durations(shipped) == durations(load_playbook())
    assert shipped.calendar == WALL_CLOCK
    assert scaled.calendar == Calendar(MAKE_RUN_SCALE)
    assert scaled.time_scaled(2).calendar == Calendar(2 * MAKE_RUN_SCALE)


def test_a_budget_period_is_scaled_like_every_duration() -> None:
    shipped = load_playbook()
    renewing = dataclasses.replace(
        shipped,
        segments=tuple(
            s.model_copy(update={"budget": s.budget.model_copy(update={"period": "30d"})})
            if s.budget is not None
            else s
            for s in shipped.segments
        ),
    )
    periods = {s.budget.period for s in renewing.time_scaled(MAKE_RUN_SCALE).segments if s.budget}
    assert periods == {"1800000ms"}  # 30 simulated days are 30 real minutes


def test_day_counts_follow_the_calendar() -> None:
    state = CustomerState(customer_id="c-1")
    state.complaints = [T0]
    state.first_purchase_at = T0
    state.last_engaged_at = T0
    thirty_one_minutes_on = T0 + timedelta(minutes=31, seconds=30)

    simulated = customer_view(state, thirty_one_minutes_on, Calendar(MAKE_RUN_SCALE))
    real = customer_view(state, thirty_one_minutes_on, WALL_CLOCK)

    for fact in ("days_since_complaint", "days_since_first_purchase", "days_since_engaged"):
        assert (simulated[fact], real[fact]) == (31, 0), fact
    assert simulated["complaints_90d"] == real["complaints_90d"] == 1
    ninety_minutes_on = T0 + timedelta(minutes=90)
    assert customer_view(state, ninety_minutes_on, Calendar(MAKE_RUN_SCALE))["complaints_90d"] == 0
    assert customer_view(state, ninety_minutes_on, WALL_CLOCK)["complaints_90d"] == 1


def test_the_value_model_spreads_revenue_over_simulated_years() -> None:
    state = CustomerState(customer_id="c-1")
    state.revenue_to_date_minor = 2_400_000
    state.first_purchase_at = T0
    two_simulated_years_on = T0 + timedelta(days=2 * 365) / MAKE_RUN_SCALE
    simulated = predicted_lifetime_value_minor(
        state, two_simulated_years_on, Calendar(MAKE_RUN_SCALE)
    )
    real = predicted_lifetime_value_minor(state, two_simulated_years_on, WALL_CLOCK)
    # Half the annual value after two years; under a year counts as one (docs: the model).
    assert simulated * 2 == pytest.approx(real, abs=2)


def test_promotions_resume_30_simulated_days_after_a_complaint(
    playbook: Playbook, make_event: EventFactory
) -> None:
    # A complaint stops promotions; its case is resolved 31 real minutes later.
    events = [
        make_event("servicedesk.complaint.received", DESK, at=T0),
        make_event("servicedesk.case.resolved", DESK, at=T0 + timedelta(minutes=31)),
    ]
    resumed = ("marketing.resume-promotions", "urgent-case-resolved")

    real = feed(LocalEngine(playbook), events)
    scaled = dataclasses.replace(playbook, calendar=Calendar(MAKE_RUN_SCALE))
    simulated = feed(LocalEngine(scaled), events)

    assert resumed in actions(simulated)  # 31 simulated days on
    assert resumed not in actions(real)  # 31 minutes on


def test_a_scale_of_one_is_the_playbook_itself() -> None:
    shipped = load_playbook()
    assert shipped.time_scaled(1.0) is shipped


@pytest.mark.parametrize("factor", [0.0, -2.0])
def test_a_scale_must_be_positive(factor: float) -> None:
    with pytest.raises(ValueError, match="> 0"):
        load_playbook().time_scaled(factor)


def test_the_setting_defaults_to_real_time_and_refuses_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ORCHESTRATOR_TIME_SCALE", raising=False)
    assert OrchestratorSettings().time_scale == 1.0
    monkeypatch.setenv("ORCHESTRATOR_TIME_SCALE", "1440")
    assert OrchestratorSettings().time_scale == MAKE_RUN_SCALE
    monkeypatch.setenv("ORCHESTRATOR_TIME_SCALE", "0")
    with pytest.raises(ValueError, match="greater than 0"):
        OrchestratorSettings()
