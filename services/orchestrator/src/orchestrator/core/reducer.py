"""The pure core: ``apply(state, message, now, playbook) -> (state, decisions)``.

No faust, Kafka, clock or randomness: the same input always gives the same output, and every
record id in the output is derived from the input (so a replay after a crash produces the same
ids). A message whose id the state has already applied changes nothing.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.outcomes import ActionAccepted, ActionCompleted, Outcome
from lifecycle_schemas.outputs import (
    CustomerMerged,
    CustomerProfile,
    DecisionRecorded,
    HandoffDeadlineMissed,
    Verdict,
    decision_id,
)
from orchestrator.core import contacts, decide, handoffs
from orchestrator.core.control import hold_out, in_control_group
from orchestrator.core.fold import fold, link_identifiers
from orchestrator.core.ltv import predicted_lifetime_value_minor
from orchestrator.core.messages import (
    Absorb,
    DeadlineCheck,
    Decision,
    EraseProfile,
    ForgetIdentifiers,
    Forward,
    HandoffBreached,
    HandoffTimed,
    MergeInto,
    Message,
    Publish,
    merge_into,
)
from orchestrator.core.playbook import Playbook, PlaybookVersion, short_type
from orchestrator.core.state import (
    LIVE,
    MAX_APPLIED_EVENT_IDS,
    MAX_DECISIONS,
    MAX_MERGED_IDS,
    MAX_TIMELINE,
    ActionStatus,
    CustomerState,
    TimelineEntry,
)
from orchestrator.core.timescale import Calendar
from orchestrator.core.views import (
    build_context,
    customer_view,
    event_view,
    recent_complaints,
)

_STAGE_RANK = {"not-started": 0, "stalled": 1, "active": 2, "completed": 3}


def message_id(message: Message) -> str:
    """The idempotency key of a message (a record's ``id`` or a command's ``id``)."""
    return message.id


def apply(
    state: CustomerState,
    message: Message,
    now: datetime,
    playbook: Playbook,
    spent: Mapping[str, int] | None = None,
    *,
    in_place: bool = False,
) -> tuple[CustomerState, list[Decision]]:
    """Fold ``message`` into a copy of ``state`` and decide what follows from it.

    ``in_place``: the caller hands ``state`` over and never reads it again (the worker, which
    parsed it from the table for this message), so it is changed rather than deep-copied.

    ``spent``: each segment's treatment budget spent so far, summed over all customers by the
    caller (a promotion to a member of a segment whose budget is spent is suppressed).
    """
    if message.id in state.applied_event_ids:
        return state, []
    if state.erased:
        # An erased customer takes nothing more: a late or replayed record would bring its
        # personal data back (the worker deletes its record and keeps only this mark). A
        # contact request is still answered (denied), and nothing of it kept.
        if contacts.is_contact_request(message):
            record = contacts.decide_contact_request(state, message, now, playbook, spent)
            return state, contacts.answered(record)
        return state, []
    if state.alias_of is not None and not isinstance(message, DeadlineCheck | MergeInto):
        # A merged-away customer keeps nothing: everything goes on to the survivor.
        return state, [Forward(state.alias_of, message)]
    new = state if in_place else state.model_copy(deep=True)
    if isinstance(message, MergeInto):
        new, decisions = _merge_into(new, message)
    elif isinstance(message, Absorb):
        decisions = _absorb(new, message, now, playbook)
    elif isinstance(message, DeadlineCheck):
        decisions = _deadline_check(new, message, playbook, spent)
    elif contacts.is_contact_request(message):
        decisions = _contact_request(new, message, now, playbook, spent)
    elif isinstance(message, DepartmentEvent):
        decisions = _department_event(new, message, now, playbook, spent)
    elif isinstance(message, Outcome):
        facts = _take_up_outcome(new, message, now)
        _timeline(
            new,
            now,
            "outcome",
            message.type,
            f"{message.data.action_type} {short_type(message.type)}",
            message.id,
        )
        called = isinstance(message, ActionCompleted) and (
            short_type(message.data.action_type) == decide.SALES_CALL
        )
        decisions = _reevaluate(
            new, now, playbook, _trigger_of(message, None), spent=spent, sales_contact=called
        )
        decisions += facts
    else:  # pragma: no cover - the Message union is closed
        raise TypeError(f"unknown message {type(message).__name__}")
    new.applied_event_ids = [*new.applied_event_ids, message.id][-MAX_APPLIED_EVENT_IDS:]
    return new, decisions


def _take_up_outcome(state: CustomerState, outcome: Any, now: datetime) -> list[Decision]:
    """Fold an outcome; the hand-offs it ends (the action's own, its department's)."""
    action = state.open_actions.get(outcome.data.action_id)
    before = action.status if action is not None else None
    fold(state, outcome)
    if action is None or before is None:
        return []
    facts = handoffs.action_taken_up(action, before, now)
    if isinstance(outcome, ActionAccepted | ActionCompleted):
        facts += _handoffs_ended(state, action.department, now)
    return facts


def _handoffs_ended(state: CustomerState, department: str, now: datetime) -> list[Decision]:
    """End the hand-offs ``department`` takes up now, each with a timeline entry."""
    facts = handoffs.take_up(state, department, now)
    for fact in facts:
        if isinstance(fact, HandoffTimed):
            summary = f"{fact.handoff} hand-off taken up by {department} after {fact.seconds:g}s"
            _timeline(state, now, "handoff", fact.handoff, summary, None)
    return facts


def _trigger_of(message: Any, event_short: str | None, **kwargs: Any) -> decide.Trigger:
    return decide.Trigger(
        id=message.id,
        type=message.type,
        correlation_id=getattr(message, "correlationid", message.id),
        event_short_type=event_short,
        **kwargs,
    )


def _timeline(
    state: CustomerState,
    at: datetime,
    kind: str,
    record_type: str,
    summary: str,
    record_id: str | None,
) -> None:
    entry = TimelineEntry(
        at=at, kind=kind, type=record_type, summary=summary[:200], record_id=record_id
    )
    state.timeline = [*state.timeline, entry][-MAX_TIMELINE:]


def _contact_request(
    state: CustomerState,
    request: Any,
    now: datetime,
    playbook: Playbook,
    spent: Mapping[str, int] | None = None,
) -> list[Decision]:
    """Decide and reserve a department's contact request (core/contacts.py); the decision
    goes to the decision log and to the department. No plays run on it."""
    known = state.created_at is not None
    link_identifiers(state, request)
    if state.created_at is None:
        state.created_at = request.time
    record = contacts.decide_contact_request(state, request, now, playbook, spent, known=known)
    _timeline(state, now, "contact-request", request.type, contacts.summary(record), request.id)
    return contacts.answered(record)


def _department_event(
    state: CustomerState,
    event: Any,
    now: datetime,
    playbook: Playbook,
    spent: Mapping[str, int] | None = None,
) -> list[Decision]:
    # The event's own identifiers too: an erasure forgets those it links as it erases.
    arriving = [f"{kind.value}:{value}" for kind, value in event.data.customer.identifiers()]
    known = list(dict.fromkeys([*state.identifier_keys(), *arriving]))
    fold(state, event)
    forgotten = tuple(key for key in known if key not in state.identifier_keys())
    event_short = short_type(event.type)
    department = event.department.value
    # Before the plays: the event's own hand-offs start after it, and it does not end them.
    facts = _handoffs_ended(state, department, now)
    _timeline(
        state,
        event.time,
        "event",
        event.type,
        f"{event_short} from {event.department.value}",
        event.id,
    )
    decisions = _reevaluate(
        state,
        now,
        playbook,
        _trigger_of(event, event_short, department=department),
        event=event_view(event),
        spent=spent,
        sales_contact=event_short in decide.SALES_CONTACT_EVENTS,
    )
    state.erasure_refs = {}  # used by this step's erase actions; never kept
    if forgotten:
        decisions.append(ForgetIdentifiers(forgotten))
    return decisions + facts


def _reevaluate(
    state: CustomerState,
    now: datetime,
    playbook: Playbook,
    trigger: decide.Trigger,
    event: dict[str, Any] | None = None,
    plays_allowed: bool = True,
    extra: list[Any] | None = None,
    spent: Mapping[str, int] | None = None,
    sales_contact: bool = False,
) -> list[Decision]:
    """Value, segments, owner, plays, arbitration and the profile, after a state change."""
    records: list[Any] = list(extra or [])
    control = in_control_group(state.customer_id, playbook.policy.control_group_share)
    state.predicted_ltv_minor = predicted_lifetime_value_minor(state, now, playbook.calendar)
    event_map = event or {"type": short_type(trigger.type), "id": trigger.id}
    fields = playbook.customer_fields
    customer = customer_view(state, now, playbook.calendar)
    context = build_context(customer, event_map, fields)
    segments_before = list(state.segments)
    entered, exited, segment_records = decide.segment_changes(
        state, playbook, context, now, trigger
    )
    records.extend(segment_records)
    if state.segments != segments_before:
        # Segments are all segment_changes changes: otherwise the view (and its CEL context,
        # a fifth of the core's time) would be built again the same.
        customer = customer_view(state, now, playbook.calendar)
        context = build_context(customer, event_map, fields)
    records.extend(decide.owner_change(state, playbook, context, now, trigger))
    if sales_contact:
        decide.note_sales_contact(state, now)
    if plays_allowed:
        trigger = decide.Trigger(
            id=trigger.id,
            type=trigger.type,
            correlation_id=trigger.correlation_id,
            event_short_type=trigger.event_short_type,
            department=trigger.department,
            entered=tuple(entered),
            exited=tuple(exited),
            missed_plays=trigger.missed_plays,
        )
        plays = decide.triggered_plays(playbook, trigger)
        proposals = decide.propose(state, playbook, plays, customer, context, now, trigger)
        decide.arbitrate(state, playbook, proposals, context, now, spent)
        decide.start_play_handoffs(state, playbook, proposals, now, trigger)
        if control:
            hold_out(proposals)
        decide.record_winners(state, proposals, now, trigger, playbook)
        if proposals:
            records.extend(
                _decision_records(state, proposals, now, trigger, control, playbook.version)
            )
    decisions: list[Decision] = [Publish(r) for r in records]
    decisions.extend(_profile(state, now, playbook.calendar, trigger, control))
    return decisions


def _decision_records(
    state: CustomerState,
    proposals: list[decide.Proposal],
    now: datetime,
    trigger: decide.Trigger,
    control: bool,
    version: PlaybookVersion,
) -> list[Any]:
    winners = [p.record for p in proposals if p.verdict is Verdict.WON]
    log_id = decision_id(state.customer_id, trigger.id)
    data = {
        "customer_id": state.customer_id,
        "decision_id": log_id,
        "trigger_event_id": trigger.id,
        "trigger_event_type": trigger.type,
        "control_group": control,
        "candidates": decide.candidates(proposals),
        "playbook": version.as_record(),
    }
    log = DecisionRecorded.build(
        DecisionRecorded.data_model().model_validate(data, strict=False),  # type: ignore[arg-type]
        id=log_id,
        time=now,
        correlationid=trigger.correlation_id,
        causationid=trigger.id,
    )
    entry = log.data.model_dump(mode="json")
    if facts := decide.decision_facts(proposals):
        # In the state only, for the customer 360 view's "why" (the decision-log record has
        # no facts; the actions carry them all), and for the last few decisions only.
        entry["facts"] = facts
        with_facts = [older for older in state.decisions if "facts" in older]
        for older in with_facts[: max(0, len(with_facts) - decide.MAX_DECISIONS_WITH_FACTS + 1)]:
            del older["facts"]
    state.decisions = [*state.decisions, entry][-MAX_DECISIONS:]
    won = len(winners)
    _timeline(
        state,
        now,
        "decision",
        log.type,
        f"{won} action(s) won, {len(proposals) - won} lost, suppressed or held out",
        log.id,
    )
    return [*winners, log]


def _profile(
    state: CustomerState,
    now: datetime,
    calendar: Calendar,
    trigger: decide.Trigger,
    control: bool,
) -> list[Decision]:
    """The customer's profile record, when it differs from the last one published.

    Most events change only the timeline and the decision log, which the profile does not
    carry: re-publishing an identical profile was about a third of a worker's records.
    """
    if state.erased:
        state.profile_version += 1
        return [EraseProfile(state.customer_id)]
    if not state.identifiers:
        return []
    digest = profile_fingerprint(state, now, calendar, control)
    if digest == state.profile_digest:
        return []
    state.profile_digest = digest
    state.profile_version += 1
    data = profile_data(state, now, calendar, control)
    data["profile_version"] = state.profile_version
    payload = CustomerProfile.data_model().model_validate(data, strict=False)
    record = CustomerProfile.build(
        payload,  # type: ignore[arg-type]
        id=stable_id("profile", state.customer_id, state.profile_version),
        time=now,
        correlationid=trigger.correlation_id,
        causationid=trigger.id,
    )
    return [Publish(record)]


# An identifier's fields the profile leaves out (the profile and its fingerprint both read this).
_UNPROFILED_IDENTIFIER_FIELDS = frozenset({"also_from"})


def profile_data(
    state: CustomerState, now: datetime, calendar: Calendar, control: bool
) -> dict[str, Any]:
    """The profile's content (its data without the version). What it reads of the state is
    what :func:`profile_fingerprint` reads: change one, change the other."""
    data: dict[str, Any] = {
        "customer_id": state.customer_id,
        "identifiers": [
            i.model_dump(exclude_none=True, exclude=set(_UNPROFILED_IDENTIFIER_FIELDS))
            for i in state.identifiers
        ],
        "merged_customer_ids": state.merged_customer_ids,
        "attributes": [
            {"name": name, "value": a.value, "source": a.source, "updated_at": a.updated_at}
            for name, a in sorted(state.attributes.items())
        ],
        "stages": state.stages,
        "health": {
            "open_cases": _cases_by_priority(state),
            "open_complaints": recent_complaints(state, now, calendar),
            "last_csat": state.last_csat,
            "last_nps": state.last_nps,
            "sentiment": state.sentiment,
        },
        "consents": [
            {"channel": channel, "status": c.status, "updated_at": c.updated_at}
            for channel, c in sorted(state.consents.items())
        ],
        "segments": state.segments,
        "owner": decide.owner_ref(state.owner),
        "last_engaged_at": state.last_engaged_at,
        "control_group": control,
        "open_action_ids": _live_action_ids(state),
    }
    if state.currency is not None:
        data["value"] = {
            "currency": state.currency,
            "revenue_to_date_minor": state.revenue_to_date_minor,
            "open_pipeline_minor": sum(state.open_opportunities.values()),
            "predicted_lifetime_value_minor": state.predicted_ltv_minor,
        }
    data = {k: v for k, v in data.items() if v is not None}
    data["health"] = {k: v for k, v in data["health"].items() if v is not None}
    return data


def profile_fingerprint(
    state: CustomerState, now: datetime, calendar: Calendar, control: bool
) -> str:
    """A fingerprint of what the profile is made of (what decides whether it changed).

    Taken from the state's fields that :func:`profile_data` reads, as plain values, not from
    the profile itself: building the profile on every event to compare it was about a
    quarter of the core's time. Models are read through their fields' values (``__dict__``),
    so a field added to one is in the fingerprint too. Times are read as :func:`_moment`, and the
    whole is written with ``marshal``'s version 2 (no back-references, no interning marks:
    equal values give equal bytes). At worst an identical profile looks new (e.g. after this
    fingerprint's definition changed) and is published once more.
    """
    owner = state.owner
    parts = (
        [
            _plain(v for k, v in i.__dict__.items() if k not in _UNPROFILED_IDENTIFIER_FIELDS)
            for i in state.identifiers
        ],
        state.merged_customer_ids,
        sorted((name, _plain(a.__dict__.values())) for name, a in state.attributes.items()),
        sorted(state.stages.items()),
        sorted(state.open_cases.values()),
        recent_complaints(state, now, calendar) if state.complaints else 0,
        state.last_csat,
        state.last_nps,
        state.sentiment,
        sorted((name, _plain(c.__dict__.values())) for name, c in state.consents.items()),
        state.segments,
        None if owner is None else _plain(owner.__dict__.values()),
        None if state.last_engaged_at is None else _moment(state.last_engaged_at),
        control,
        _live_action_ids(state),
        None
        if state.currency is None
        else (
            state.currency,
            state.revenue_to_date_minor,
            sum(state.open_opportunities.values()),
            state.predicted_ltv_minor,
        ),
    )
    try:
        written = marshal.dumps(parts, 2)
    except ValueError:  # a value marshal does not take (an enum, a model): its repr then
        written = repr(parts).encode()
    return hashlib.blake2b(written, digest_size=12).hexdigest()


def _plain(values: Iterable[Any]) -> tuple[Any, ...]:
    """A model's field values with times as :func:`_moment`."""
    return tuple(_moment(v) if isinstance(v, datetime) else v for v in values)


def _moment(at: datetime) -> tuple[Any, float | None]:
    """A time as its fields (pickle's 10 bytes) and its UTC offset in seconds: the same
    moment reads the same whichever ``tzinfo`` object holds the offset (ISO text costs
    eight times as much)."""
    offset = at.utcoffset()
    return at.__reduce__()[1][0], None if offset is None else offset.total_seconds()


def _live_action_ids(state: CustomerState) -> list[str]:
    return [a.action_id for a in state.open_actions.values() if a.status in LIVE]


def _cases_by_priority(state: CustomerState) -> dict[str, int]:
    counts: dict[str, int] = {}
    for priority in state.open_cases.values():
        counts[priority] = counts.get(priority, 0) + 1
    return counts


def _deadline_check(
    state: CustomerState,
    command: DeadlineCheck,
    playbook: Playbook,
    spent: Mapping[str, int] | None = None,
) -> list[Decision]:
    now = command.now
    trigger = decide.Trigger(
        id=command.id,
        type=HandoffDeadlineMissed.record_type(),
        correlation_id=command.id,
        event_short_type=None,
    )
    missed = decide.missed_deadlines(state, now, trigger)
    breaches: list[Decision] = [
        handoffs.action_missed(state.open_actions[r.data.action_id]) for r in missed
    ]
    for breach in handoffs.overdue(state, now):
        assert isinstance(breach, HandoffBreached)
        summary = f"{breach.handoff} hand-off to {breach.to_department} is past its SLA"
        _timeline(state, now, "handoff", breach.handoff, summary, None)
        breaches.append(breach)
    if not missed:
        return breaches
    for record in missed:
        _timeline(
            state,
            now,
            "deadline-missed",
            record.type,
            f"{short_type(record.data.action_type)} missed by {record.data.department.value}",
            record.id,
        )
    trigger = decide.Trigger(
        id=command.id,
        type=trigger.type,
        correlation_id=command.id,
        event_short_type=None,
        missed_plays=tuple(sorted({r.data.play_id for r in missed})),
    )
    event = {
        "type": "deadline.missed",
        "id": command.id,
        "plays": sorted({r.data.play_id for r in missed}),
    }
    decisions = _reevaluate(state, now, playbook, trigger, event=event, extra=missed, spent=spent)
    return decisions + breaches


def _merge_into(state: CustomerState, command: MergeInto) -> tuple[CustomerState, list[Decision]]:
    if state.alias_of is not None:
        return state, _redirect_merge(state, command)
    snapshot = state.to_json()
    survivor = command.survivor_id
    alias = CustomerState(
        customer_id=state.customer_id,
        created_at=state.created_at,
        alias_of=survivor,
        alias_of_created_at=command.survivor_created_at,
        applied_event_ids=state.applied_event_ids,
        profile_version=state.profile_version,
    )
    absorb = Absorb(
        id=stable_id("absorb", command.customer_id, survivor, command.evidence_event_id),
        customer_id=survivor,
        merged_customer_id=command.customer_id,
        merged_state=snapshot,
        matched_on=command.matched_on,
        evidence_event_id=command.evidence_event_id,
    )
    return alias, [Forward(survivor, absorb), EraseProfile(command.customer_id)]


def _redirect_merge(state: CustomerState, command: MergeInto) -> list[Decision]:
    """A merge reaching an alias is between its survivor and the new one: older wins."""
    if (
        state.alias_of is None
        or command.survivor_id == state.alias_of
        or state.alias_of_created_at is None
    ):
        return []
    mine: tuple[datetime, str] = (state.alias_of_created_at, state.alias_of)
    theirs: tuple[datetime, str] = (command.survivor_created_at, command.survivor_id)
    (winner_at, winner), (_, loser) = sorted((mine, theirs))
    redirected = merge_into(loser, winner, winner_at, command.matched_on, command.evidence_event_id)
    return [Forward(loser, redirected)]


def _absorb(
    state: CustomerState, command: Absorb, now: datetime, playbook: Playbook
) -> list[Decision]:
    other = CustomerState.from_json(command.merged_state)
    merge_states(state, other)
    trigger = decide.Trigger(
        id=command.id,
        type=CustomerMerged.record_type(),
        correlation_id=command.evidence_event_id,
        event_short_type=None,
    )
    merged = CustomerMerged.build(
        CustomerMerged.data_model().model_validate(  # type: ignore[arg-type]
            {
                "customer_id": state.customer_id,
                "merged_customer_id": command.merged_customer_id,
                "matched_on": list(command.matched_on),
                "evidence_event_id": command.evidence_event_id,
            },
            strict=False,
        ),
        id=stable_id("customer-merged", state.customer_id, command.merged_customer_id),
        time=now,
        correlationid=command.evidence_event_id,
        causationid=command.id,
    )
    _timeline(
        state, now, "merge", merged.type, f"merged customer {command.merged_customer_id}", merged.id
    )
    return _reevaluate(state, now, playbook, trigger, plays_allowed=False, extra=[merged])


def merge_states(survivor: CustomerState, other: CustomerState) -> None:
    """Move everything ``other`` knows into ``survivor`` (deterministically, in place)."""
    known = {(i.kind, i.value) for i in survivor.identifiers}
    survivor.identifiers += [i for i in other.identifiers if (i.kind, i.value) not in known]
    survivor.identifiers = survivor.identifiers[:32]
    ids = [*survivor.merged_customer_ids, other.customer_id, *other.merged_customer_ids]
    survivor.merged_customer_ids = sorted(set(ids) - {survivor.customer_id})[:MAX_MERGED_IDS]
    for name, attribute in other.attributes.items():
        mine = survivor.attributes.get(name)
        if mine is None or attribute.updated_at > mine.updated_at:
            survivor.attributes[name] = attribute
    for stage, status in other.stages.items():
        if _STAGE_RANK.get(status, 0) > _STAGE_RANK.get(survivor.stages.get(stage, ""), 0):
            survivor.stages[stage] = status
    survivor.currency = survivor.currency or other.currency
    if other.currency == survivor.currency:
        survivor.revenue_to_date_minor += other.revenue_to_date_minor
        survivor.open_opportunities = {**other.open_opportunities, **survivor.open_opportunities}
    survivor.purchases += other.purchases
    survivor.first_purchase_at = _earliest(survivor.first_purchase_at, other.first_purchase_at)
    survivor.last_purchase_at = _latest(survivor.last_purchase_at, other.last_purchase_at)
    survivor.open_cases = {**other.open_cases, **survivor.open_cases}
    survivor.complaints = sorted({*survivor.complaints, *other.complaints})[-20:]
    survivor.last_csat = survivor.last_csat if survivor.last_csat is not None else other.last_csat
    survivor.last_nps = survivor.last_nps if survivor.last_nps is not None else other.last_nps
    if survivor.sentiment is None:
        survivor.sentiment = other.sentiment
    survivor.lead_score = max(survivor.lead_score or 0, other.lead_score or 0) or None
    survivor.lead_qualified = survivor.lead_qualified or other.lead_qualified
    survivor.last_engaged_at = _latest(survivor.last_engaged_at, other.last_engaged_at)
    survivor.renewal_due_at = survivor.renewal_due_at or other.renewal_due_at
    survivor.churned_at = survivor.churned_at or other.churned_at
    for channel, consent in other.consents.items():
        mine_consent = survivor.consents.get(channel)
        if mine_consent is None or consent.updated_at > mine_consent.updated_at:
            survivor.consents[channel] = consent
    survivor.account_owner = survivor.account_owner or other.account_owner
    survivor.promotions_suppressed = survivor.promotions_suppressed or other.promotions_suppressed
    survivor.erased = survivor.erased or other.erased
    survivor.handoff_started_at = _earliest(survivor.handoff_started_at, other.handoff_started_at)
    survivor.first_sales_contact_at = _earliest(
        survivor.first_sales_contact_at, other.first_sales_contact_at
    )
    survivor.deadlines_missed += other.deadlines_missed
    for segment_id, minor in other.segment_spend_minor.items():
        spend = survivor.segment_spend_minor
        spend[segment_id] = spend.get(segment_id, 0) + minor
    survivor.open_actions = {**other.open_actions, **survivor.open_actions}
    _one_voice(survivor)
    handoffs.merge(survivor, other)
    survivor.contact_log = sorted([*survivor.contact_log, *other.contact_log], key=lambda c: c.at)[
        -100:
    ]
    survivor.timeline = sorted([*survivor.timeline, *other.timeline], key=lambda t: t.at)[
        -MAX_TIMELINE:
    ]
    survivor.applied_event_ids = [
        *survivor.applied_event_ids,
        *(i for i in other.applied_event_ids if i not in survivor.applied_event_ids),
    ][-MAX_APPLIED_EVENT_IDS:]
    if survivor.created_at is None or (
        other.created_at is not None and other.created_at < survivor.created_at
    ):
        survivor.created_at = other.created_at


def _one_voice(state: CustomerState) -> None:
    """After a merge, one live action per type: the oldest stays, the others are superseded
    (their departments may still answer them; the answers no longer reopen them)."""
    kept: set[str] = set()
    live = [a for a in state.open_actions.values() if a.status in LIVE]
    for action in sorted(live, key=lambda a: (a.created_at, a.action_id)):
        if action.action_type in kept:
            action.status = ActionStatus.SUPERSEDED
        kept.add(action.action_type)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x is not None) if (a or b) else None


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x is not None) if (a or b) else None
