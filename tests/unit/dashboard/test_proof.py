"""Proof of value: treated versus control tallies and their confidence intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.core import proof
from orchestrator.core.control import in_control_group
from orchestrator.core.state import ActionStatus, CustomerState, Handoff, Identifier, OpenAction

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def customer(
    customer_id: str,
    *,
    purchases: int = 0,
    revenue: int = 0,
    churned: bool = False,
    conflicts: int = 0,
    missed: int = 0,
) -> CustomerState:
    state = CustomerState.new(customer_id)
    state.identifiers = [
        Identifier(kind="email", value=f"{customer_id}@example.com", first_seen=T0)
    ]
    state.purchases = purchases
    state.revenue_to_date_minor = revenue
    state.churned_at = T0 if churned else None
    state.conflicting_contacts = conflicts
    state.deadlines_missed = missed  # counted when the deadline passes, whatever comes after
    for n in range(missed):
        state.open_actions[f"a{n}"] = OpenAction(
            action_id=f"a{n}",
            action_type="t",
            department="sales",
            play_id="p",
            play_version=1,
            priority="normal",
            created_at=T0,
            deadline=T0,
            expires_at=T0,
            status=ActionStatus.MISSED,
            trigger_event_id="e",
        )
    return state


def test_wilson_interval_matches_the_textbook_values() -> None:
    rate = proof.wilson(5, 10)
    assert rate["value"] == 0.5
    assert rate["low"] == pytest.approx(0.2366, abs=1e-4)
    assert rate["high"] == pytest.approx(0.7634, abs=1e-4)
    zero = proof.wilson(0, 20)
    assert zero["low"] == 0.0
    assert zero["high"] == pytest.approx(0.1611, abs=1e-4)
    assert proof.wilson(0, 0)["value"] is None


def test_mean_interval_from_sums() -> None:
    values = [2.0, 4.0, 6.0, 8.0]
    interval = proof.mean_interval(sum(values), sum(v * v for v in values), len(values))
    assert interval["value"] == 5.0
    # sample sd = 2.582, se = 1.291, half width = 2.530
    assert interval["low"] == pytest.approx(2.470, abs=1e-3)
    assert interval["high"] == pytest.approx(7.530, abs=1e-3)
    assert proof.mean_interval(0, 0, 0)["value"] is None


def test_customers_split_by_the_control_hash_and_merged_or_erased_ones_are_left_out() -> None:
    ids = [f"cust-{i}" for i in range(400)]
    states = [customer(i, purchases=1, revenue=10_000) for i in ids]
    gone = customer("cust-merged")
    gone.alias_of = "cust-1"
    erased = customer("cust-erased")
    erased.erased = True
    groups = proof.tally([*states, gone, erased], 0.10)
    control = sum(in_control_group(i, 0.10) for i in ids)
    assert groups["control"].customers == control
    assert groups["treated"].customers == 400 - control
    assert groups["treated"].revenue_minor == 10_000 * (400 - control)


def test_report_has_counts_rates_and_intervals_per_group() -> None:
    states = [
        customer("a", purchases=1, revenue=50_000, conflicts=0, missed=1),
        customer("b", churned=True, conflicts=2),
        customer("c", purchases=2, revenue=150_000),
        customer("d"),
    ]
    body = proof.report(proof.tally(states, 0.0), 0.0)
    treated = body["groups"]["treated"]
    assert body["groups"]["control"]["customers"] == 0
    assert treated["customers"] == 4
    assert treated["conversion_rate"]["count"] == 2
    assert treated["conversion_rate"]["value"] == 0.5
    assert treated["churn_rate"]["count"] == 1
    assert treated["conflicting_contact_rate"]["count"] == 1
    assert treated["conflicting_contacts"] == 2
    assert treated["missed_deadlines"] == 1
    assert treated["revenue_per_customer_eur"]["value"] == 500.0
    assert (
        treated["revenue_per_customer_eur"]["low"]
        < 500.0
        < treated["revenue_per_customer_eur"]["high"]
    )


def test_worker_exports_merge_into_the_sum() -> None:
    one = proof.tally([customer("a", purchases=1, revenue=100)], 0.0)
    two = proof.tally([customer("b", churned=True)], 0.0)
    merged = proof.merge([proof.export(one), proof.export(two), {}])
    assert merged["treated"].customers == 2
    assert merged["treated"].converted == 1
    assert merged["treated"].churned == 1
    assert merged["treated"].revenue_minor == 100


def test_median_interval_uses_order_statistics() -> None:
    # 1..100: median 50, ranks 50 -+ 1.96 x 10 / 2 give 40 and 61, p90 is 90.
    assert proof.median_interval([float(v) for v in range(100, 0, -1)]) == {
        "median": 50.0,
        "low": 40.0,
        "high": 61.0,
        "p90": 90.0,
        "n": 100,
    }
    assert proof.median_interval([])["median"] is None
    single = proof.median_interval([7.0])
    assert (single["low"], single["median"], single["high"]) == (7.0, 7.0, 7.0)


def test_hand_off_hours_per_group_merge_across_workers() -> None:
    waited = customer("a")
    waited.handoff_started_at = T0
    waited.first_sales_contact_at = T0 + timedelta(hours=3)
    waiting = customer("b")
    waiting.handoff_started_at = T0
    first = proof.export(proof.tally([waited, waiting], 0.0))
    other = customer("c")
    other.handoff_started_at = T0
    other.first_sales_contact_at = T0 + timedelta(hours=9)
    second = proof.export(proof.tally([other], 0.0))
    body = proof.report(proof.merge([first, second]), 0.0)
    treated = body["groups"]["treated"]
    assert treated["handoffs_waiting"] == 1
    assert treated["handoff_hours"]["n"] == 2
    assert treated["handoff_hours"]["median"] == 3.0
    assert treated["handoff_hours"]["p90"] == 9.0


def test_hand_off_hours_are_the_simulated_company_s_under_a_time_scale() -> None:
    # Live against make run's company (1,440 simulated seconds per real second), a hand-off of
    # 10 real seconds is 4 of the company's hours.
    customer_a = customer("a")
    customer_a.handoff_started_at = T0
    customer_a.first_sales_contact_at = T0 + timedelta(seconds=10)
    body = proof.report(proof.tally([customer_a], 0.0), 0.0, time_scale=1440)
    assert body["time_scale"] == 1440
    assert body["groups"]["treated"]["handoff_hours"]["median"] == 4.0


def handed_off(customer_id: str, kind: str, seconds: float | None) -> CustomerState:
    """A customer whose first hand-off of ``kind`` took ``seconds`` (None: still waiting)."""
    state = customer(customer_id)
    ended = None if seconds is None else T0 + timedelta(seconds=seconds)
    state.handoffs[kind] = Handoff(
        from_department="sales",
        to_department="service-desk",
        started_at=T0,
        due_at=T0 + timedelta(days=1),
        ended_at=ended,
        first_seconds=seconds,
    )
    return state


def test_hand_off_times_are_broken_down_by_kind_and_group() -> None:
    share = 0.5
    ids = [f"k{n}" for n in range(40)]
    control = [i for i in ids if in_control_group(i, share)]
    treated = [i for i in ids if not in_control_group(i, share)]
    states = [
        *(handed_off(i, "sale-to-onboarding", 3600.0) for i in treated[:3]),
        handed_off(treated[3], "sale-to-onboarding", None),
        *(handed_off(i, "sale-to-onboarding", 7200.0 * 5) for i in control[:2]),
        handed_off(control[2], "case-escalation", 1800.0),
    ]
    # Two workers' shares of the customers, merged.
    body = proof.report(
        proof.merge(
            [
                proof.export(proof.tally(states[:3], share)),
                proof.export(proof.tally(states[3:], share)),
            ]
        ),
        share,
    )
    by_kind = {g: body["groups"][g]["handoffs_by_kind"] for g in ("treated", "control")}
    assert set(by_kind["treated"]) == {
        "lead-to-sales",
        "sale-to-onboarding",
        "case-escalation",
        "reassignment",
    }
    onboarding = {g: by_kind[g]["sale-to-onboarding"] for g in by_kind}
    assert (onboarding["treated"]["hours"]["median"], onboarding["treated"]["hours"]["n"]) == (
        1.0,
        3,
    )
    assert onboarding["treated"]["waiting"] == 1
    assert (onboarding["control"]["hours"]["median"], onboarding["control"]["waiting"]) == (10.0, 0)
    assert by_kind["control"]["case-escalation"]["hours"]["median"] == 0.5
    assert by_kind["treated"]["case-escalation"]["hours"]["n"] == 0


def test_rate_lift_is_newcombes_hybrid_score_interval() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 against 48/80 gives
    # 0.2 with the interval 0.0524 to 0.3339 (method 10).
    lift = proof.rate_difference(proof.wilson(56, 70), proof.wilson(48, 80))
    assert lift["value"] == pytest.approx(0.2)
    assert lift["low"] == pytest.approx(0.0524, abs=1e-4)
    assert lift["high"] == pytest.approx(0.3339, abs=1e-4)
    # A group with nobody in it has no rate: no lift either.
    assert proof.rate_difference(proof.wilson(3, 10), proof.wilson(0, 0))["value"] is None


def test_mean_lift_adds_the_groups_variances() -> None:
    treated = proof.mean_interval(total=50.0, sum_sq=300.0, n=10)  # mean 5, variance 5.556
    control = proof.mean_interval(total=30.0, sum_sq=100.0, n=10)  # mean 3, variance 1.111
    lift = proof.mean_difference(treated, control)
    half = proof.Z_95 * ((50 / 9) / 10 + (10 / 9) / 10) ** 0.5
    assert lift["value"] == pytest.approx(2.0)
    assert (lift["low"], lift["high"]) == pytest.approx((2.0 - half, 2.0 + half), abs=1e-5)


def test_report_gives_each_lift_and_says_whether_its_interval_holds_zero() -> None:
    share = 0.5
    ids = [f"c{n}" for n in range(400)]
    control = [i for i in ids if in_control_group(i, share)]
    treated = [i for i in ids if not in_control_group(i, share)]
    # Every treated customer buys, no control customer does: a lift far from zero.
    states = [customer(i, purchases=1, revenue=1000) for i in treated]
    states += [customer(i) for i in control]
    report = proof.report(proof.tally(states, share), share)
    conversion = report["lift"]["conversion_rate"]
    assert conversion["value"] == 1.0
    assert 0 < conversion["low"] < conversion["high"] <= 1.0
    assert conversion["significant"] is True
    revenue = report["lift"]["revenue_per_customer_eur"]
    assert revenue["value"] == pytest.approx(10.0)
    # Nobody churned in either group: no difference, and an interval around zero.
    churn = report["lift"]["churn_rate"]
    assert churn["value"] == 0.0
    assert churn["low"] < 0 < churn["high"]
    assert churn["significant"] is False
    assert set(report["lift"]) == {
        "conversion_rate",
        "churn_rate",
        "conflicting_contact_rate",
        "revenue_per_customer_eur",
        "missed_deadlines_per_customer",
    }
