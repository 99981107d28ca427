"""The simulated company as a discrete-event world: pure, seeded, no I/O, no clock.

`World.advance(until)` runs everything due up to a simulated time and returns what the
departments' systems would send: customer events, and outcomes of the actions their staff
worked on. `World.receive_action(...)` hands the world an action read from a department's
inbox; the staff decide (accept, complete, decline, or let it slip past its deadline) and the
customer responds to what was done, by the treatment-response rules in `behaviour`.

The company is already running at the start (unless ``existing_base=False``): customers with
contracts part-way through their terms, open upsells, orders and cases, and warm leads, as
``OpeningBase`` in ``behaviour`` sets out; new leads keep arriving. Each customer draws from a
random stream of their own, so the same seed gives the same customers and the same untreated
behaviour in coordinated and siloed runs.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from company_simulator.behaviour import (
    BehaviourModel,
    OpeningStage,
    TreatmentEffect,
    effect_of_action,
)
from company_simulator.population import SimulatedCustomer
from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import CloudEvent, stable_id
from lifecycle_schemas.events import marketing, sales, service_desk
from lifecycle_schemas.outcomes import DeclineReason
from lifecycle_schemas.vocabulary import (
    CaseChannel,
    CasePriority,
    ConsentStatus,
    ContactChannel,
    DealKind,
    Money,
    OwnerRef,
    ProductLine,
)

DAY = timedelta(days=1)
# The hand-off kinds the world times, as the orchestrator names them (HandoffKind).
LEAD_TO_SALES, SALE_TO_ONBOARDING, CASE_ESCALATION = (
    "lead-to-sales",
    "sale-to-onboarding",
    "case-escalation",
)
URGENT_PRIORITIES = frozenset({CasePriority.P1, CasePriority.P2})
PRODUCTS = ("analytics-suite", "forecasting", "data-connectors", "support-plus")
# Suppression-list changes that marketing's campaign tool applies itself, without staff.
AUTOMATED_EFFECTS = frozenset(
    {TreatmentEffect.PROMOTIONS_SUPPRESSED, TreatmentEffect.PROMOTIONS_RESUMED}
)


class Mode(StrEnum):
    """Coordinated: departments work the orchestrator's actions. Siloed: their own rules only."""

    COORDINATED = "coordinated"
    SILOED = "siloed"


@dataclass(frozen=True)
class OutgoingEvent:
    """A customer event a department's system posts to its department service."""

    at: datetime
    department: Department
    record: CloudEvent[Any]


@dataclass(frozen=True)
class OutcomeReport:
    """What a department's staff did with an action, posted to the action's outcome endpoint."""

    at: datetime
    department: Department
    action_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ContactQuestion:
    """Marketing asks the orchestrator before one of its own promotional sends
    (``POST /v1/contact-requests``); the answer goes back through ``World.contact_answered``."""

    at: datetime
    department: Department
    question_id: str
    customer: dict[str, str]
    channel: str
    purpose: str
    campaign_id: str


Step = OutgoingEvent | OutcomeReport | ContactQuestion


@dataclass
class Journey:
    """Where one customer stands; the world's ground truth, never sent as such."""

    customer: SimulatedCustomer
    rng: random.Random
    lead_score: int = 0
    engaged_since: datetime | None = None
    hot_since: datetime | None = None
    first_sales_contact: datetime | None = None
    qualified: bool = False
    opportunity_id: str | None = None
    contract_id: str | None = None
    won: bool = False
    lost: bool = False
    contract_ends: datetime | None = None
    renewals: int = 0
    churned: bool = False
    erased: bool = False
    revenue_minor: int = 0
    open_cases: dict[str, CasePriority] = field(default_factory=dict)
    case_resolves_at: dict[str, datetime] = field(default_factory=dict)
    complaint_at: datetime | None = None
    promotions_suppressed_until: datetime | None = None
    email_consent: bool = True
    effects: set[TreatmentEffect] = field(default_factory=set)
    handled_actions: set[str] = field(default_factory=set)
    conflicting_contacts: int = 0
    # Hand-offs waiting for their receiving department: since when (core/handoffs.py's kinds).
    onboarding_since: datetime | None = None
    escalated_since: dict[str, datetime] = field(default_factory=dict)
    # Draws for hand-offs come from a stream of their own, so the customer's other behaviour
    # (its own stream) is what it was before hand-offs were simulated.
    handoff_rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def active(self) -> bool:
        return not (self.churned or self.erased)

    def has_urgent_case(self) -> bool:
        return any(priority in URGENT_PRIORITIES for priority in self.open_cases.values())


@dataclass
class Tally:
    """What happened, counted by the world itself: the simulator's summary."""

    events: int = 0
    existing_customers: int = 0
    leads: int = 0
    emails_clicked: int = 0
    forms_submitted: int = 0
    hot_leads: int = 0
    deals_won: int = 0
    deals_lost: int = 0
    expansions_won: int = 0
    expansions_lost: int = 0
    renewals: int = 0
    lapsed: int = 0
    churned: int = 0
    revenue_minor: int = 0
    promotions_sent: int = 0
    # Marketing's own promotions the orchestrator denied when asked (coordinated, asking).
    promotions_denied: int = 0
    conflicting_contacts: int = 0
    cases_opened: int = 0
    complaints: int = 0
    actions_received: int = 0
    actions_completed: int = 0
    actions_declined: int = 0
    actions_let_slip: int = 0
    handoff_hours: list[float] = field(default_factory=list, repr=False)
    escalations: int = 0
    # Hours from each hand-off to its receiving department taking it up, by kind.
    handoff_hours_by_kind: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def median_handoff_hours(self) -> float | None:
        """Median time from a lead turning hot to the first sales contact."""
        return _median(self.handoff_hours)

    def median_handoff_hours_by_kind(self) -> dict[str, float | None]:
        """Median hours to take up a hand-off, per kind (lead-to-sales: the first contact)."""
        kinds = {LEAD_TO_SALES: self.handoff_hours, **self.handoff_hours_by_kind}
        return {kind: _median(hours) for kind, hours in sorted(kinds.items())}


