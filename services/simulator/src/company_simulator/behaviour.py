"""How simulated customers and staff respond to treatment. Small on purpose.

This model exists to exercise the loop, not to claim real-world effects (docs/simulation.md):
- a fast sales contact on a hot lead (within `fast_contact`) raises conversion;
- a promotion while a P1/P2 case is open annoys: lower satisfaction, higher churn;
- proactive outreach or a retention offer after a complaint lowers churn;
- onboarding started by the service desk halves fulfilment problems;
- a prioritised case or a senior agent halves the time an open case still needs;
- a renewal worked by sales before the renewal date (the renewal opportunity completed) raises the
  chance the customer renews; a complaint nobody reached out after, or a promotion during an
  urgent case, lowers it.
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
    OPPORTUNITY_CREATED = "opportunity-created"
    RENEWAL_WORKED = "renewal-worked"
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
    "create-opportunity": TreatmentEffect.OPPORTUNITY_CREATED,
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
    # Late staff accept this many simulated hours after the deadline: past the orchestrator's
    # deadline check (every 5 real seconds, 2 simulated hours at make run's speed), so it counts.
    late_by_hours: tuple[float, float] = (2.0, 8.0)


class OpeningStage(StrEnum):
    """Where a customer stands when the simulation starts: the company is already running."""

    NEW_LEAD = "new-lead"  # arrives from a campaign during the first weeks
    WARM_LEAD = "warm-lead"  # already in marketing's database, scored, being nurtured
    CUSTOMER = "customer"  # has a contract; perhaps an open upsell, an order on its way, a case


@dataclass(frozen=True)
class OpeningBase:
    """The existing base at t=0 (shares of the population, then of the customers)."""

    warm_lead_share: float = 0.2
    customer_share: float = 0.3
    open_expansion_share: float = 0.3
    quoted_share: float = 0.5  # of the open expansions: the quote is already out
    order_in_flight_share: float = 0.2
    open_case_share: float = 0.12
    pending_complaint_share: float = 0.03
    # The departments' systems send what they hold over the first simulated hours.
    backfill_hours: float = 2.0

    def stage(self, roll: float) -> OpeningStage:
        if roll < self.customer_share:
            return OpeningStage.CUSTOMER
        if roll < self.customer_share + self.warm_lead_share:
            return OpeningStage.WARM_LEAD
        return OpeningStage.NEW_LEAD


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
    base_churn: float = 0.03
    churn_after_complaint: float = 0.35
    churn_after_complaint_with_outreach: float = 0.12
    churn_added_by_promotion_during_urgent_case: float = 0.15
    consent_regrant_probability: float = 0.1
    click_probability: float = 0.5  # of opened e-mails
    visit_after_click_probability: float = 0.8
    form_after_visit_probability: float = 0.25
    expansion_conversion: float = 0.5
    renewal_base: float = 0.85
    renewal_worked: float = 0.95
    renewal_lost_to_unanswered_complaint: float = 0.25
    renewal_lost_to_promotion_during_urgent_case: float = 0.15
    prioritised_resolution_factor: float = 0.5
    staff: StaffBehaviour = field(default_factory=StaffBehaviour)
    opening: OpeningBase = field(default_factory=OpeningBase)

    def siloed_sales_pickup(self, rng: random.Random) -> timedelta:
        """How long sales takes to notice a hot lead on its own: one to five days."""
        return timedelta(hours=rng.uniform(24, 120))

    def siloed_onboarding_pickup(self, rng: random.Random) -> timedelta:
        """How long the service desk takes to learn of a new customer on its own: one to
        five days (a weekly export from the CRM)."""
        return timedelta(hours=rng.uniform(24, 120))

    def escalation_after(self, priority: CasePriority, rng: random.Random) -> timedelta | None:
        """When an urgent case still open is escalated to the second line (None: it is not)."""
        if priority not in (CasePriority.P1, CasePriority.P2):
            return None
        hours = rng.uniform(2, 6) if priority is CasePriority.P1 else rng.uniform(6, 18)
        return timedelta(hours=hours)

    def siloed_escalation_pickup(self, rng: random.Random) -> timedelta:
        """How long the second line's queue takes to pick an escalated case up by itself."""
        return timedelta(hours=rng.uniform(2, 12))

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

    def renewal_probability(self, effects: set[TreatmentEffect], complained: bool) -> float:
        """Chance a customer renews at the renewal date, given what happened to them."""
        worked = TreatmentEffect.RENEWAL_WORKED in effects
        probability = self.renewal_worked if worked else self.renewal_base
        if complained and TreatmentEffect.RETENTION_OUTREACH not in effects:
            probability -= self.renewal_lost_to_unanswered_complaint
        if TreatmentEffect.PROMOTION_DURING_URGENT_CASE in effects:
            probability -= self.renewal_lost_to_promotion_during_urgent_case
        return max(probability, 0.05)

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
