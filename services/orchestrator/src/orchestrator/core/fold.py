"""Folding one department event or outcome into the customer state (no decisions here).

One handler per record type, registered in :data:`FOLDERS` (the aggregate7 mutator pattern);
every handler mutates the copy of the state the reducer hands it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from lifecycle_schemas import events as ev
from lifecycle_schemas import outcomes as oc
from lifecycle_schemas.outputs import StageStatus
from lifecycle_schemas.vocabulary import LifecycleStage, Money
from orchestrator.core.state import (
    CLOSED,
    CONTACT_KINDS,
    DEPARTMENT_SYSTEM_IDS,
    MAX_ATTRIBUTES,
    MAX_COMPLAINTS,
    MAX_IDENTIFIERS,
    MAX_OPEN_CASES,
    MAX_OPEN_OPPORTUNITIES,
    ActionStatus,
    Attribute,
    Consent,
    Contact,
    CustomerState,
    Identifier,
    Owner,
)

Folder = Callable[[CustomerState, Any], None]
FOLDERS: dict[type[Any], Folder] = {}

ENGAGE, TRANSACT, FULFIL, SERVICE = (
    LifecycleStage.ENGAGE.value,
    LifecycleStage.TRANSACT.value,
    LifecycleStage.FULFIL.value,
    LifecycleStage.SERVICE.value,
)
ACTIVE, COMPLETED, STALLED = (
    StageStatus.ACTIVE.value,
    StageStatus.COMPLETED.value,
    StageStatus.STALLED.value,
)


def folds(*models: type[Any]) -> Callable[[Folder], Folder]:
    """Register a handler for one or more record models."""

    def register(handler: Folder) -> Folder:
        for model in models:
            FOLDERS[model] = handler
        return handler

    return register


def fold(state: CustomerState, record: Any) -> None:
    """Apply one department event or outcome to ``state`` (in place)."""
    if isinstance(record, ev.DepartmentEvent):
        link_identifiers(state, record)
        state.last_event_at = record.time
        if state.created_at is None:
            state.created_at = record.time
    handler = FOLDERS.get(type(record))
    if handler is not None:
        handler(state, record)


def link_identifiers(state: CustomerState, event: Any) -> None:
    """Add the event's identifiers the customer did not have yet."""
    known = {(i.kind, i.value): i for i in state.identifiers}
    department = event.department.value
    for kind, value in event.data.customer.identifiers():
        linked = known.get((kind.value, value))
        if linked is not None:
            if not linked.sent_by(department) and kind.value in CONTACT_KINDS:
                linked.also_from.append(department)
        elif len(state.identifiers) < MAX_IDENTIFIERS:
            state.identifiers.append(
                Identifier(
                    kind=kind.value,
                    value=value,
                    department=event.department.value,
                    first_seen=event.time,
                )
            )


def _start(state: CustomerState, stage: str) -> None:
    if state.stages.get(stage) in (None, "not-started", STALLED):
        state.stages[stage] = ACTIVE


def _amount(state: CustomerState, money: Money | None) -> int:
    """The amount in the customer's currency; other currencies count as 0 (no FX here)."""
    if money is None:
        return 0
    if state.currency is None:
        state.currency = money.currency
    return money.amount_minor if money.currency == state.currency else 0


def _engaged(state: CustomerState, event: Any) -> None:
    state.last_engaged_at = event.time
    _start(state, ENGAGE)


def _set_attribute(state: CustomerState, name: str, value: str | None, event: Any) -> None:
    if value is None or (name not in state.attributes and len(state.attributes) >= MAX_ATTRIBUTES):
        return
    state.attributes[name] = Attribute(
        value=value, source=event.department.value, updated_at=event.time
    )


@folds(ev.ContactCaptured)
def _contact_captured(state: CustomerState, event: ev.ContactCaptured) -> None:
    _engaged(state, event)
    profile = event.data.profile
    if profile is not None:
        for name in (
            "given_name",
            "family_name",
            "company",
            "job_title",
            "country",
            "preferred_language",
        ):
            _set_attribute(state, name, getattr(profile, name), event)