def _median(values: list[float]) -> float | None:
    return sorted(values)[len(values) // 2] if values else None


class World:
    """A company of `population` customers from simulated time `start` on."""

    def __init__(
        self,
        population: list[SimulatedCustomer],
        *,
        seed: int,
        start: datetime,
        mode: Mode = Mode.COORDINATED,
        behaviour: BehaviourModel | None = None,
        arrival_days: float = 20.0,
        existing_base: bool = True,
        ask_before_promotions: bool = False,
    ) -> None:
        self.mode = mode
        # Marketing's own weekly promotion asks the orchestrator first (ContactQuestion steps).
        self.ask_before_promotions = ask_before_promotions
        self._questions: dict[str, tuple[Journey, str]] = {}
        self.behaviour = behaviour or BehaviourModel()
        self.tally = Tally()
        self.now = start
        self._seed = seed
        self._start = start
        self._queue: list[tuple[datetime, int, Callable[[], Iterator[Step]]]] = []
        self._sequence = itertools.count()
        self._record_numbers = itertools.count()
        self._journeys = [
            Journey(
                customer,
                random.Random(f"customer:{seed}:{customer.number}"),
                handoff_rng=random.Random(f"handoffs:{seed}:{customer.number}"),
            )
            for customer in population
        ]
        self._by_identifier: dict[str, Journey] = {}
        for journey in self._journeys:
            c = journey.customer
            for identifier in (
                c.email,
                c.phone,
                c.marketing_contact_id,
                c.crm_account_id,
                c.helpdesk_requester_id,
            ):
                self._by_identifier[identifier] = journey
        arrivals = random.Random(f"arrivals:{seed}")
        # A company that is already running: warm leads and customers exist at t=0 (the
        # departments' systems send what they hold over the first hours), new leads keep coming.
        opening = random.Random(f"opening:{seed}")
        base = self.behaviour.opening
        for journey in self._journeys:
            arrives = start + timedelta(days=arrivals.uniform(0, arrival_days))
            stage = base.stage(opening.random()) if existing_base else OpeningStage.NEW_LEAD
            backfill_at = start + timedelta(hours=opening.uniform(0, base.backfill_hours))
            if stage is OpeningStage.CUSTOMER:
                self._schedule(backfill_at, functools.partial(self._existing_customer, journey))
            elif stage is OpeningStage.WARM_LEAD:
                self._schedule(backfill_at, functools.partial(self._warm_lead, journey))
            else:
                self._schedule(arrives, functools.partial(self._arrive, journey))
        self._schedule(start + timedelta(days=arrivals.uniform(3, 10)), self._product_incident)
        # Marketing's weekly send goes out on the first morning, then every seven days.
        self._schedule(start + timedelta(hours=18), self._weekly_promotion)

    # -- the public surface -------------------------------------------------------------------

    def advance(self, until: datetime) -> list[Step]:
        """Run everything due up to `until`; return what the departments send, in time order."""
        steps: list[Step] = []
        while self._queue and self._queue[0][0] <= until:
            steps.extend(self.step())
        self.now = max(self.now, until)
        return steps

    def next_at(self) -> datetime | None:
        """When the next thing happens (None: nothing is scheduled)."""
        return self._queue[0][0] if self._queue else None

    def step(self) -> list[Step]:
        """Run the earliest scheduled happening alone, so a caller can react before the next.

        The in-process coordinated run (tests) hands each event to the orchestrator's core and
        its actions back to the staff between two steps: no transport latency.
        """
        if not self._queue:
            return []
        at, _, handler = heapq.heappop(self._queue)
        self.now = max(self.now, at)
        steps = list(handler())
        self.tally.events += sum(isinstance(step, OutgoingEvent) for step in steps)
        return steps

    def receive_action(
        self, department: Department, action: dict[str, Any], *, deadline: datetime | None = None
    ) -> bool:
        """An action seen in a department's inbox; False when it is unknown or already handled.

        ``deadline`` is the action's deadline on this world's clock; without it the action's own
        deadline is taken as simulated time (the in-process run, where both clocks are one).
        """
        record = action.get("record") or {}
        data = record.get("data") or {}
        journey = self._journey_for(data.get("customer") or {})
        action_id = str(action.get("action_id") or record.get("id") or "")
        if journey is None or not action_id or action_id in journey.handled_actions:
            return False
        journey.handled_actions.add(action_id)
        self.tally.actions_received += 1
        action_type = str(action.get("type") or record.get("type") or "")
        if deadline is None:
            deadline = action_deadline(action) or self.now + DAY
        self._staff_work(journey, department, action_id, action_type, data, deadline)
        return True

    def journeys(self) -> list[Journey]:
        """Every customer's journey (read-only use: reports and tests)."""
        return list(self._journeys)

    # -- scheduling ---------------------------------------------------------------------------

    def _schedule(self, at: datetime, handler: Callable[[], Iterator[Step]]) -> None:
        heapq.heappush(self._queue, (at, next(self._sequence), handler))

    def _later(self, journey: Journey, low_hours: float, high_hours: float) -> datetime:
        return self.now + timedelta(hours=journey.rng.uniform(low_hours, high_hours))

    def _event(
        self, department: Department, model: type[CloudEvent[Any]], data: Any
    ) -> OutgoingEvent:
        number = next(self._record_numbers)
        record = model.build(data, time=self.now, id=stable_id("simulated", self._seed, number))
        return OutgoingEvent(self.now, department, record)

    def _journey_for(self, identifiers: dict[str, Any]) -> Journey | None:
        for value in identifiers.values():
            journey = self._by_identifier.get(str(value))
            if journey is not None:
                return journey
        return None

    # -- engage -------------------------------------------------------------------------------

    def _captured(self, journey: Journey, *, imported: bool = False) -> OutgoingEvent:
        """Marketing captures the contact: the first record of every lead, or of a customer
        imported from the CRM (no acquisition campaign)."""
        c = journey.customer
        return self._event(
            Department.MARKETING,
            marketing.ContactCaptured,
            marketing.ContactCapturedData(
                customer=c.reference_for(Department.MARKETING),
                lead_source="customer-import"
                if imported
                else journey.rng.choice(("web-form", "webinar", "referral", "trade-show")),
                campaign_id=None if imported else "cmp-sim-acquisition",
                profile=marketing.ContactProfile(
                    given_name=c.given_name, family_name=c.family_name, company=c.company
                ),
            ),
        )

    def _arrive(self, journey: Journey) -> Iterator[Step]:
        self.tally.leads += 1
        yield self._captured(journey)
        self._schedule(self._later(journey, 6, 48), lambda: self._nurture(journey))
        self._schedule(self._later(journey, 24 * 5, 24 * 60), lambda: self._open_case(journey))

    def _warm_lead(self, journey: Journey) -> Iterator[Step]:
        """A lead marketing already knows: captured earlier, scored, being nurtured."""
        c = journey.customer
        rng = journey.rng
        self.tally.leads += 1
        yield self._captured(journey)
        journey.lead_score = rng.randint(50, self.behaviour.hot_lead_score - 2)
        if journey.lead_score >= self.behaviour.engaged_lead_score:
            journey.engaged_since = self.now
        yield self._event(
            Department.MARKETING,
            marketing.LeadScored,
            marketing.LeadScoredData(
                customer=c.reference_for(Department.MARKETING),
                score=journey.lead_score,
                scoring_model="sim-mql",
            ),
        )
        self._schedule(self._later(journey, 0, 24), lambda: self._nurture(journey))
        self._schedule(self._later(journey, 24 * 5, 24 * 60), lambda: self._open_case(journey))

    def _existing_customer(self, journey: Journey) -> Iterator[Step]:
        """A customer with a contract: what marketing's and sales' systems hold about them.

        Customers' hand-offs happened before the simulation, so none starts a hand-off clock;
        their contracts are part-way through the term, so renewals come up from the first days.
        """
        c = journey.customer
        rng = journey.rng
        base = self.behaviour.opening
        self.tally.existing_customers += 1
        journey.won = True
        journey.engaged_since = self.now  # customers get marketing's promotions too
        journey.contract_id = f"ctr-{c.number}"
        term = c.contract_term()
        days_in = rng.uniform(0, term.days)
        journey.contract_ends = self.now + timedelta(days=term.days - days_in)
        # Sales got the e-mail with the lead it converted, long ago: the CRM holds all three.
        yield self._event(
            Department.SALES,
            sales.DealWon,
            sales.DealWonData(
                customer=c.handed_over_lead(),
                opportunity_id=f"opp-{c.number}",
                kind=DealKind.NEW_BUSINESS,
                amount=Money(amount_minor=c.deal_amount_minor(), currency="EUR"),
                products=(ProductLine(sku="SIM-SUITE", quantity=1),),
                contract_term_months=c.contract_term_months(),
                contract_id=journey.contract_id,
                contract_start=(self.now - timedelta(days=days_in)).date(),
            ),
        )
        yield self._captured(journey, imported=True)
        self._schedule_renewal(journey)
        if rng.random() < base.open_expansion_share:
            yield from self._open_expansion(journey, quoted=rng.random() < base.quoted_share)
        if rng.random() < base.order_in_flight_share:
            self._schedule(self._later(journey, 1, 48), lambda: self._deliver(journey))
        if rng.random() < base.open_case_share:
            roll = rng.random()
            priority = (
                CasePriority.P1 if roll < 0.15 else
                CasePriority.P2 if roll < 0.4 else
                CasePriority.P3 if roll < 0.75 else CasePriority.P4
            )  # fmt: skip
            yield from self._open_case_now(journey, priority)
        if rng.random() < base.pending_complaint_share:
            self._schedule(self._later(journey, 2, 36), lambda: self._complain(journey, None))
        self._schedule(self._later(journey, 24, 24 * 40), lambda: self._open_case(journey))

    def _nurture(self, journey: Journey) -> Iterator[Step]:
        if not journey.active or journey.won or journey.lost:
            return
        c = journey.customer
        reference = c.reference_for(Department.MARKETING)
        message_id = f"msg-{c.number}-{next(self._record_numbers)}"
        if journey.email_consent:
            yield self._event(
                Department.MARKETING,
                marketing.CampaignMessageSent,
                marketing.CampaignMessageSentData(
                    customer=reference,
                    campaign_id="cmp-sim-nurture",
                    message_id=message_id,
                    channel=ContactChannel.EMAIL,
                    promotional=False,
                ),
            )
        behaviour = self.behaviour
        rng = journey.rng
        if journey.email_consent and rng.random() < 0.45:
            yield self._event(
                Department.MARKETING,
                marketing.EmailOpened,
                marketing.EmailOpenedData(customer=reference, message_id=message_id),
            )
            product = rng.choice(PRODUCTS)
            pricing = f"https://www.example.com/{product}/pricing"
            clicked = rng.random() < behaviour.click_probability
            if clicked:
                self.tally.emails_clicked += 1
                yield self._event(
                    Department.MARKETING,
                    marketing.EmailClicked,
                    marketing.EmailClickedData(
                        customer=reference,
                        message_id=message_id,
                        campaign_id="cmp-sim-nurture",
                        url=pricing,
                    ),
                )
            if clicked and rng.random() < behaviour.visit_after_click_probability:
                yield self._event(
                    Department.MARKETING,
                    marketing.WebPageVisited,
                    marketing.WebPageVisitedData(
                        customer=reference, url=pricing, product_interest=product
                    ),
                )
                previous = journey.lead_score
                boost = rng.randint(10, 35)
                if rng.random() < behaviour.form_after_visit_probability:
                    boost += 10  # a demo request says more than a page view
                    self.tally.forms_submitted += 1
                    yield self._event(
                        Department.MARKETING,
                        marketing.FormSubmitted,
                        marketing.FormSubmittedData(
                            customer=reference,
                            form_id="form-demo-request",
                            form_name="Request a demo",
                            product_interest=product,
                            answers={"company_size": rng.choice(("1-50", "51-500", "500+"))},
                        ),
                    )
                journey.lead_score = min(100, previous + boost)
                yield self._event(
                    Department.MARKETING,
                    marketing.LeadScored,
                    marketing.LeadScoredData(
                        customer=reference,
                        score=journey.lead_score,
                        previous_score=previous,
                        scoring_model="sim-mql",
                    ),
                )
                score = journey.lead_score
                if score >= self.behaviour.engaged_lead_score and not journey.engaged_since:
                    journey.engaged_since = self.now
                if score >= self.behaviour.hot_lead_score and not journey.hot_since:
                    journey.hot_since = self.now
                    self.tally.hot_leads += 1
                    self._schedule(
                        self.now + self.behaviour.siloed_sales_pickup(journey.rng),
                        lambda: self._sales_picks_up_lead(journey),
                    )
        chance = (
            behaviour.consent_withdrawal_probability
            if journey.email_consent
            else behaviour.consent_regrant_probability
        )
        if rng.random() < chance:
            # Withdrawn, or (rarely) subscribed again from the preference centre.
            journey.email_consent = not journey.email_consent
            yield self._event(
                Department.MARKETING,
                marketing.ConsentChanged,
                marketing.ConsentChangedData(
                    customer=reference,
                    channel=ContactChannel.EMAIL,
                    status=ConsentStatus.GRANTED
                    if journey.email_consent
                    else ConsentStatus.WITHDRAWN,
                    captured_via="preference-centre",
                ),
            )
        self._schedule(self._later(journey, 24, 24 * 4), lambda: self._nurture(journey))

    def _weekly_promotion(self) -> Iterator[Step]:
        """Marketing's weekly promotional send to everyone it may contact."""
        for journey in self._journeys:
            if not journey.active or not journey.email_consent or journey.engaged_since is None:
                continue
            if self.mode is Mode.COORDINATED and self._promotions_suppressed(journey):
                continue
            if self.ask_before_promotions:
                yield self._question(journey, "cmp-sim-weekly-offer")
            else:
                yield from self._send_promotion(journey, "cmp-sim-weekly-offer")
        self._schedule(self.now + 7 * DAY, self._weekly_promotion)

    def _promotions_suppressed(self, journey: Journey) -> bool:
        until = journey.promotions_suppressed_until
        return until is not None and until > self.now

    def _question(self, journey: Journey, campaign_id: str) -> ContactQuestion:
        question_id = f"ask-{self._seed}-{next(self._record_numbers)}"
        self._questions[question_id] = (journey, campaign_id)
        reference = journey.customer.reference_for(Department.MARKETING)
        return ContactQuestion(
            self.now,
            Department.MARKETING,
            question_id,
            reference.model_dump(mode="json", exclude_none=True),
            ContactChannel.EMAIL.value,
            "promotional",
            campaign_id,
        )

    def contact_answered(
        self, question_id: str, allowed: bool, contact_id: str | None = None
    ) -> list[Step]:
        """The orchestrator's answer to a question: the send it allows (reporting its contact
        id), or nothing; an unknown or repeated question id changes nothing."""
        asked = self._questions.pop(question_id, None)
        if asked is None:
            return []
        journey, campaign_id = asked
        if not allowed:
            self.tally.promotions_denied += 1
            return []
        if not journey.active or not journey.email_consent:
            return []
        return list(self._send_promotion(journey, campaign_id, contact_id))

    def _send_promotion(
        self, journey: Journey, campaign_id: str, contact_id: str | None = None
    ) -> Iterator[Step]:
        c = journey.customer
        self.tally.promotions_sent += 1
        if journey.has_urgent_case():
            # The contradiction the product exists to prevent: an offer during an urgent case.
            self.tally.conflicting_contacts += 1
            journey.conflicting_contacts += 1
            journey.effects.add(TreatmentEffect.PROMOTION_DURING_URGENT_CASE)
        yield self._event(
            Department.MARKETING,
            marketing.CampaignMessageSent,
            marketing.CampaignMessageSentData(
                customer=c.reference_for(Department.MARKETING),
                campaign_id=campaign_id,
                message_id=f"msg-{c.number}-{next(self._record_numbers)}",
                channel=ContactChannel.EMAIL,
                promotional=True,
                contact_id=contact_id,
            ),
        )

    # -- transact -----------------------------------------------------------------------------

    def _sales_picks_up_lead(self, journey: Journey) -> Iterator[Step]:
        if not journey.active or journey.qualified:
            return
        journey.qualified = True
        self._first_sales_contact(journey)
        c = journey.customer
        yield self._event(
            Department.SALES,
            sales.LeadQualified,
            sales.LeadQualifiedData(
                customer=c.handed_over_lead(),
                lead_id=f"lead-{c.number}",
                product_interest=journey.rng.choice(PRODUCTS),
                estimated_value=Money(amount_minor=c.deal_amount_minor(), currency="EUR"),
            ),
        )
        journey.opportunity_id = f"opp-{c.number}"
        yield self._event(
            Department.SALES,
            sales.OpportunityCreated,
            sales.OpportunityCreatedData(
                customer=c.reference_for(Department.SALES),
                opportunity_id=journey.opportunity_id,
                name=f"{c.company} - new business",
                kind=DealKind.NEW_BUSINESS,
                stage="discovery",
                estimated_value=Money(amount_minor=c.deal_amount_minor(), currency="EUR"),
            ),
        )
        self._schedule(self._later(journey, 24 * 3, 24 * 10), lambda: self._quote(journey))

    def _first_sales_contact(self, journey: Journey) -> None:
        if journey.first_sales_contact is None and journey.hot_since is not None:
            journey.first_sales_contact = self.now
            hours = (self.now - journey.hot_since).total_seconds() / 3600
            self.tally.handoff_hours.append(hours)

    def _quote(self, journey: Journey) -> Iterator[Step]:
        if not journey.active or journey.opportunity_id is None:
            return
        c = journey.customer
        amount = Money(amount_minor=c.deal_amount_minor(), currency="EUR")
        yield self._event(
            Department.SALES,
            sales.QuoteIssued,
            sales.QuoteIssuedData(
                customer=c.reference_for(Department.SALES),
                quote_id=f"q-{c.number}",
                opportunity_id=journey.opportunity_id,
                amount=amount,
                products=(ProductLine(sku="SIM-SUITE", quantity=1),),
                valid_until=(self.now + 14 * DAY).date(),
            ),
        )
        self._schedule(self._later(journey, 24 * 2, 24 * 14), lambda: self._decide_deal(journey))

    def _decide_deal(self, journey: Journey) -> Iterator[Step]:
        if not journey.active or journey.opportunity_id is None:
            return
        c = journey.customer
        fast_contact = (
            journey.hot_since is not None
            and journey.first_sales_contact is not None
            and journey.first_sales_contact - journey.hot_since <= self.behaviour.fast_contact
        )
        if journey.rng.random() < self.behaviour.conversion_probability(fast_contact):
            journey.won = True
            amount = c.deal_amount_minor()
            journey.revenue_minor += amount
            journey.contract_id = f"ctr-{c.number}"
            journey.contract_ends = self.now + c.contract_term()
            self.tally.deals_won += 1
            self.tally.revenue_minor += amount
            yield self._event(
                Department.SALES,
                sales.DealWon,
                sales.DealWonData(
                    customer=c.reference_for(Department.SALES),
                    opportunity_id=journey.opportunity_id,
                    kind=DealKind.NEW_BUSINESS,
                    amount=Money(amount_minor=amount, currency="EUR"),
                    products=(ProductLine(sku="SIM-SUITE", quantity=1),),
                    contract_term_months=c.contract_term_months(),
                    contract_id=journey.contract_id,
                ),
            )
            self._schedule(self._later(journey, 24 * 2, 24 * 8), lambda: self._deliver(journey))
            self._schedule_renewal(journey)
            # Sale to onboarding: the service desk starts on its own when it learns of the new
            # customer (a weekly CRM export), unless an onboarding action reaches it first.
            journey.onboarding_since = self.now
            pickup = self.behaviour.siloed_onboarding_pickup(journey.handoff_rng)
            self._schedule(self.now + pickup, lambda: self._take_up_onboarding(journey))
        else:
            journey.lost = True
            self.tally.deals_lost += 1
            yield self._event(
                Department.SALES,
                sales.DealLost,
                sales.DealLostData(
                    customer=c.reference_for(Department.SALES),
                    opportunity_id=journey.opportunity_id,
                    reason_code=journey.rng.choice(("price", "timing", "competitor")),
                ),
            )

    def _open_expansion(self, journey: Journey, *, quoted: bool) -> Iterator[Step]:
        """An existing customer's open upsell: opportunity, perhaps a quote, then a decision."""
        c = journey.customer
        opportunity_id = f"opp-{c.number}-x"
        amount = Money(amount_minor=max(50_000, c.deal_amount_minor() // 3), currency="EUR")
        yield self._event(
            Department.SALES,
            sales.OpportunityCreated,
            sales.OpportunityCreatedData(
                customer=c.reference_for(Department.SALES),
                opportunity_id=opportunity_id,
                name=f"{c.company} - upsell",
                kind=DealKind.UPSELL,
                stage="proposal" if quoted else "discovery",
                estimated_value=amount,
            ),
        )

        def quote() -> Iterator[Step]:
            if not journey.active:
                return
            yield self._event(
                Department.SALES,
                sales.QuoteIssued,
                sales.QuoteIssuedData(
                    customer=c.reference_for(Department.SALES),
                    quote_id=f"q-{c.number}-x",
                    opportunity_id=opportunity_id,
                    amount=amount,
                    products=(ProductLine(sku="SIM-ADDON", quantity=1),),
                    valid_until=(self.now + 14 * DAY).date(),
                ),
            )
            self._schedule(
                self._later(journey, 6, 24 * 5),
                lambda: self._decide_expansion(journey, opportunity_id, amount),
            )

        if quoted:
            yield from quote()
        else:
            self._schedule(self._later(journey, 2, 48), quote)

    def _decide_expansion(
        self, journey: Journey, opportunity_id: str, amount: Money
    ) -> Iterator[Step]:
        if not journey.active:
            return
        c = journey.customer
        if journey.rng.random() < self.behaviour.expansion_conversion:
            self.tally.expansions_won += 1
            journey.revenue_minor += amount.amount_minor
            self.tally.revenue_minor += amount.amount_minor
            yield self._event(
                Department.SALES,
                sales.DealWon,
                sales.DealWonData(
                    customer=c.reference_for(Department.SALES),
                    opportunity_id=opportunity_id,
                    kind=DealKind.UPSELL,
                    amount=amount,
                    products=(ProductLine(sku="SIM-ADDON", quantity=1),),
                    contract_term_months=c.contract_term_months(),
                ),
            )
            self._schedule(self._later(journey, 24, 24 * 4), lambda: self._deliver(journey))
        else:
            self.tally.expansions_lost += 1
            yield self._event(
                Department.SALES,
                sales.DealLost,
                sales.DealLostData(
                    customer=c.reference_for(Department.SALES),
                    opportunity_id=opportunity_id,
                    reason_code=journey.rng.choice(("price", "timing", "no-budget")),
                ),
            )

    def _schedule_renewal(self, journey: Journey) -> None:
        """Sales' CRM flags the renewal 30 days before the contract ends (at once if sooner)."""
        assert journey.contract_ends is not None
        notice = max(journey.contract_ends - 30 * DAY, self._later(journey, 1, 48))
        self._schedule(notice, lambda: self._renewal_due(journey))

    # -- fulfil -------------------------------------------------------------------------------

    def _deliver(self, journey: Journey) -> Iterator[Step]:
        if not journey.active:
            return
        c = journey.customer
        order_id = f"so-{c.number}"
        yield self._event(
            Department.SALES,
            sales.OrderFulfilled,
            sales.OrderFulfilledData(
                customer=c.reference_for(Department.SALES),
                order_id=order_id,
                opportunity_id=journey.opportunity_id,
                products=(ProductLine(sku="SIM-SUITE", quantity=1),),
                delivered_at=self.now,
            ),
        )
        onboarded = TreatmentEffect.ONBOARDING_STARTED in journey.effects
        if journey.rng.random() < self.behaviour.fulfilment_problem_probability(onboarded):
            yield self._event(
                Department.SERVICE_DESK,
                service_desk.FulfilmentProblemReported,
                service_desk.FulfilmentProblemReportedData(
                    customer=c.reference_for(Department.SERVICE_DESK),
                    order_id=order_id,
                    problem="damaged",
                ),
            )
            yield from self._open_case_now(journey, CasePriority.P2)

    def _renewal_due(self, journey: Journey) -> Iterator[Step]:
        if not journey.active or journey.contract_id is None or journey.contract_ends is None:
            return
        c = journey.customer
        renewal_at = max(journey.contract_ends, self.now + 3 * DAY)  # time to work it
        yield self._event(
            Department.SALES,
            sales.RenewalDue,
            sales.RenewalDueData(
                customer=c.reference_for(Department.SALES),
                contract_id=journey.contract_id,
                renewal_date=renewal_at.date(),
                current_value=Money(amount_minor=c.deal_amount_minor(), currency="EUR"),
                auto_renews=False,
            ),
        )
        self._schedule(renewal_at, lambda: self._renewal_decision(journey))

    def _renewal_decision(self, journey: Journey) -> Iterator[Step]:
        """At the renewal date the customer renews (a renewal deal) or lets the contract lapse."""
        if not journey.active or journey.contract_id is None:
            return
        c = journey.customer
        complained = journey.complaint_at is not None
        renews = journey.rng.random() < self.behaviour.renewal_probability(
            journey.effects, complained
        )
        journey.effects.discard(TreatmentEffect.RENEWAL_WORKED)  # each renewal is worked anew
        if not renews:
            journey.churned = True
            self.tally.lapsed += 1
            self.tally.churned += 1
            yield self._event(
                Department.SALES,
                sales.ContractCancelled,
                sales.ContractCancelledData(
                    customer=c.reference_for(Department.SALES),
                    contract_id=journey.contract_id,
                    effective_date=self.now.date(),
                    reason_code="not-renewed",
                    reason_text="The contract lapsed at its renewal date.",
                ),
            )
            return
        journey.renewals += 1
        amount = c.deal_amount_minor()
        journey.revenue_minor += amount
        self.tally.renewals += 1
        self.tally.revenue_minor += amount
        journey.contract_id = f"ctr-{c.number}-r{journey.renewals}"
        journey.contract_ends = self.now + c.contract_term()
        yield self._event(
            Department.SALES,
            sales.DealWon,
            sales.DealWonData(
                customer=c.reference_for(Department.SALES),
                opportunity_id=f"ren-{c.number}-{journey.renewals}",
                kind=DealKind.RENEWAL,
                amount=Money(amount_minor=amount, currency="EUR"),
                products=(ProductLine(sku="SIM-SUITE", quantity=1),),
                contract_term_months=c.contract_term_months(),
                contract_id=journey.contract_id,
                contract_start=self.now.date(),
            ),
        )
        self._schedule_renewal(journey)

    # -- service ------------------------------------------------------------------------------

    def _open_case(self, journey: Journey) -> Iterator[Step]:
        if not journey.active:
            return
        roll = journey.rng.random()
        priority = (
            CasePriority.P1 if roll < 0.05 else
            CasePriority.P2 if roll < 0.2 else
            CasePriority.P3 if roll < 0.6 else CasePriority.P4
        )  # fmt: skip
        yield from self._open_case_now(journey, priority)
        self._schedule(self._later(journey, 24 * 10, 24 * 60), lambda: self._open_case(journey))

    def _product_incident(self) -> Iterator[Step]:
        """A burst: an outage makes a share of customers open urgent cases within hours."""
        rng = random.Random(f"incident:{self._seed}")
        for journey in self._journeys:
            if journey.active and rng.random() < self.behaviour.incident_share:
                when = self.now + timedelta(hours=rng.uniform(0, 6))
                self._schedule(
                    when, functools.partial(self._open_case_now, journey, CasePriority.P1)
                )
        return iter(())

    def _open_case_now(self, journey: Journey, priority: CasePriority) -> Iterator[Step]:
        c = journey.customer
        case_id = f"case-{c.number}-{next(self._record_numbers)}"
        journey.open_cases[case_id] = priority
        self.tally.cases_opened += 1
        yield self._event(
            Department.SERVICE_DESK,
            service_desk.CaseOpened,
            service_desk.CaseOpenedData(
                customer=c.reference_for(Department.SERVICE_DESK),
                case_id=case_id,
                priority=priority,
                category=journey.rng.choice(("billing", "technical", "delivery", "how-to")),
                channel=journey.rng.choice(tuple(CaseChannel)),
            ),
        )
        hours = self.behaviour.resolution_hours(priority, journey.rng)
        resolves_at = self.now + timedelta(hours=hours)
        journey.case_resolves_at[case_id] = resolves_at
        self._schedule(resolves_at, lambda: self._resolve(journey, case_id))
        escalate_after = self.behaviour.escalation_after(priority, journey.handoff_rng)
        if escalate_after is not None:
            self._schedule(self.now + escalate_after, lambda: self._escalate(journey, case_id))

    def _escalate(self, journey: Journey, case_id: str) -> Iterator[Step]:
        """An urgent case still open after a while goes to the second line: a hand-off inside
        the service desk, taken up by a senior agent (an action) or the second line's queue."""
        priority = journey.open_cases.get(case_id)
        if priority is None or not journey.active or case_id in journey.escalated_since:
            return
        journey.escalated_since[case_id] = self.now
        self.tally.escalations += 1
        yield self._event(
            Department.SERVICE_DESK,
            service_desk.CaseEscalated,
            service_desk.CaseEscalatedData(
                customer=journey.customer.reference_for(Department.SERVICE_DESK),
                case_id=case_id,
                priority=priority,
                escalation_level=1,
                reason="open-too-long",
            ),
        )
        pickup = self.behaviour.siloed_escalation_pickup(journey.handoff_rng)
        self._schedule(self.now + pickup, lambda: self._take_up_escalation(journey, case_id))

    def _take_up_onboarding(self, journey: Journey) -> Iterator[Step]:
        """The service desk takes up a new customer (its own pickup, or an onboarding action)."""
        if journey.onboarding_since is not None:
            self._handoff_taken_up(SALE_TO_ONBOARDING, journey.onboarding_since)
            journey.onboarding_since = None
        return iter(())

    def _take_up_escalation(self, journey: Journey, case_id: str) -> Iterator[Step]:
        """The second line takes up an escalated case (a senior agent's action, its own queue,
        or the case's resolution, whichever comes first)."""
        since = journey.escalated_since.pop(case_id, None)
        if since is not None:
            self._handoff_taken_up(CASE_ESCALATION, since)
        return iter(())

    def _handoff_taken_up(self, kind: str, since: datetime) -> None:
        hours = (self.now - since).total_seconds() / 3600
        self.tally.handoff_hours_by_kind.setdefault(kind, []).append(hours)

    def _resolve(self, journey: Journey, case_id: str) -> Iterator[Step]:
        priority = journey.open_cases.pop(case_id, None)
        journey.case_resolves_at.pop(case_id, None)
        if priority is None or not journey.active:
            return
        yield from self._take_up_escalation(journey, case_id)
        c = journey.customer
        reference = c.reference_for(Department.SERVICE_DESK)
        yield self._event(
            Department.SERVICE_DESK,
            service_desk.CaseResolved,
            service_desk.CaseResolvedData(
                customer=reference,
                case_id=case_id,
                resolution_code="resolved",
                resolution_time_seconds=1,
            ),
        )
        annoyed = TreatmentEffect.PROMOTION_DURING_URGENT_CASE in journey.effects
        csat = self.behaviour.satisfaction(priority, annoyed, journey.rng)
        yield self._event(
            Department.SERVICE_DESK,
            service_desk.SatisfactionReceived,
            service_desk.SatisfactionReceivedData(
                customer=reference,
                survey_id=f"srv-{case_id}",
                case_id=case_id,
                csat=csat,
                nps=min(10, max(0, csat * 2 + journey.rng.randint(-1, 1))),
            ),
        )
        if csat <= 2 and journey.rng.random() < self.behaviour.complaint_probability:
            yield from self._complain(journey, case_id)
        if journey.won:
            self._schedule(
                self._later(journey, 24 * 7, 24 * 21), lambda: self._churn_check(journey)
            )

    def _complain(self, journey: Journey, case_id: str | None) -> Iterator[Step]:
        if not journey.active:
            return
        journey.complaint_at = self.now
        self.tally.complaints += 1
        yield self._event(
            Department.SERVICE_DESK,
            service_desk.ComplaintReceived,
            service_desk.ComplaintReceivedData(
                customer=journey.customer.reference_for(Department.SERVICE_DESK),
                complaint_id=f"cmp-{case_id or journey.customer.number}-{self.tally.complaints}",
                category="service",
                channel=CaseChannel.EMAIL,
                case_id=case_id,
            ),
        )

    def _churn_check(self, journey: Journey) -> Iterator[Step]:
        if not journey.active or journey.contract_id is None:
            return
        if journey.rng.random() >= self.behaviour.churn_probability(
            journey.effects, journey.complaint_at is not None
        ):
            return
        journey.churned = True
        self.tally.churned += 1
        yield self._event(
            Department.SALES,
            sales.ContractCancelled,
            sales.ContractCancelledData(
                customer=journey.customer.reference_for(Department.SALES),
                contract_id=journey.contract_id,
                effective_date=(self.now + 30 * DAY).date(),
                reason_code="dissatisfied",
            ),
        )

    # -- departments' staff -------------------------------------------------------------------

    def _staff_work(
        self,
        journey: Journey,
        department: Department,
        action_id: str,
        action_type: str,
        data: dict[str, Any],
        deadline: datetime,
    ) -> None:
        effect = effect_of_action(action_type)
        if effect in AUTOMATED_EFFECTS:
            # Marketing's campaign tool keeps the suppression list: applied on receipt, by no one.
            assert effect is not None
            for _ in self._apply_effect(journey, effect, data):
                pass  # suppression changes send nothing
            self.tally.actions_completed += 1
            self._schedule(self.now, lambda: self._report(department, action_id, {
                "outcome": "accepted",
            }))  # fmt: skip
            self._schedule(self.now, lambda: self._report(department, action_id, {
                "outcome": "completed",
            }))  # fmt: skip
            return
        rng = journey.rng
        roll = rng.random()
        staff = self.behaviour.staff
        if roll < staff.let_slip_probability:
            self.tally.actions_let_slip += 1  # never acted on: the deadline passes
            return
        if roll < staff.let_slip_probability + staff.decline_probability:
            reason = rng.choice(
                (DeclineReason.NO_CAPACITY, DeclineReason.NOT_RELEVANT, DeclineReason.BAD_TIMING)
            )
            at = self.now + timedelta(hours=rng.uniform(0.5, 8))
            self._schedule(at, lambda: self._report(department, action_id, {
                "outcome": "declined",
                "reason_code": reason.value,
                "reason_text": "Simulated staff declined the action.",
            }))  # fmt: skip
            return
        late = rng.random() < staff.late_probability
        accept_at = (
            deadline + timedelta(hours=rng.uniform(*staff.late_by_hours))
            if late
            else self.now + (deadline - self.now) * rng.uniform(0.1, 0.8)
        )
        accept_at = max(accept_at, self.now)
        complete_at = accept_at + timedelta(hours=rng.uniform(1, 24))
        self._schedule(accept_at, lambda: self._accept(journey, department, action_id, data))

        def complete() -> Iterator[Step]:
            effect = effect_of_action(action_type)
            if effect is not None:
                yield from self._apply_effect(journey, effect, data)
            self.tally.actions_completed += 1
            yield from self._report(department, action_id, {"outcome": "completed"})

        self._schedule(complete_at, complete)

    def _accept(
        self, journey: Journey, department: Department, action_id: str, data: dict[str, Any]
    ) -> Iterator[Step]:
        """Staff accept an action: the hand-off it carries is taken up."""
        yield from self._report(department, action_id, {"outcome": "accepted"})
        if department is Department.SERVICE_DESK:
            parameters = data.get("parameters") or {}
            if parameters.get("onboarding_plan") is not None:
                yield from self._take_up_onboarding(journey)
            elif parameters.get("case_id") is not None:
                yield from self._take_up_escalation(journey, str(parameters["case_id"]))

    def _report(
        self, department: Department, action_id: str, body: dict[str, Any]
    ) -> Iterator[Step]:
        if body["outcome"] == "declined":
            self.tally.actions_declined += 1
        yield OutcomeReport(self.now, department, action_id, body)

    def _apply_effect(
        self, journey: Journey, effect: TreatmentEffect, data: dict[str, Any]
    ) -> Iterator[Step]:
        journey.effects.add(effect)
        parameters = data.get("parameters") or {}
        if effect is TreatmentEffect.PROMOTIONS_SUPPRESSED:
            journey.promotions_suppressed_until = _parse_time(parameters.get("until")) or (
                self.now + 14 * DAY
            )
        elif effect is TreatmentEffect.PROMOTIONS_RESUMED:
            journey.promotions_suppressed_until = None
        elif effect is TreatmentEffect.SALES_CALLED:
            self._first_sales_contact(journey)
            if not journey.qualified:
                yield from self._sales_picks_up_lead(journey)
        elif (
            effect is TreatmentEffect.OFFER_SENT
            and journey.email_consent
            and not self._promotions_suppressed(journey)
        ):
            # The campaign tool checks its suppression list when it sends, not when asked.
            yield from self._send_promotion(journey, "cmp-sim-orchestrated-offer")
        elif effect is TreatmentEffect.CASE_PRIORITISED:
            self._hurry_case(journey, str(parameters.get("case_id")))
        elif (
            effect is TreatmentEffect.OPPORTUNITY_CREATED
            and parameters.get("kind") == DealKind.RENEWAL.value
        ):
            journey.effects.add(TreatmentEffect.RENEWAL_WORKED)
        elif effect is TreatmentEffect.OWNER_ASSIGNED:
            yield self._event(
                Department.SALES,
                sales.AccountOwnerAssigned,
                sales.AccountOwnerAssignedData(
                    customer=journey.customer.reference_for(Department.SALES),
                    owner=OwnerRef(department=Department.SALES, owner_id="sim-account-exec"),
                ),
            )

    def _hurry_case(self, journey: Journey, case_id: str) -> None:
        """A prioritised case (or a senior agent on it) needs half its remaining time."""
        resolves_at = journey.case_resolves_at.get(case_id)
        if resolves_at is None or resolves_at <= self.now:
            return
        factor = self.behaviour.prioritised_resolution_factor
        sooner = self.now + (resolves_at - self.now) * factor
        journey.case_resolves_at[case_id] = sooner
        # The original resolution still fires later and finds the case closed: a no-op.
        self._schedule(sooner, lambda: self._resolve(journey, case_id))


def action_deadline(action: dict[str, Any]) -> datetime | None:
    """The deadline an inbox item carries (top level, or in the action record's data)."""
    data = (action.get("record") or {}).get("data") or {}
    value = action.get("deadline") or data.get("deadline")
    return _parse_time(value)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
