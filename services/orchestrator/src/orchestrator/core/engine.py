"""The whole topology in memory, single-threaded: for ``orchestrator replay`` and for tests.

It runs the same pure steps the faust agents run (resolve, settle claims, apply), in the same
order, with dicts instead of tables and a queue instead of topics. What the core decides goes
through :mod:`orchestrator.core.effects`, as in the worker: a forward or a forget becomes the
record the worker would send to its own topics, and is read back from that record.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.core.effects import (
    OrchestratorTopics,
    add_spend,
    internal_records,
    read_customer_record,
    spend_added,
)
from orchestrator.core.identity import (
    IdentityEntry,
    Resolution,
    event_identity,
    resolve_step,
    settle_claim,
)
from orchestrator.core.messages import (
    Decision,
    EraseProfile,
    ForgetMessage,
    Message,
    Publish,
    deadline_check,
    read_identity_message,
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
    # The names the records of forwards and forgets are addressed to (any namespace will do).
    topics: OrchestratorTopics = field(default_factory=lambda: OrchestratorTopics.in_namespace(""))

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
            add_spend(
                self.segment_spend_minor, spend_added(message, before, state.segment_spend_minor)
            )
            for decision in decisions:
                records = internal_records(decision, self.topics)
                if not records:
                    out.append(decision)
                for record in records:
                    self._deliver(record.topic, record.key, (record.value or "").encode(), queue)
        return out

    def _deliver(
        self, topic: str, key: str, value: bytes, queue: deque[tuple[str, Message]]
    ) -> None:
        """A record the worker would send to its own topics, read as its agents read it."""
        if topic == self.topics.identity:
            message = read_identity_message(value)
            if isinstance(message, ForgetMessage):
                self.identities.pop(message.body.identifier, None)
            return
        # No clock check: a replay's messages are as old as the replay makes them.
        queue.append((key, read_customer_record(self.topics, topic, value, now=None)))


def published(decisions: list[Decision]) -> list[Any]:
    """The records among decisions (profiles included)."""
    return [d.record for d in decisions if isinstance(d, Publish)]


def erased(decisions: list[Decision]) -> list[str]:
    """The customer ids whose profile is tombstoned."""
    return [d.customer_id for d in decisions if isinstance(d, EraseProfile)]
