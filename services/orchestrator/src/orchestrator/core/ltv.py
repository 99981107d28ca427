"""Predicted customer lifetime value: a small, documented retention-margin model.

``LTV = annual value x r / (1 + d - r) + w x open pipeline`` where

* annual value = revenue to date / max(1, years since the first purchase);
* r, the yearly retention probability, starts at :data:`BASE_RETENTION` and moves with health
  (complaints in the last 90 days, an open P1/P2 case, the last NPS), clamped to [0.05, 0.95],
  and is 0 for a customer who cancelled;
* d = :data:`DISCOUNT_RATE`; w = :data:`PIPELINE_WEIGHT` (an open opportunity is worth a
  fraction of its amount until won).

Worked example (docs/orchestrator.md): EUR 12,000 revenue, first purchase a year ago, no health
signals (r = 0.8) and EUR 10,000 open pipeline: 12,000 x 0.8 / 0.3 + 0.3 x 10,000 = EUR 35,000.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.core.state import CustomerState
from orchestrator.core.timescale import Calendar

BASE_RETENTION = 0.8
DISCOUNT_RATE = 0.1
PIPELINE_WEIGHT = 0.3
COMPLAINT_WINDOW = timedelta(days=90)
YEAR = timedelta(days=365)


def retention_probability(state: CustomerState, now: datetime, calendar: Calendar) -> float:
    """The yearly probability that the customer stays, from their health signals."""
    if state.churned_at is not None:
        return 0.0
    r = BASE_RETENTION
    if any(calendar.elapsed(at, now) <= COMPLAINT_WINDOW for at in state.complaints):
        r -= 0.15
    if state.open_urgent_cases() > 0:
        r -= 0.1
    if state.last_nps is not None:
        if state.last_nps <= 6:
            r -= 0.1
        elif state.last_nps >= 9:
            r += 0.05
    return min(0.95, max(0.05, r))


def predicted_lifetime_value_minor(state: CustomerState, now: datetime, calendar: Calendar) -> int:
    """The customer's predicted lifetime value in minor units of their currency (years and the
    complaint window on the playbook's calendar)."""
    pipeline = sum(state.open_opportunities.values())
    value = PIPELINE_WEIGHT * pipeline
    if state.revenue_to_date_minor > 0 and state.first_purchase_at is not None:
        years = max(1.0, calendar.elapsed(state.first_purchase_at, now) / YEAR)
        annual = state.revenue_to_date_minor / years
        r = retention_probability(state, now, calendar)
        value += annual * r / (1 + DISCOUNT_RATE - r)
    return round(value)
