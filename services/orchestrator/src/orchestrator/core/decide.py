"""Segments, owner rules, plays and arbitration: from a folded state to decisions.

Arbitration ranks every candidate action by ``score = propensity x context x value x lever``:

* propensity: the play action's configured likelihood of success (0..1];
* context: 1.0, times ``policy.negative_sentiment_context`` for a promotional contact to a
  customer whose sentiment is negative;
* value: ``max(1, (expected_value - cost) / 100)`` in major units of money;
* lever: the policy's weight for the action's priority (urgent 4 .. low 1).

Candidates are then checked, in this order, and the first rule that bites decides: the customer
is erased (only erasure actions pass), consent withdrawn on the action's channel (consent always
wins), promotions suppressed, the policy's suppression rules, a promotion to a member of a
segment whose treatment budget is spent, an action of the same type (so to the same department)
already open or accepted, or chosen now, whichever play asked for it (``already-open``), the
frequency caps per channel (or over every channel) and window, the quiet hours; survivors in
one exclusive group are ranked and only the best wins, and of the contacts different plays ask
one department to make at once only the best wins (``one-voice``). Every candidate, winner or
not, is recorded with its reason. The departments' own contact requests are checked by the
same :func:`policy_denial` and :func:`cap_denial` (core/contacts.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifecycle_schemas.actions import action_id as make_action_id
from lifecycle_schemas.catalogue import RECORD_MODELS
from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.identifiers import CustomerRef
from lifecycle_schemas.outputs import (
    MAX_CANDIDATES,
    Candidate,
    HandoffDeadlineMissed,
    OwnerChanged,
    SegmentEntered,
    SegmentExited,
    Verdict,
)
from lifecycle_schemas.vocabulary import HandoffKind
from orchestrator.core import handoffs
from orchestrator.core.playbook import (
    ANY_CHANNEL,
    CUSTOMER_FIELD,
    ActionSpec,
    OwnerRule,
    Playbook,
    PlaySpec,
    SegmentSpec,
    SuppressionRule,
    budget_key,
    parse_duration,
)
from orchestrator.core.state import (
    CONTACT_KINDS,
    DEPARTMENT_SYSTEM_IDS,
    LIVE,
    MAX_CONTACT_LOG,
    MAX_OPEN_ACTIONS,
    ActionStatus,
    Contact,
    CustomerState,
    OpenAction,
    Owner,
)

# Which of the customer's identifiers each department knows it by.
_DEPARTMENT_IDENTIFIERS = {
    department: (system_id, *CONTACT_KINDS)
    for department, system_id in DEPARTMENT_SYSTEM_IDS.items()
}
ERASE_ACTION = "erase-personal-data"
# Sales has contacted a lead once it qualifies them, opens an opportunity or completes a call.
SALES_CONTACT_EVENTS = frozenset({"sales.lead.qualified", "sales.opportunity.created"})
SALES_CALL = "sales.call-customer"
SEGMENT_BUDGET_SPENT = "segment-budget-spent"
SUPPRESS_PROMOTIONS = "marketing.suppress-promotions"
RESUME_PROMOTIONS = "marketing.resume-promotions"
# Facts every decision log entry keeps (what scoring and budgets turn on), beside those read.
HEADLINE_FACTS = frozenset({"ltv", "segments"})
# The decisions that chose an action and keep their facts: the last five of them.
MAX_DECISIONS_WITH_FACTS = 5


@dataclass(frozen=True)
class Trigger:
    """What the decision is made on."""

    id: str
    type: str
    correlation_id: str
    event_short_type: str | None
    # The department whose event it is (None for commands and outcomes).
    department: str | None = None
    entered: tuple[str, ...] = ()
    exited: tuple[str, ...] = ()
    missed_plays: tuple[str, ...] = ()


@dataclass
class Proposal:
    """A candidate action before and after arbitration."""

    play: PlaySpec
    index: int
    spec: ActionSpec
    action_id: str
    score: float
    components: dict[str, float]
    channel: str | None
    promotional: bool
    group: str | None
    record: Any = None
    verdict: Verdict = Verdict.WON
    reason_code: str = "highest-score"
    reason: str = "ranked first"


def evaluate(playbook: Playbook, source: str, context: Any) -> Any:
    """Evaluate a compiled expression; a missing field or a type error counts as ``False``."""
    try:
        return playbook.expression(source).evaluate(context)
    except (KeyError, ValueError, TypeError, RuntimeError):
        return False


def owner_ref(owner: Owner | None) -> dict[str, Any] | None:
    """An owner as the contracts' ``OwnerRef`` fields."""
    if owner is None:
        return None
    ref: dict[str, Any] = {"department": owner.department, "owner_id": owner.owner_id}
    if owner.display_name:
        ref["display_name"] = owner.display_name
    return ref


