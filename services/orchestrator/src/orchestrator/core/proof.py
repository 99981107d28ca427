"""Proof of value: treated customers against the global control group, from customer states.

Pure: tallies are sums and lists (mergeable across workers), and the report turns them into rates
and means with 95 % confidence intervals (Wilson score intervals for rates, the normal
approximation for means) and hand-off times into a median with a distribution-free 95 % interval
(order statistics) and a 90th percentile. docs/proof-of-value.md defines each measure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lifecycle_schemas.vocabulary import HandoffKind
from orchestrator.core.control import in_control_group
from orchestrator.core.state import CustomerState

Z_95 = 1.959964
GROUPS = ("treated", "control")


@dataclass
class GroupTally:
    """Sums over one group's customers; adding two tallies merges two workers' counts."""

    customers: int = 0
    converted: int = 0
    churned: int = 0
    with_conflict: int = 0
    conflicting_contacts: int = 0
    missed_deadlines: int = 0
    missed_sq: int = 0
    revenue_minor: int = 0
    revenue_sq: float = 0.0
    # Seconds from the lead-to-sales hand-off to sales' first contact, one per customer.
    handoff_seconds: list[float] = field(default_factory=list)
    handoffs_waiting: int = 0
    # Per hand-off kind: seconds from the start to the receiving department taking it up, the
    # customer's first of that kind (core/handoffs.py), and the ones not taken up yet.
    handoff_seconds_by_kind: dict[str, list[float]] = field(default_factory=dict)
    handoffs_waiting_by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, state: CustomerState) -> None:
        """Count one customer."""
        missed = state.deadlines_missed
        for kind, handoff in state.handoffs.items():
            if handoff.first_seconds is not None:
                self.handoff_seconds_by_kind.setdefault(kind, []).append(handoff.first_seconds)
            else:
                waiting = self.handoffs_waiting_by_kind
                waiting[kind] = waiting.get(kind, 0) + 1
        if state.handoff_started_at is not None:
            if state.first_sales_contact_at is None:
                self.handoffs_waiting += 1
            else:
                waited = state.first_sales_contact_at - state.handoff_started_at
                self.handoff_seconds.append(max(0.0, waited.total_seconds()))
        self.customers += 1
        self.converted += state.purchases > 0
        self.churned += state.churned_at is not None
        self.with_conflict += state.conflicting_contacts > 0
        self.conflicting_contacts += state.conflicting_contacts
        self.missed_deadlines += missed
        self.missed_sq += missed * missed
        self.revenue_minor += state.revenue_to_date_minor
        self.revenue_sq += float(state.revenue_to_date_minor) ** 2

    def merge(self, other: GroupTally) -> None:
        """Add another tally's sums to this one."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                for key, value in theirs.items():
                    mine[key] = mine[key] + value if key in mine else value
            else:
                setattr(self, f.name, mine + theirs)


def tally(states: list[CustomerState], share: float) -> dict[str, GroupTally]:
    """Split live customers (not merged away, not erased) into treated and control, and sum."""
    groups = {name: GroupTally() for name in GROUPS}
    for state in states:
        if state.alias_of is not None or state.erased or not state.identifiers:
            continue
        group = "control" if in_control_group(state.customer_id, share) else "treated"
        groups[group].add(state)
    return groups


def export(groups: dict[str, GroupTally]) -> dict[str, dict[str, Any]]:
    """Tallies as JSON (``GET /internal/proof-tally``)."""
    return {name: asdict(t) for name, t in groups.items()}


def merge(exports: list[dict[str, dict[str, Any]]]) -> dict[str, GroupTally]:
    """Sum several workers' exported tallies."""
    total = {name: GroupTally() for name in GROUPS}
    for exported in exports:
        for name in GROUPS:
            total[name].merge(GroupTally(**exported.get(name, {})))
    return total


