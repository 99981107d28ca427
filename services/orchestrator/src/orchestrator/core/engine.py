"""The whole topology in memory, single-threaded: for ``orchestrator replay`` and for tests.

It runs the same pure steps the faust agents run (resolve, settle claims, apply), in the same
order, with dicts instead of tables and a queue instead of topics.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.core.identity import (
    IdentityEntry,
    Resolution,
    event_identity,
    resolve_step,
    settle_claim,
)
from orchestrator.core.messages import (
    Absorb,
    Decision,
    EraseProfile,
    ForgetIdentifiers,
    Forward,
    Message,
    Publish,
    deadline_check,
)
from orchestrator.core.playbook import Playbook
from orchestrator.core.reducer import apply
from orchestrator.core.state import CustomerState


@dataclass
class LocalEngine:
    """Identity table, customer table and the decisions made so far."""

    playbook: Playbook
    identities: dict[str, IdentityEntry] = field(default_factory=dict)
    customers: dict[str, CustomerState] = field(default_factory=dict)
    # Each segment's treatment budget spent, over every customer (what arbitration checks).
    segment_spend_minor: dict[str, int] = field(default_factory=dict)

    def submit_event(self, event: Any, now: datetime) -> list[Decision]:
        """Resolve a department event's customer, then apply it and everything it causes."""
        identity = event_identity(event)
        identifier: str | None = identity.chain[0]
        resolution = Resolution(entry=None)
        while identifier is not None:
            resolution = resolve_step(self.identities.get(identifier), identifier, identity)
            if resolution.entry is not None:
                self.identities[identifier] = resolution.entry
            identifier = resolution.next_lookup
        assert resolution.customer_id is not None
        queue: deque[tuple[str, Message]] = deque([(resolution.customer_id, event)])
        for claim in resolution.claims:
            settled, merge = settle_claim(self.identities.get(claim.identifier), claim)
            self.identities[claim.identifier] = settled
            if merge is not None:
                queue.append((merge.customer_id, merge))
        return self._drain(queue, now)

    def submit(self, customer_id: str, message: Message, now: datetime) -> list[Decision]:
        """Apply a message addressed to a customer id (an outcome or a command)."""
        return self._drain(deque([(customer_id, message)]), now)

    def tick(self, now: datetime) -> list[Decision]:
        """Check every customer's deadlines, as the streaming layer's timer does."""
        decisions: list[Decision] = []
        for customer_id in sorted(self.customers):
            deadline = self.customers[customer_id].next_deadline()
            if deadline is not None and deadline <= now:
                decisions += self.submit(customer_id, deadline_check(customer_id, now), now)
        return decisions

    def resolve(self, identifier_or_id: str) -> CustomerState | None:
        """The current state of a customer named by id or by ``"<kind>:<value>"``."""
        entry = self.identities.get(identifier_or_id)
        customer_id = entry.customer_id if entry else identifier_or_id
        state = self.customers.get(customer_id)
        while state is not None and state.alias_of is not None:
            state = self.customers.get(state.alias_of)
        return state

    def _drain(self, queue: deque[tuple[str, Message]], now: datetime) -> list[Decision]:
        out: list[Decision] = []
        while queue:
            customer_id, message = queue.popleft()
            state = self.customers.get(customer_id) or CustomerState.new(customer_id)
            before = state.segment_spend_minor
            state, decisions = apply(state, message, now, self.playbook, self.segment_spend_minor)
            self.customers[customer_id] = state
            if not isinstance(message, Absorb):  # a merge moves spend, it spends nothing
                for segment_id, minor in state.segment_spend_minor.items():
                    added = minor - before.get(segment_id, 0)
                    if added > 0:
                        total = self.segment_spend_minor
                        total[segment_id] = total.get(segment_id, 0) + added
            for decision in decisions:
                if isinstance(decision, Forward):
                    queue.append((decision.customer_id, decision.message))
                elif isinstance(decision, ForgetIdentifiers):
                    for identifier in decision.identifiers:
                        self.identities.pop(identifier, None)
                else:
                    out.append(decision)
        return out


def published(decisions: list[Decision]) -> list[Any]:
    """The records among decisions (profiles included)."""
    return [d.record for d in decisions if isinstance(d, Publish)]


def erased(decisions: list[Decision]) -> list[str]:
    """The customer ids whose profile is tombstoned."""
    return [d.customer_id for d in decisions if isinstance(d, EraseProfile)]
