"""Hand-offs, timed: from the rule or play that hands a customer over until the receiving
department takes it up (pure: ``now`` is given, nothing is read from a clock).

A hand-off of a kind (``lead-to-sales``, ``sale-to-onboarding``, ``case-escalation``,
``reassignment``) starts when

* an owner rule takes over from another rule (the new rule's ``handoff``), or
* a play fires (its trigger and condition hold) with an action that names a ``handoff``,
  whatever arbitration made of the action: a control customer's hand-off is timed too, which is
  what the proof-of-value report compares;

and goes to the process receiving its kind (``Playbook.receiving_process``), with that process's
SLA. One hand-off per kind is open at a time: a second start while one is open changes nothing.
It ends at the receiving department's first accepted or completed action, or its first event
about the customer, after the start.

Every action the orchestrator sends is a hand-off as well, ``action:<type>`` from
``orchestrator`` to the action's department: timed to its first acceptance or completion, with
its deadline as SLA.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.core.messages import Decision, HandoffBreached, HandoffTimed
from orchestrator.core.playbook import Playbook, parse_duration, short_type
from orchestrator.core.state import ActionStatus, CustomerState, Handoff, OpenAction

ACTION_PREFIX = "action:"
ORCHESTRATOR = "orchestrator"
TAKEN_UP = frozenset({ActionStatus.ACCEPTED, ActionStatus.COMPLETED})
# An action in these states has not been taken up yet.
WAITING = frozenset({ActionStatus.OPEN, ActionStatus.MISSED})


def action_handoff(action_type: str) -> str:
    """The hand-off label of an action type: ``action:sales.call-customer``."""
    return f"{ACTION_PREFIX}{short_type(action_type)}"


def start(
    state: CustomerState,
    playbook: Playbook,
    kind: str,
    *,
    from_department: str,
    department: str | None,
    now: datetime,
    deadline: str | None = None,
) -> Handoff | None:
    """Start a hand-off of ``kind`` unless one is open; the one started (or ``None``).

    ``department``: the new owner's or the action's, which picks the receiving process when
    two receive the kind; ``deadline``: an owner rule's own, instead of the process's SLA.
    """
    current = state.handoffs.get(kind)
    if state.erased or (current is not None and current.ended_at is None):
        return None
    process = playbook.receiving_process(kind, department)
    if process is None:
        return None  # no process receives it: nobody to time it against
    sla = parse_duration(deadline) if deadline else process.sla(kind)
    assert sla is not None
    handoff = Handoff(
        from_department=from_department,
        to_department=process.owner.department,
        started_at=now,
        due_at=now + sla,
        first_seconds=current.first_seconds if current is not None else None,
    )
    state.handoffs[kind] = handoff
    return handoff


def take_up(state: CustomerState, department: str, now: datetime) -> list[Decision]:
    """End every open hand-off to ``department``: it acted on the customer (an event, an
    accepted or completed action)."""
    facts: list[Decision] = []
    for kind, handoff in sorted(state.handoffs.items()):
        if handoff.ended_at is not None or handoff.to_department != department:
            continue
        handoff.ended_at = now
        seconds = max(0.0, (now - handoff.started_at).total_seconds())
        if handoff.first_seconds is None:
            handoff.first_seconds = seconds
        within = now <= handoff.due_at
        facts.append(
            HandoffTimed(kind, handoff.from_department, department, round(seconds, 3), within)
        )
        if not within and not handoff.breached:
            handoff.breached = True
            facts.append(HandoffBreached(kind, handoff.from_department, department))
    return facts


def overdue(state: CustomerState, now: datetime) -> list[Decision]:
    """Hand-offs whose SLA passed while still open, each counted once."""
    facts: list[Decision] = []
    for kind, handoff in sorted(state.handoffs.items()):
        if handoff.ended_at is None and not handoff.breached and handoff.due_at <= now:
            handoff.breached = True
            facts.append(HandoffBreached(kind, handoff.from_department, handoff.to_department))
    return facts


def action_taken_up(action: OpenAction, before: ActionStatus, now: datetime) -> list[Decision]:
    """The time an action waited for its department, when an outcome first takes it up."""
    if before not in WAITING or action.status not in TAKEN_UP:
        return []
    label = action_handoff(action.action_type)
    seconds = max(0.0, (now - action.created_at).total_seconds())
    within = now <= action.deadline
    facts: list[Decision] = [
        HandoffTimed(label, ORCHESTRATOR, action.department, round(seconds, 3), within)
    ]
    if not within and before is ActionStatus.OPEN:  # a missed one was counted when it missed
        facts.append(HandoffBreached(label, ORCHESTRATOR, action.department))
    return facts


def action_missed(action: OpenAction) -> HandoffBreached:
    """An action's deadline passed before its department took it up."""
    return HandoffBreached(action_handoff(action.action_type), ORCHESTRATOR, action.department)


def merge(survivor: CustomerState, other: CustomerState) -> None:
    """A merged customer's hand-offs: the survivor's of each kind, else the other's (and the
    other's first duration where the survivor has none)."""
    for kind, theirs in other.handoffs.items():
        mine = survivor.handoffs.get(kind)
        if mine is None:
            survivor.handoffs[kind] = theirs.model_copy()
            continue
        firsts = [s for s in (mine.first_seconds, theirs.first_seconds) if s is not None]
        if firsts and mine.first_seconds is None:
            mine.first_seconds = firsts[0]
