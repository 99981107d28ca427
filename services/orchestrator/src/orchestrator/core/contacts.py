"""A department's own contact request, decided and reserved in one step (pure).

The worker that owns the customer applies ``<department>.contact.requested`` in order with the
customer's events, so a check and its reservation are one state change: two requests racing
for the last slot under a cap are applied one after the other, and the second sees the first's
reservation. The policy is the plays' own (:func:`decide.policy_denial`, :func:`decide.cap_denial`):
erasure, consent, promotion suppression, the suppression rules (an open urgent case, a recent
complaint, a detractor), the segment budget, the frequency caps per channel and overall, the
quiet hours (a suppression rule that bites is named before the promotions-suppressed flag a
play set because of it: the department learns the reason itself). What of it applies depends
on the purpose:

=============  =======  =======  ==========================================================
purpose        erasure  consent  suppressions, budget (promotional), caps, quiet hours
=============  =======  =======  ==========================================================
promotional    yes      yes      yes, all of them
service        yes      yes      the rules for any contact, the caps that count every
                                 contact, quiet hours
transactional  yes      yes      no
legal          yes      no       no
=============  =======  =======  ==========================================================

A control-group customer's request is allowed (``control-group``) past erasure and consent:
the departments' own sends are the counterfactual the group measures. An allowed contact is
reserved in the contact log until the department reports the send (``campaign.message-sent``
with its ``contact_id``) or the reservation lapses (``policy.contact_requests.reservation``).
A request decided after the department stopped waiting (``answer_by``) is logged and reserves
nothing: the department has applied its fallback by then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.events.common import ContactRequestedData, contact_id
from lifecycle_schemas.outputs import ContactDecided, ContactDecidedData
from lifecycle_schemas.vocabulary import ContactDecision, ContactPurpose
from orchestrator.core import decide
from orchestrator.core.control import in_control_group
from orchestrator.core.decide import ContactAsk, Denial
from orchestrator.core.messages import Decision, Publish, Reply
from orchestrator.core.playbook import Playbook, parse_duration
from orchestrator.core.state import MAX_CONTACT_LOG, Contact, CustomerState
from orchestrator.core.views import build_context, customer_view, event_view

WITHIN_POLICY = "within-policy"
UNKNOWN_CUSTOMER = "unknown-customer"
CONTROL_GROUP = "control-group"
ANSWER_TOO_LATE = "answer-too-late"


def ask_for(purpose: ContactPurpose, channel: str) -> ContactAsk:
    """What of the contact policy a request of this purpose is checked against."""
    if purpose is ContactPurpose.PROMOTIONAL:
        return ContactAsk(channel=channel, promotional=True)
    if purpose is ContactPurpose.SERVICE:
        return ContactAsk(channel=channel, promotional=False)
    if purpose is ContactPurpose.TRANSACTIONAL:
        return ContactAsk(channel=channel, promotional=False, coordinated=False)
    return ContactAsk(channel=channel, promotional=False, consent=False, coordinated=False)


def is_contact_request(message: Any) -> bool:
    """Whether a message is a department's contact request."""
    return isinstance(getattr(message, "data", None), ContactRequestedData)


def decide_contact_request(
    state: CustomerState,
    request: Any,
    now: datetime,
    playbook: Playbook,
    spent: Mapping[str, int] | None = None,
    *,
    known: bool = True,
) -> ContactDecided:
    """Decide ``request`` for ``state`` at ``now``; an allowed one is reserved in
    ``state.contact_log`` (in place). ``known``: the customer had a state before it."""
    data: ContactRequestedData = request.data
    channel = data.channel.value
    ask = ask_for(data.purpose, channel)
    control = in_control_group(state.customer_id, playbook.policy.control_group_share)
    reserved_id = contact_id(request.id)
    denial: Denial | None
    if now > data.answer_by:
        denial = (ANSWER_TOO_LATE, "decided after the department stopped waiting (its fallback)")
    elif control:
        denial = decide.policy_denial(state, replace(ask, coordinated=False), [], [])
    else:
        denial = _denial(state, request, ask, now, playbook, spent)
    expires_at = None
    if denial is None:
        expires_at = now + parse_duration(playbook.policy.contact_requests.reservation)
        _reserve(state, channel, ask.promotional, reserved_id, now, expires_at)
        if control:
            code = CONTROL_GROUP
            reason = "the customer is in the control group: its own contacts are logged, not held"
        elif not known:
            code, reason = UNKNOWN_CUSTOMER, "the customer is not known yet: the defaults allow it"
        else:
            code, reason = WITHIN_POLICY, "within the contact policy: reserved against the caps"
    else:
        code, reason = denial
    payload = ContactDecidedData.model_validate(
        {
            "customer_id": state.customer_id,
            "contact_id": reserved_id,
            "request_id": request.id,
            "department": request.department.value,
            "channel": channel,
            "purpose": data.purpose.value,
            "campaign_id": data.campaign_id,
            "content_tag": data.content_tag,
            "decision": ContactDecision.DENY if denial else ContactDecision.ALLOW,
            "reason_code": code,
            "reason": reason[:200],
            "expires_at": expires_at,
            "control_group": control,
            "playbook": playbook.version.as_record(),
        },
        strict=False,
    )
    return ContactDecided.build(
        payload,
        id=stable_id("contact-decided", request.id),
        time=now,
        correlationid=request.correlationid,
        causationid=request.id,
    )


def _denial(
    state: CustomerState,
    request: Any,
    ask: ContactAsk,
    now: datetime,
    playbook: Playbook,
    spent: Mapping[str, int] | None,
) -> Denial | None:
    rules: list[Any] = []
    if ask.coordinated and playbook.policy.suppressions and not state.erased:
        # The rules read the customer as the plays see them (open urgent cases, complaints).
        customer = customer_view(state, now, playbook.calendar)
        context = build_context(customer, event_view(request), playbook.customer_fields)
        rules = decide.biting_rules(playbook, context)
    exhausted = (
        decide.over_budget_segments(state, playbook, spent or {}, now) if ask.promotional else []
    )
    denial = decide.policy_denial(state, ask, rules, exhausted, rules_first=True)
    return denial or decide.cap_denial(state, playbook, ask, [], now)


def _reserve(
    state: CustomerState,
    channel: str,
    promotional: bool,
    reserved_id: str,
    now: datetime,
    until: datetime,
) -> None:
    """Hold the contact against the caps; lapsed reservations leave the log."""
    kept = [c for c in state.contact_log if c.counts_at(now)]
    kept.append(
        Contact(
            at=now,
            channel=channel,
            promotional=promotional,
            contact_id=reserved_id,
            reserved_until=until,
        )
    )
    state.contact_log = kept[-MAX_CONTACT_LOG:]


def answered(record: ContactDecided) -> list[Decision]:
    """A decided request goes to the decision log and to the requesting department."""
    return [Publish(record), Reply(record.data.department.value, record)]


def summary(record: ContactDecided) -> str:
    """The timeline's line for a decided request."""
    data = record.data
    return (
        f"{data.department.value} {data.purpose.value} {data.channel.value} contact: "
        f"{data.decision.value} ({data.reason_code})"
    )