def _build(
    model_type: str, data: dict[str, Any], *, record_id: str, now: datetime, trigger: Trigger
) -> Any:
    model = RECORD_MODELS[model_type]
    payload = model.data_model().model_validate(data, strict=False)
    return model.build(
        payload,
        id=record_id,
        time=now,
        correlationid=trigger.correlation_id,
        causationid=trigger.id,
    )


def segment_changes(
    state: CustomerState, playbook: Playbook, context: Any, now: datetime, trigger: Trigger
) -> tuple[list[str], list[str], list[Any]]:
    """Re-evaluate every segment; update ``state.segments``; the entered/exited records."""
    members = [s.id for s in playbook.segments if evaluate(playbook, s.when, context) is True]
    entered = [s for s in members if s not in state.segments]
    exited = [s for s in state.segments if s not in members]
    state.segments = members
    records: list[Any] = []
    by_id = {s.id: s for s in playbook.segments}
    for segment_id, model in [(s, SegmentEntered) for s in entered] + [
        (s, SegmentExited) for s in exited if s in by_id
    ]:
        spec = by_id[segment_id]
        records.append(
            _build(
                model.record_type(),
                {
                    "customer_id": state.customer_id,
                    "segment_id": spec.id,
                    "segment_version": spec.version,
                    "segment_name": spec.name,
                    "manager": spec.manager.model_dump(exclude_none=True),
                },
                record_id=stable_id(
                    "segment-change", state.customer_id, trigger.id, spec.id, model.record_type()
                ),
                now=now,
                trigger=trigger,
            )
        )
    return entered, exited, records


def owner_change(
    state: CustomerState, playbook: Playbook, context: Any, now: datetime, trigger: Trigger
) -> list[Any]:
    """Apply the first matching owner rule; an ``OwnerChanged`` record if the owner changed.

    A rule taking over from another starts its kind of hand-off (core/handoffs.py).
    """
    for rule in playbook.owner_rules:
        if evaluate(playbook, rule.when, context) is not True:
            continue
        if rule.handoff is HandoffKind.LEAD_TO_SALES and state.handoff_started_at is None:
            state.handoff_started_at = now  # the hand-off clock starts (docs/proof-of-value.md)
        wanted = Owner(**rule.owner.model_dump())
        if rule.use_account_owner and state.account_owner is not None:
            wanted = state.account_owner.model_copy()
        current = state.owner
        if state.owner_rule is not None and state.owner_rule != rule.id:
            handoffs.start(
                state,
                playbook,
                rule.handoff.value,
                from_department=current.department if current else handoffs.ORCHESTRATOR,
                department=wanted.department,
                now=now,
                deadline=rule.deadline,
            )
        state.owner_rule = rule.id
        if current is not None and (current.department, current.owner_id) == (
            wanted.department,
            wanted.owner_id,
        ):
            return []
        state.owner = wanted
        data: dict[str, Any] = {
            "customer_id": state.customer_id,
            "owner": owner_ref(wanted),
            "handoff": rule.handoff.value,
            "handoff_deadline": _handoff_deadline(playbook, rule, wanted.department, now),
            "reason": f"owner rule {rule.id}",
        }
        if current is not None:
            data["previous_owner"] = owner_ref(current)
        record_id = stable_id("owner-changed", state.customer_id, trigger.id, wanted.owner_id)
        return [
            _build(OwnerChanged.record_type(), data, record_id=record_id, now=now, trigger=trigger)
        ]
    return []