@folds(ev.CampaignMessageSent)
def _message_sent(state: CustomerState, event: ev.CampaignMessageSent) -> None:
    if event.data.promotional and state.open_urgent_cases() > 0:
        # A conflicting contact: counted for the proof-of-value report.
        state.conflicting_contacts += 1
    if event.data.contact_id is not None:
        # The reserved contact was sent: its reservation ends, the send counts in its place.
        state.contact_log = [c for c in state.contact_log if c.contact_id != event.data.contact_id]
    state.contact_log.append(
        Contact(at=event.time, channel=event.data.channel.value, promotional=event.data.promotional)
    )


@folds(ev.EmailOpened, ev.EmailClicked, ev.WebPageVisited, ev.FormSubmitted)
def _engagement(state: CustomerState, event: Any) -> None:
    _engaged(state, event)


@folds(ev.LeadScored)
def _lead_scored(state: CustomerState, event: ev.LeadScored) -> None:
    state.lead_score = event.data.score
    _start(state, ENGAGE)


@folds(ev.ConsentChanged)
def _consent_changed(state: CustomerState, event: ev.ConsentChanged) -> None:
    state.consents[event.data.channel.value] = Consent(
        status=event.data.status.value, updated_at=event.time
    )


@folds(ev.Unsubscribed)
def _unsubscribed(state: CustomerState, event: ev.Unsubscribed) -> None:
    if event.data.list_id is None:
        state.consents[event.data.channel.value] = Consent(
            status="withdrawn", updated_at=event.time
        )


@folds(ev.MarketingErasureRequested, ev.SalesErasureRequested, ev.ServiceDeskErasureRequested)
def _erasure_requested(state: CustomerState, event: Any) -> None:
    # Each department's erase action names what that department knew the customer by; then
    # every identifier goes (the worker tombstones their entries and the customer's record).
    state.erasure_refs = erasure_refs(state)
    state.erased = True
    state.attributes.clear()
    state.identifiers = []
    for entry in state.timeline:
        entry.summary = "(erased)"


def erasure_refs(state: CustomerState) -> dict[str, dict[str, str]]:
    """Per department: its own system id for the customer, and the first e-mail and phone it
    sent (a department reference holds one of each)."""
    refs: dict[str, dict[str, str]] = {}
    for department, system_id in DEPARTMENT_SYSTEM_IDS.items():
        ref: dict[str, str] = {}
        for identifier in state.identifiers:
            own = identifier.kind == system_id or (
                identifier.kind in CONTACT_KINDS and identifier.sent_by(department)
            )
            if own and identifier.kind not in ref:
                ref[identifier.kind] = identifier.value
        refs[department] = ref
    return refs


@folds(ev.LeadQualified)
def _lead_qualified(state: CustomerState, event: ev.LeadQualified) -> None:
    state.lead_qualified = True
    state.stages[ENGAGE] = COMPLETED
    _start(state, TRANSACT)
    amount = _amount(state, event.data.estimated_value)
    if amount and len(state.open_opportunities) < MAX_OPEN_OPPORTUNITIES:
        state.open_opportunities[f"lead:{event.data.lead_id or event.id}"] = amount


@folds(ev.OpportunityCreated)
def _opportunity_created(state: CustomerState, event: ev.OpportunityCreated) -> None:
    _start(state, TRANSACT)
    # The lead's estimate is superseded by the opportunity's.
    for key in [k for k in state.open_opportunities if k.startswith("lead:")]:
        del state.open_opportunities[key]
    if len(state.open_opportunities) < MAX_OPEN_OPPORTUNITIES:
        state.open_opportunities[event.data.opportunity_id] = _amount(
            state, event.data.estimated_value
        )


@folds(ev.QuoteIssued)
def _quote_issued(state: CustomerState, event: ev.QuoteIssued) -> None:
    key = event.data.opportunity_id or f"quote:{event.data.quote_id}"
    if key in state.open_opportunities or len(state.open_opportunities) < MAX_OPEN_OPPORTUNITIES:
        state.open_opportunities[key] = _amount(state, event.data.amount)


