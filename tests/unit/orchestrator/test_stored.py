"""The customers table value (orchestrator/stored.py) and the claims a worker remembers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from orchestrator.core.identity import Claim
from orchestrator.core.state import CustomerState
from orchestrator.stored import (
    OutboxRecord,
    PendingOutputs,
    SourcePosition,
    StoredCustomer,
    load_customer,
    load_state,
)
from orchestrator.streaming.identity_agent import SentClaims

TOPIC = "lifecycle.orchestrator.events-by-customer.v1"


class TP(NamedTuple):
    topic: str
    partition: int


def pending(offset: int, partition: int = 3) -> PendingOutputs:
    return PendingOutputs(
        source=SourcePosition(topic=TOPIC, partition=partition, offset=offset),
        records=(OutboxRecord(topic="t", key="c-1", value='{"id":"x"}', cloudevent_headers=True),),
    )


def test_a_stored_value_round_trips_with_its_outbox() -> None:
    state = CustomerState.new("c-1")
    state.purchases = 2
    stored = StoredCustomer(state=state, outbox=[pending(7), pending(9)])
    loaded = load_customer(stored.to_bytes())
    assert loaded.state.purchases == 2
    assert loaded.outbox == stored.outbox
    assert load_state(stored.to_bytes()).customer_id == "c-1"


def test_a_bare_state_written_before_the_outbox_still_loads() -> None:
    state = CustomerState.new("c-1")
    state.purchases = 1
    loaded = load_customer(state.to_json().encode())
    assert loaded.state.purchases == 1
    assert loaded.outbox == []


def test_the_outputs_of_a_replayed_record_are_found_by_its_position() -> None:
    stored = StoredCustomer(state=CustomerState.new("c-1"), outbox=[pending(7)])
    assert stored.pending_for(SourcePosition(topic=TOPIC, partition=3, offset=7)) == pending(7)
    assert stored.pending_for(SourcePosition(topic=TOPIC, partition=3, offset=8)) is None
    assert stored.pending_for(SourcePosition(topic=TOPIC, partition=4, offset=7)) is None


def test_entries_are_dropped_once_their_source_offset_is_committed() -> None:
    stored = StoredCustomer(
        state=CustomerState.new("c-1"), outbox=[pending(7), pending(9), pending(2, partition=5)]
    )
    # faust's committed offset is the next one to read; None means nothing committed yet.
    kept = stored.confirmed_dropped({TP(TOPIC, 3): 8, TP(TOPIC, 5): None})
    assert kept == [pending(9), pending(2, partition=5)]
    assert stored.confirmed_dropped({}) == stored.outbox


def test_a_claim_is_sent_once_per_customer_and_forgotten_least_recently_used_first() -> None:
    def claim(identifier: str, customer: str = "c-1", evidence: str = "e-1") -> Claim:
        created = datetime(2026, 1, 1, tzinfo=UTC)
        return Claim(
            identifier=identifier,
            customer_id=customer,
            created_at=created,
            evidence_event_id=evidence,
        )

    sent = SentClaims(limit=2)
    assert sent.first_time(claim("email:a"))
    # The same claim from a later event (other evidence) is a repeat.
    assert not sent.first_time(claim("email:a", evidence="e-2"))
    # Another customer claiming the identifier is news (it may prove a merge).
    assert sent.first_time(claim("email:a", customer="c-2"))
    assert sent.first_time(claim("phone:1"))
    # Over the limit: the least recently used ("email:a" for c-1) is forgotten.
    assert sent.first_time(claim("email:a"))