def _handoff_deadline(
    playbook: Playbook, rule: OwnerRule, department: str, now: datetime
) -> datetime | None:
    """The rule's own deadline, else the SLA of the process receiving its hand-off."""
    if rule.deadline is not None:
        return now + parse_duration(rule.deadline)
    process = playbook.receiving_process(rule.handoff.value, department)
    sla = process.sla(rule.handoff.value) if process is not None else None
    return now + sla if sla is not None else None


def start_play_handoffs(
    state: CustomerState,
    playbook: Playbook,
    proposals: list[Proposal],
    now: datetime,
    trigger: Trigger,
) -> None:
    """The hand-offs of the plays that fired (whatever arbitration made of their actions)."""
    from_department = trigger.department or (
        state.owner.department if state.owner is not None else handoffs.ORCHESTRATOR
    )
    for proposal in proposals:
        kind = proposal.spec.handoff
        if kind is not None:
            handoffs.start(
                state,
                playbook,
                kind.value,
                from_department=from_department,
                department=proposal.spec.department,
                now=now,
            )


def note_sales_contact(state: CustomerState, now: datetime) -> None:
    """Stop the hand-off clock at sales' first contact after the lead was handed over."""
    if state.handoff_started_at is not None and state.first_sales_contact_at is None:
        state.first_sales_contact_at = now


def over_budget_segments(
    state: CustomerState, playbook: Playbook, spent: Mapping[str, int], now: datetime
) -> list[str]:
    """The customer's segments whose budget is spent (``spent``: each segment's total, by
    :func:`budget_key`, so a budget that renews is checked against its current period)."""
    return [
        s.id
        for s in playbook.segments
        if s.id in state.segments
        and s.budget is not None
        and spent.get(budget_key(s, now), 0) >= s.budget.amount_minor
    ]


def missed_deadlines(state: CustomerState, now: datetime, trigger: Trigger) -> list[Any]:
    """Mark open actions past their deadline as missed; one escalation record each."""
    records: list[Any] = []
    for action in state.open_actions.values():
        if action.status is not ActionStatus.OPEN or action.deadline > now:
            continue
        action.status = ActionStatus.MISSED
        state.deadlines_missed += 1
        data: dict[str, Any] = {
            "customer_id": state.customer_id,
            "action_id": action.action_id,
            "action_type": action.action_type,
            "department": action.department,
            "deadline": action.deadline,
            "play_id": action.play_id,
            "play_version": action.play_version,
        }
        if state.owner is not None:
            data["escalated_to"] = owner_ref(state.owner)
        records.append(
            _build(
                HandoffDeadlineMissed.record_type(),
                data,
                record_id=stable_id("deadline-missed", action.action_id),
                now=now,
                trigger=trigger,
            )
        )
    return records


def triggered_plays(playbook: Playbook, trigger: Trigger) -> list[PlaySpec]:
    """The plays whose trigger matches, in playbook order."""
    matched: list[PlaySpec] = []
    for play in playbook.plays:
        t = play.trigger
        if (
            (t.event is not None and t.event == trigger.event_short_type)
            or (t.segment_entered is not None and t.segment_entered in trigger.entered)
            or (t.segment_exited is not None and t.segment_exited in trigger.exited)
            or (t.deadline_missed is not None and t.deadline_missed in trigger.missed_plays)
        ):
            matched.append(play)
    return matched


def _render(value: Any, playbook: Playbook, context: Any) -> Any:
    if isinstance(value, str) and value.startswith("="):
        return playbook.expression(value[1:]).evaluate(context)
    if isinstance(value, dict):
        rendered = {k: _render(v, playbook, context) for k, v in value.items()}
        return {k: v for k, v in rendered.items() if v is not None}
    if isinstance(value, list):
        return [_render(v, playbook, context) for v in value]
    return value


