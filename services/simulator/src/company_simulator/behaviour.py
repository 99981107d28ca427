"""How simulated customers and staff respond to treatment. Small on purpose.

This model exists to exercise the loop, not to claim real-world effects (docs/simulation.md):
- a fast sales contact on a hot lead (within `fast_contact`) raises conversion;
- a promotion while a P1/P2 case is open annoys: lower satisfaction, higher churn;
- proactive outreach or a retention offer after a complaint lowers churn;
- onboarding started by the service desk halves fulfilment problems;
- a prioritised case or a senior agent resolves urgent cases faster.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from lifecycle_schemas.vocabulary import CasePriority


class TreatmentEffect(StrEnum):
    """What a completed action (or a contradiction) did to a customer."""

    PROMOTIONS_SUPPRESSED = "promotions-suppressed"
    PROMOTIONS_RESUMED = "promotions-resumed"
    OFFER_SENT = "offer-sent"
    SALES_CALLED = "sales-called"
    OWNER_ASSIGNED = "owner-assigned"
    RETENTION_OUTREACH = "retention-outreach"
    ONBOARDING_STARTED = "onboarding-started"
    CASE_PRIORITISED = "case-prioritised"
    PROMOTION_DURING_URGENT_CASE = "promotion-during-urgent-case"


# The last dotted part of an action type before the version names what was asked.
_EFFECT_BY_ACTION_NAME = {
    "suppress-promotions": TreatmentEffect.PROMOTIONS_SUPPRESSED,
    "resume-promotions": TreatmentEffect.PROMOTIONS_RESUMED,
    "send-offer": TreatmentEffect.OFFER_SENT,
    "call-customer": TreatmentEffect.SALES_CALLED,
    "assign-owner": TreatmentEffect.OWNER_ASSIGNED,
    "offer-retention": TreatmentEffect.RETENTION_OUTREACH,
    "proactive-outreach": TreatmentEffect.RETENTION_OUTREACH,
    "start-onboarding": TreatmentEffect.ONBOARDING_STARTED,
    "prioritise-case": TreatmentEffect.CASE_PRIORITISED,
    "assign-senior-agent": TreatmentEffect.CASE_PRIORITISED,
}


def effect_of_action(action_type: str) -> TreatmentEffect | None:
    """The effect completing an action of this type has (None: no effect on behaviour)."""
    parts = action_type.split(".")
    name = parts[-2] if len(parts) >= 2 else action_type
    return _EFFECT_BY_ACTION_NAME.get(name)


@dataclass(frozen=True)
class StaffBehaviour:
    """How department staff work their inboxes."""

    let_slip_probability: float = 0.07
    decline_probability: float = 0.08
    late_probability: float = 0.1


@dataclass(frozen=True)
class BehaviourModel:
    """Every probability and delay of the simulated company, in one place."""

    # Marketing promotes to leads from this score on; sales wants them from the hot score on,
    # the same threshold as the orchestrator's hot-lead play and lead-to-sales owner rule.
    engaged_lead_score: int = 70
    hot_lead_score: int = 80
    fast_contact: timedelta = timedelta(hours=24)
    base_conversion: float = 0.25
    fast_contact_conversion: float = 0.45
    consent_withdrawal_probability: float = 0.01
    incident_share: float = 0.05
    complaint_probability: float = 0.6
    base_churn: float = 0.08
    churn_after_complaint: float = 0.35
    churn_after_complaint_with_outreach: float = 0.12
    churn_added_by_promotion_during_urgent_case: float = 0.15
    staff: StaffBehaviour = field(default_factory=StaffBehaviour)

    def siloed_sales_pickup(self, rng: random.Random) -> timedelta:
        """How long sales takes to notice a hot lead on its own: one to five days."""
        return timedelta(hours=rng.uniform(24, 120))

    def conversion_probability(self, fast_contact: bool) -> float:
        return self.fast_contact_conversion if fast_contact else self.base_conversion

    def fulfilment_problem_probability(self, onboarded: bool) -> float:
        return 0.05 if onboarded else 0.1

    def resolution_hours(self, priority: CasePriority, rng: random.Random) -> float:
        typical = {
            CasePriority.P1: 8,
            CasePriority.P2: 24,
            CasePriority.P3: 72,
            CasePriority.P4: 120,
        }
        return typical[priority] * rng.uniform(0.5, 1.5)

    def satisfaction(self, priority: CasePriority, annoyed: bool, rng: random.Random) -> int:
        """CSAT 1-5 after a case; urgent cases and contradictory contacts pull it down."""
        score = rng.choice((3, 4, 4, 5, 5))
        if priority in (CasePriority.P1, CasePriority.P2):
            score -= 1
        if annoyed:
            score -= 2
        return max(1, min(5, score))

    def churn_probability(self, effects: set[TreatmentEffect], complained: bool) -> float:
        """Chance a customer cancels at a churn check, given what happened to them."""
        probability = self.base_churn
        if complained:
            outreach = TreatmentEffect.RETENTION_OUTREACH in effects
            probability = (
                self.churn_after_complaint_with_outreach if outreach else self.churn_after_complaint
            )
        if TreatmentEffect.PROMOTION_DURING_URGENT_CASE in effects:
            probability += self.churn_added_by_promotion_during_urgent_case
        return min(probability, 0.95)