def wilson(successes: int, n: int, z: float = Z_95) -> dict[str, Any]:
    """A rate with its Wilson score interval (sound for small n and rates near 0 or 1)."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "count": 0, "n": 0}
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return {
        "value": round(p, 6),
        "low": round(max(0.0, centre - half), 6),
        "high": round(min(1.0, centre + half), 6),
        "count": successes,
        "n": n,
    }


def mean_interval(total: float, sum_sq: float, n: int, z: float = Z_95) -> dict[str, Any]:
    """A mean with its normal-approximation interval, from the sum and the sum of squares."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "total": 0, "n": 0}
    mean = total / n
    variance = max(0.0, (sum_sq - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    half = z * math.sqrt(variance / n)
    return {
        "value": round(mean, 6),
        "low": round(mean - half, 6),
        "high": round(mean + half, 6),
        "total": total,
        "n": n,
    }


def _nearest_rank(ordered: list[float], q: float) -> float:
    """The ``q`` quantile by the nearest-rank method (an observed value, no interpolation)."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def median_interval(values: list[float], z: float = Z_95) -> dict[str, Any]:
    """Median, 90th percentile and a distribution-free 95 % interval for the median.

    The interval runs between the order statistics of ranks ``n/2 -+ z*sqrt(n)/2`` (the normal
    approximation of the binomial that the count below the median follows); it needs no
    assumption about the shape of the distribution, which hand-off times (skewed) lack.
    """
    n = len(values)
    if n == 0:
        return {"median": None, "low": None, "high": None, "p90": None, "n": 0}
    ordered = sorted(values)
    half = z * math.sqrt(n) / 2
    low_rank = max(1, math.floor(n / 2 - half))
    high_rank = min(n, math.ceil(n / 2 + half) + 1)
    return {
        "median": round(_nearest_rank(ordered, 0.5), 3),
        "low": round(ordered[low_rank - 1], 3),
        "high": round(ordered[high_rank - 1], 3),
        "p90": round(_nearest_rank(ordered, 0.9), 3),
        "n": n,
    }


def report(groups: dict[str, GroupTally], share: float, time_scale: float = 1.0) -> dict[str, Any]:
    """Treated versus control: every measure per group, with counts and 95 % intervals.

    Hand-off times are measured on the worker's clock; against a simulated company running
    ``time_scale`` times faster (``ORCHESTRATOR_TIME_SCALE``) they are reported in its hours.
    """
    measures: dict[str, dict[str, Any]] = {}
    for name, t in groups.items():
        n = t.customers
        measures[name] = {
            "customers": n,
            "conversion_rate": wilson(t.converted, n),
            "churn_rate": wilson(t.churned, n),
            "revenue_per_customer_eur": _in_major(mean_interval(t.revenue_minor, t.revenue_sq, n)),
            "conflicting_contact_rate": wilson(t.with_conflict, n),
            "conflicting_contacts": t.conflicting_contacts,
            "missed_deadlines_per_customer": mean_interval(t.missed_deadlines, t.missed_sq, n),
            "missed_deadlines": t.missed_deadlines,
            "handoff_hours": _in_hours(median_interval(t.handoff_seconds), time_scale),
            "handoffs_waiting": t.handoffs_waiting,
            "handoffs_by_kind": {
                kind.value: {
                    "hours": _in_hours(
                        median_interval(t.handoff_seconds_by_kind.get(kind.value, [])), time_scale
                    ),
                    "waiting": t.handoffs_waiting_by_kind.get(kind.value, 0),
                }
                for kind in HandoffKind
            },
        }
    return {
        "control_group_share": share,
        "confidence": 0.95,
        "time_scale": time_scale,
        "groups": measures,
        "lift": lifts(measures["treated"], measures["control"]),
    }


# The measures whose treated-minus-control difference the report gives: rates, then means.
RATE_MEASURES = ("conversion_rate", "churn_rate", "conflicting_contact_rate")
MEAN_MEASURES = ("revenue_per_customer_eur", "missed_deadlines_per_customer")


def rate_difference(treated: dict[str, Any], control: dict[str, Any]) -> dict[str, Any]:
    """Treated minus control of two rates (:func:`wilson`), with Newcombe's hybrid score
    interval: built from each group's Wilson interval, so sound where they are (small groups,
    rates near 0 or 1) and never wider than the two rates allow."""
    p1, p2 = treated["value"], control["value"]
    if p1 is None or p2 is None:
        return {"value": None, "low": None, "high": None}
    low = (p1 - p2) - math.sqrt((p1 - treated["low"]) ** 2 + (control["high"] - p2) ** 2)
    high = (p1 - p2) + math.sqrt((treated["high"] - p1) ** 2 + (p2 - control["low"]) ** 2)
    return {"value": round(p1 - p2, 6), "low": round(low, 6), "high": round(high, 6)}


def mean_difference(
    treated: dict[str, Any], control: dict[str, Any], z: float = Z_95
) -> dict[str, Any]:
    """Treated minus control of two means (:func:`mean_interval`), with the normal
    approximation's interval (each group's standard error read back from its interval)."""
    m1, m2 = treated["value"], control["value"]
    if m1 is None or m2 is None:
        return {"value": None, "low": None, "high": None}
    se1 = (treated["high"] - treated["low"]) / (2 * z)
    se2 = (control["high"] - control["low"]) / (2 * z)
    half = z * math.sqrt(se1 * se1 + se2 * se2)
    return {
        "value": round(m1 - m2, 6),
        "low": round(m1 - m2 - half, 6),
        "high": round(m1 - m2 + half, 6),
    }


def lifts(treated: dict[str, Any], control: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per measure, treated minus control with its 95 % interval; an interval that does not
    hold 0 is ``significant``."""
    found = {m: rate_difference(treated[m], control[m]) for m in RATE_MEASURES}
    found |= {m: mean_difference(treated[m], control[m]) for m in MEAN_MEASURES}
    for lift in found.values():
        lift["significant"] = lift["low"] is not None and not lift["low"] <= 0 <= lift["high"]
    return found


def _in_hours(interval: dict[str, Any], time_scale: float) -> dict[str, Any]:
    return {
        k: (round(v * time_scale / 3600, 4) if isinstance(v, int | float) and k != "n" else v)
        for k, v in interval.items()
    }


def _in_major(interval: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (round(v / 100, 2) if isinstance(v, int | float) and k != "n" else v)
        for k, v in interval.items()
    }