@folds(ev.DealWon)
def _deal_won(state: CustomerState, event: ev.DealWon) -> None:
    state.open_opportunities.pop(event.data.opportunity_id, None)
    state.revenue_to_date_minor += _amount(state, event.data.amount)
    state.purchases += 1
    state.first_purchase_at = state.first_purchase_at or event.time
    state.last_purchase_at = event.time
    state.churned_at = None
    state.stages[ENGAGE] = COMPLETED
    state.stages[TRANSACT] = COMPLETED
    state.stages[FULFIL] = ACTIVE


@folds(ev.DealLost)
def _deal_lost(state: CustomerState, event: ev.DealLost) -> None:
    state.open_opportunities.pop(event.data.opportunity_id, None)
    if not state.open_opportunities and state.purchases == 0:
        state.stages[TRANSACT] = STALLED


@folds(ev.OrderFulfilled)
def _order_fulfilled(state: CustomerState, event: ev.OrderFulfilled) -> None:
    state.stages[FULFIL] = COMPLETED
    _start(state, SERVICE)


@folds(ev.RenewalDue)
def _renewal_due(state: CustomerState, event: ev.RenewalDue) -> None:
    state.renewal_due_at = datetime.combine(event.data.renewal_date, time(), tzinfo=UTC)


@folds(ev.ContractCancelled)
def _contract_cancelled(state: CustomerState, event: ev.ContractCancelled) -> None:
    state.churned_at = event.time
    state.renewal_due_at = None


@folds(ev.AccountOwnerAssigned)
def _owner_assigned(state: CustomerState, event: ev.AccountOwnerAssigned) -> None:
    owner = event.data.owner
    state.account_owner = Owner(
        department=owner.department.value, owner_id=owner.owner_id, display_name=owner.display_name
    )


@folds(ev.CaseOpened, ev.CaseEscalated)
def _case_opened(state: CustomerState, event: Any) -> None:
    case_id = event.data.case_id
    if case_id in state.open_cases or len(state.open_cases) < MAX_OPEN_CASES:
        state.open_cases[case_id] = event.data.priority.value
    _start(state, SERVICE)


@folds(ev.CaseResolved)
def _case_resolved(state: CustomerState, event: ev.CaseResolved) -> None:
    state.open_cases.pop(event.data.case_id, None)


@folds(ev.FulfilmentProblemReported)
def _fulfilment_problem(state: CustomerState, event: ev.FulfilmentProblemReported) -> None:
    state.stages[FULFIL] = STALLED


@folds(ev.SatisfactionReceived)
def _satisfaction(state: CustomerState, event: ev.SatisfactionReceived) -> None:
    scores: list[float] = []
    if event.data.csat is not None:
        state.last_csat = event.data.csat
        scores.append((event.data.csat - 3) / 2)
    if event.data.nps is not None:
        state.last_nps = event.data.nps
        scores.append((event.data.nps - 5) / 5)
    if scores:
        state.sentiment = round(sum(scores) / len(scores), 4)


@folds(ev.ComplaintReceived)
def _complaint(state: CustomerState, event: ev.ComplaintReceived) -> None:
    state.complaints = sorted([*state.complaints, event.time])[-MAX_COMPLAINTS:]
    state.sentiment = min(state.sentiment if state.sentiment is not None else 0.0, -0.5)


_OUTCOME_STATUS: dict[type[Any], ActionStatus] = {
    oc.ActionAccepted: ActionStatus.ACCEPTED,
    oc.ActionCompleted: ActionStatus.COMPLETED,
    oc.ActionDeclined: ActionStatus.DECLINED,
    oc.ActionFailed: ActionStatus.FAILED,
    oc.ActionExpired: ActionStatus.EXPIRED,
}


@folds(*_OUTCOME_STATUS)
def _outcome(state: CustomerState, outcome: Any) -> None:
    action = state.open_actions.get(outcome.data.action_id)
    if action is None or action.status in CLOSED:
        return  # a finished action stays finished (a late or repeated answer changes nothing)
    status = _OUTCOME_STATUS[type(outcome)]
    if status is ActionStatus.ACCEPTED and action.status is ActionStatus.SUPERSEDED:
        return  # another action of its type took its place: one voice
    action.status = status
    if isinstance(outcome, oc.ActionDeclined):
        action.decline_reason = outcome.data.reason_code.value