def _department_ref(state: CustomerState, department: str) -> dict[str, str]:
    ref = {"customer_id": state.customer_id}
    if state.erased:
        # The erase action names every identifier this department knew the customer by.
        ref.update(state.erasure_refs.get(department, {}))
    for identifier in state.identifiers:
        if identifier.kind in _DEPARTMENT_IDENTIFIERS[department] and identifier.kind not in ref:
            ref[identifier.kind] = identifier.value
    CustomerRef.model_validate(ref)
    return ref


def _facts(customer: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name, value in customer.items():
        if name in ("id",) or isinstance(value, dict | list):
            continue
        facts[name] = value[:200] if isinstance(value, str) else value
    facts["segments"] = ",".join(customer["segments"])[:200]
    return dict(list(facts.items())[:32])


def propose(
    state: CustomerState,
    playbook: Playbook,
    plays: list[PlaySpec],
    customer: dict[str, Any],
    context: Any,
    now: datetime,
    trigger: Trigger,
) -> list[Proposal]:
    """Every action of every play whose condition holds, scored, with its record built."""
    policy = playbook.policy
    proposals: list[Proposal] = []
    groups = {short: g.id for g in policy.exclusive_groups for short in g.action_types}
    for play in plays:
        if evaluate(playbook, play.when, context) is not True:
            continue
        for index, spec in enumerate(play.actions):
            kind = policy.contact_kinds.get(spec.type)
            channel = kind.channel if kind else None
            promotional = kind.promotional if kind else False
            context_factor = 1.0
            if promotional and customer["sentiment"] < 0:
                context_factor = policy.negative_sentiment_context
            value = max(1.0, (spec.expected_value_minor - spec.cost_minor) / 100)
            lever = policy.lever.get(spec.priority, 1.0)
            components = {
                "propensity": spec.propensity,
                "context": context_factor,
                "value": value,
                "lever": lever,
            }
            proposal = Proposal(
                play=play,
                index=index,
                spec=spec,
                action_id=make_action_id(
                    play.id, play.version, state.customer_id, trigger.id, index
                ),
                score=round(spec.propensity * context_factor * value * lever, 6),
                components=components,
                channel=channel,
                promotional=promotional,
                group=groups.get(spec.type),
            )
            try:
                parameters = _render(spec.parameters, playbook, context)
                channel = parameters.get("channel", channel)
                proposal.channel = channel
                data: dict[str, Any] = {
                    "action_id": proposal.action_id,
                    "department": spec.department,
                    "customer_id": state.customer_id,
                    "customer": _department_ref(state, spec.department),
                    "parameters": parameters,
                    "priority": spec.priority.value,
                    "deadline": now + parse_duration(spec.deadline),
                    "expires_at": now + parse_duration(spec.expires),
                    "play_id": play.id,
                    "play_version": play.version,
                    "trigger_event_id": trigger.id,
                    "rationale": spec.rationale,
                    "facts": _facts(customer),
                }
                if spec.expected_value_minor:
                    data["expected_value"] = {
                        "amount_minor": spec.expected_value_minor,
                        "currency": state.currency or "EUR",
                    }
                proposal.record = _build(
                    spec.record_type, data, record_id=proposal.action_id, now=now, trigger=trigger
                )
            except Exception as error:  # a play that renders an invalid action must not crash
                proposal.verdict = Verdict.SUPPRESSED
                proposal.reason_code = "invalid-action"
                proposal.reason = f"the play built an invalid action: {type(error).__name__}"
            proposals.append(proposal)
    return proposals


def _suppress(proposal: Proposal, code: str, reason: str) -> None:
    proposal.verdict = Verdict.SUPPRESSED
    proposal.reason_code = code
    proposal.reason = reason[:200]


@dataclass(frozen=True)
class ContactAsk:
    """A contact under the contact policy: a play's candidate action or a department's request.

    ``consent``: withdrawn consent on the channel denies it. ``coordinated``: the suppression
    rules, the segment budget, the frequency caps and the quiet hours apply (a department's
    transactional and legal contacts are exempt, docs/departments.md). ``erasure``: an erase
    action, the one thing an erased customer still gets.
    """

    channel: str | None
    promotional: bool
    consent: bool = True
    coordinated: bool = True
    erasure: bool = False


# A denial: (reason code, reason).
Denial = tuple[str, str]
# A contact chosen in the same step, not yet in the contact log: (channel, promotional).
Pending = tuple[str | None, bool]


def biting_rules(playbook: Playbook, context: Any) -> list[SuppressionRule]:
    """The policy's suppression rules whose condition holds for the customer now."""
    return [r for r in playbook.policy.suppressions if evaluate(playbook, r.when, context) is True]


def policy_denial(
    state: CustomerState,
    ask: ContactAsk,
    rules: list[SuppressionRule],
    exhausted: list[str],
    *,
    rules_first: bool = False,
) -> Denial | None:
    """The first of erasure, consent, promotion suppression, the suppression rules and the
    segment budget that denies ``ask`` (``rules``: those biting now, :func:`biting_rules`;
    ``exhausted``: the customer's segments whose budget is spent). ``rules_first``: a rule
    that bites is named before the promotions-suppressed flag (which a play set because of
    such a rule): a department asking gets the reason itself."""
    contact = ask.channel is not None
    if state.erased and not ask.erasure:
        return "erased", "the customer's personal data is erased"
    consent = state.consents.get(str(ask.channel))
    if ask.consent and contact and consent is not None and consent.status == "withdrawn":
        # Consent always wins, for service contacts too (tests/chaos/test_consent.py).
        return "no-consent", f"consent withdrawn for {ask.channel}"
    if not ask.coordinated:
        return None
    suppressed = ask.promotional and state.promotions_suppressed
    if suppressed and not rules_first:
        return "promotions-suppressed", "promotions are suppressed"
    for rule in rules:
        if (
            rule.applies_to == "all"
            or (rule.applies_to == "contact" and contact)
            or (rule.applies_to == "promotional" and ask.promotional)
        ):
            return rule.id, rule.reason
    if suppressed:
        return "promotions-suppressed", "promotions are suppressed"
    if ask.promotional and exhausted:
        return (
            SEGMENT_BUDGET_SPENT,
            f"the treatment budget of segment {', '.join(exhausted)} is spent",
        )
    return None


def _contacts_in_window(
    state: CustomerState,
    pending: list[Pending],
    channel: str,
    window: timedelta,
    promotional_only: bool,
    now: datetime,
) -> int:
    every = channel == ANY_CHANNEL
    count = sum(
        1
        for c in state.contact_log
        if (every or c.channel == channel)
        and now - c.at < window
        and (c.promotional or not promotional_only)
        and c.counts_at(now)
    )
    return count + sum(
        1
        for pending_channel, promotional in pending
        if pending_channel is not None
        and (every or pending_channel == channel)
        and (promotional or not promotional_only)
    )


def cap_denial(
    state: CustomerState, playbook: Playbook, ask: ContactAsk, pending: list[Pending], now: datetime
) -> Denial | None:
    """The first frequency cap (per channel, or ``any`` channel) or quiet hours that deny
    ``ask``; reserved contacts count until they lapse, ``pending`` ones as well."""
    if ask.channel is None or not ask.coordinated:
        return None
    policy = playbook.policy
    for cap in policy.frequency_caps:
        if (
            cap.channel in (ask.channel, ANY_CHANNEL)
            and (ask.promotional or not cap.promotional_only)
            and _contacts_in_window(
                state, pending, cap.channel, parse_duration(cap.window), cap.promotional_only, now
            )
            >= cap.max
        ):
            kind = "contacts on any channel" if cap.channel == ANY_CHANNEL else "contacts"
            where = "" if cap.channel == ANY_CHANNEL else f"{cap.channel} "
            return "frequency-cap", f"at most {cap.max} {where}{kind} per {cap.window}"
    for quiet in policy.quiet_hours:
        if (
            ask.channel in quiet.channels
            and (quiet.applies_to == "contact" or ask.promotional)
            and quiet.covers(now)
        ):
            return "quiet-hours", f"no {ask.channel} contact from {quiet.start} to {quiet.end} UTC"
    return None


def arbitrate(
    state: CustomerState,
    playbook: Playbook,
    proposals: list[Proposal],
    context: Any,
    now: datetime,
    spent: Mapping[str, int] | None = None,
) -> None:
    """Decide every proposal's verdict under the contact policy (see the module docstring).

    ``spent`` is each segment's budget spent so far (over every customer, which one customer's
    state cannot know); promotional candidates of a customer in a segment whose budget is spent
    lose with ``segment-budget-spent``.
    """
    exhausted = over_budget_segments(state, playbook, spent or {}, now)
    # One voice: an action type (so its department) is open once, whichever play asked for it.
    open_types = {a.action_type: a.play_id for a in state.open_actions.values() if a.status in LIVE}
    rules = biting_rules(playbook, context)
    winners: list[Proposal] = []
    for proposal in sorted(proposals, key=lambda p: (-p.score, p.play.id, p.index)):
        if proposal.verdict is not Verdict.WON:
            continue
        spec = proposal.spec
        contact = proposal.channel is not None
        ask = ContactAsk(
            channel=proposal.channel,
            promotional=proposal.promotional,
            erasure=spec.type.endswith(ERASE_ACTION),
        )
        if (denial := policy_denial(state, ask, rules, exhausted)) is not None:
            _suppress(proposal, *denial)
        elif (holder := open_types.get(spec.record_type)) is not None:
            _suppress(proposal, "already-open", f"{spec.type} of play {holder} is still open")
        elif (twin := _same_type(winners, proposal)) is not None:
            _suppress(proposal, "already-open", f"{spec.type} is chosen for play {twin.play.id}")
        elif (
            denial := cap_denial(
                state, playbook, ask, [(w.channel, w.promotional) for w in winners], now
            )
        ) is not None:
            _suppress(proposal, *denial)
        elif (
            proposal.group is not None
            and (best := next((w for w in winners if w.group == proposal.group), None)) is not None
        ):
            proposal.verdict = Verdict.LOST
            proposal.reason_code = "exclusive-group"
            proposal.reason = f"{best.play.id} scored higher in group {proposal.group}"[:200]
        elif contact and (voice := _other_voice(winners, proposal)) is not None:
            proposal.verdict = Verdict.LOST
            proposal.reason_code = "one-voice"
            proposal.reason = (
                f"{voice.play.id} scored higher for {spec.department}'s contact ({voice.spec.type})"
            )[:200]
        else:
            winners.append(proposal)


def _same_type(winners: list[Proposal], proposal: Proposal) -> Proposal | None:
    """A winner of this decision with the proposal's action type."""
    return next((w for w in winners if w.spec.record_type == proposal.spec.record_type), None)


def _other_voice(winners: list[Proposal], proposal: Proposal) -> Proposal | None:
    """A winning contact another play asks the proposal's department to make now."""
    return next(
        (
            w
            for w in winners
            if w.channel is not None
            and w.spec.department == proposal.spec.department
            and w.play.id != proposal.play.id
        ),
        None,
    )


def _charge(spend: dict[str, int], segment: SegmentSpec, key: str, cost_minor: int) -> None:
    """Charge a cost to the segment's current budget key; a renewing budget's earlier periods
    no longer count, so the customer keeps only the current one."""
    if key != segment.id:
        for stale in [k for k in spend if k.startswith(f"{segment.id}@") and k != key]:
            del spend[stale]
    spend[key] = spend.get(key, 0) + cost_minor


def record_winners(
    state: CustomerState,
    proposals: list[Proposal],
    now: datetime,
    trigger: Trigger,
    playbook: Playbook | None = None,
) -> None:
    """Remember the won actions (open actions, contacts, promotion suppression, spend).

    Each won action's cost is charged to every budgeted segment the customer is in now: the
    spend of a segment is what its members' treatments cost (segments overlap, so do spends).
    """
    budgeted = (
        [s for s in playbook.segments if s.budget is not None and s.id in state.segments]
        if playbook is not None
        else []
    )
    for p in proposals:
        if p.verdict is not Verdict.WON:
            continue
        for missed in state.open_actions.values():
            # An escalation replaces the action that missed: a late answer no longer reopens it.
            if missed.status is ActionStatus.MISSED and missed.action_type == p.spec.record_type:
                missed.status = ActionStatus.SUPERSEDED
        if p.spec.cost_minor:
            for segment in budgeted:
                key = budget_key(segment, now)
                _charge(state.segment_spend_minor, segment, key, p.spec.cost_minor)
        state.open_actions[p.action_id] = OpenAction(
            action_id=p.action_id,
            action_type=p.spec.record_type,
            department=p.spec.department,
            play_id=p.play.id,
            play_version=p.play.version,
            priority=p.spec.priority.value,
            created_at=now,
            deadline=p.record.data.deadline,
            expires_at=p.record.data.expires_at,
            channel=p.channel,
            promotional=p.promotional,
            exclusive_group=p.group,
            trigger_event_id=trigger.id,
        )
        if p.channel is not None:
            state.contact_log.append(Contact(at=now, channel=p.channel, promotional=p.promotional))
        if p.spec.type == SUPPRESS_PROMOTIONS:
            state.promotions_suppressed = True
        elif p.spec.type == RESUME_PROMOTIONS:
            state.promotions_suppressed = False
    state.contact_log = state.contact_log[-MAX_CONTACT_LOG:]
    if len(state.open_actions) > MAX_OPEN_ACTIONS:
        # Drop the oldest finished actions first, then the oldest of any.
        ordered = sorted(
            state.open_actions.values(),
            key=lambda a: (a.status in (ActionStatus.OPEN, ActionStatus.ACCEPTED), a.created_at),
        )
        for action in ordered[: len(state.open_actions) - MAX_OPEN_ACTIONS]:
            del state.open_actions[action.action_id]


def candidates(proposals: list[Proposal]) -> tuple[Candidate, ...]:
    """The decision log's candidates, winners first, at most ``MAX_CANDIDATES``."""
    ordered = sorted(
        proposals, key=lambda p: (p.verdict is not Verdict.WON, -p.score, p.play.id, p.index)
    )
    return tuple(
        Candidate.model_validate(
            {
                "action_type": p.spec.record_type,
                "department": p.spec.department,
                "play_id": p.play.id,
                "play_version": p.play.version,
                "score": p.score,
                "score_components": p.components,
                "verdict": p.verdict,
                "reason_code": p.reason_code,
                "reason": p.reason,
                "action_id": p.action_id,
            },
            strict=False,
        )
        for p in ordered[:MAX_CANDIDATES]
    )


@functools.lru_cache(maxsize=256)
def _fields_read(condition: str) -> frozenset[str]:
    return frozenset(CUSTOMER_FIELD.findall(condition)) | HEADLINE_FACTS


def decision_facts(proposals: list[Proposal]) -> dict[str, Any]:
    """The facts behind the chosen actions, for the customer's decision log (the 360 "why").

    Taken from the action records' ``facts`` (the customer as the core saw it): the ones the
    play's condition reads, and the customer's value and segments. Not all 25: the state is
    parsed and written on every event. Chosen means won, or held out for the control group
    (what would have been sent).
    """
    facts: dict[str, Any] = {}
    for p in proposals:
        if p.verdict not in (Verdict.WON, Verdict.HELD_OUT) or p.record is None:
            continue
        read = _fields_read(p.play.when)
        facts.update((name, value) for name, value in p.record.data.facts.items() if name in read)
    return dict(sorted(facts.items()))
