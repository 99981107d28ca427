"""Decisions as records (orchestrator/core/effects.py): what the worker sends for each decision,
and what the replay engine reads back from the same records."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lifecycle_schemas.codec import encode_record, kafka_key
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import topic_for_type
from orchestrator.core.effects import (
    OrchestratorTopics,
    add_spend,
    internal_records,
    outbox_records,
    read_customer_record,
    spend_added,
)
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.messages import (
    Absorb,
    EraseProfile,
    ForgetIdentifiers,
    ForgetMessage,
    Forward,
    Publish,
    deadline_check,
    read_identity_message,
)
from orchestrator.core.playbook import Playbook

EventFactory = Callable[..., Any]
TOPICS = OrchestratorTopics.in_namespace("ns.")
NOW = datetime(2026, 3, 1, tzinfo=UTC)
OUTCOME = EXAMPLES["com.customerlifecycle.outcome.accepted.v1"]


def test_a_published_record_goes_to_its_registry_topic_keyed_by_its_subject(
    make_event: EventFactory,
) -> None:
    event = make_event("sales.deal.won")
    (record,) = outbox_records([Publish(event)], TOPICS)
    assert record.topic == topic_for_type(event.type).name_in("ns.")
    assert record.key == kafka_key(event)
    assert record.value == encode_record(event).decode()
    assert record.cloudevent_headers


def test_an_erased_profile_is_a_tombstone_on_the_profiles_topic() -> None:
    (record,) = outbox_records([EraseProfile("c-1")], TOPICS)
    assert (record.topic, record.key, record.value) == (TOPICS.profiles, "c-1", None)


def test_a_forwarded_event_is_read_back_as_the_same_event(make_event: EventFactory) -> None:
    event = make_event("sales.deal.won")
    (record,) = outbox_records([Forward("c-survivor", event)], TOPICS)
    assert (record.topic, record.key) == (TOPICS.events_by_customer, "c-survivor")
    assert record.cloudevent_headers
    assert record.value is not None
    assert read_customer_record(TOPICS, record.topic, record.value.encode(), NOW) == event


def test_a_forwarded_event_is_sealed_again_by_the_seal_given(make_event: EventFactory) -> None:
    event = make_event("sales.deal.won")
    seen: list[str] = []

    def seal(value: bytes, subject: str) -> bytes:
        seen.append(subject)
        return b'{"sealed": true}'

    (record,) = outbox_records([Forward("c-survivor", event)], TOPICS, seal)
    assert seen == [event.subject]
    assert record.value == '{"sealed": true}'


def test_forwarded_commands_and_outcomes_go_to_their_own_topics() -> None:
    command = deadline_check("c-1", NOW)
    records = outbox_records([Forward("c-2", command), Forward("c-2", OUTCOME)], TOPICS)
    assert [(r.topic, r.key) for r in records] == [
        (TOPICS.commands, "c-2"),
        (TOPICS.outcomes, "c-2"),
    ]
    values = [(r.value or "").encode() for r in records]
    assert read_customer_record(TOPICS, TOPICS.commands, values[0], NOW) == command
    assert read_customer_record(TOPICS, TOPICS.outcomes, values[1], None) == OUTCOME


def test_forgotten_identifiers_become_one_forget_each_on_the_identity_topic() -> None:
    records = outbox_records([ForgetIdentifiers(("email:a@example.com", "phone:+1"))], TOPICS)
    assert [(r.topic, r.key) for r in records] == [
        (TOPICS.identity, "email:a@example.com"),
        (TOPICS.identity, "phone:+1"),
    ]
    messages = [read_identity_message((r.value or "").encode()) for r in records]
    assert all(isinstance(m, ForgetMessage) for m in messages)
    assert [m.body.identifier for m in messages] == ["email:a@example.com", "phone:+1"]
    # The wire format of the messages on the topic before they were typed.
    assert json.loads(records[0].value or "") == {
        "kind": "forget",
        "body": {"identifier": "email:a@example.com"},
    }


def test_only_forwards_and_forgets_are_addressed_to_the_orchestrator_itself(
    make_event: EventFactory,
) -> None:
    event = make_event("sales.deal.won")
    assert internal_records(Publish(event), TOPICS) == ()
    assert internal_records(EraseProfile("c-1"), TOPICS) == ()
    assert len(internal_records(Forward("c-2", event), TOPICS)) == 1
    assert len(internal_records(ForgetIdentifiers(("email:a@example.com",)), TOPICS)) == 1


def test_spend_counts_what_a_message_added_and_a_merge_adds_nothing(
    make_event: EventFactory,
) -> None:
    event = make_event("sales.deal.won")
    before = {"vip": 100, "smb": 50}
    after = {"vip": 250, "smb": 50, "new": 10}
    assert spend_added(event, before, after) == {"vip": 150, "new": 10}
    absorb = Absorb(
        id="a-1",
        customer_id="c-1",
        merged_customer_id="c-2",
        merged_state="{}",
        matched_on=("email",),
        evidence_event_id="e-1",
    )
    assert spend_added(absorb, before, after) == {}
    totals = {"vip": 1}
    add_spend(totals, {"vip": 2, "new": 3})
    assert totals == {"vip": 3, "new": 3}


def test_the_replay_engine_routes_a_merge_through_the_records_the_worker_sends(
    playbook: Playbook, make_event: EventFactory
) -> None:
    # Two customers proven one: the merge command, the absorb and the forwarded event all
    # travel as records on the orchestrator's own topics, read back as the agents read them.
    engine = LocalEngine(playbook)
    first = make_event("sales.deal.won", {"crm_account_id": "crm-a", "email": "a@example.com"})
    second = make_event("marketing.lead.scored", {"email": "b@example.com"})
    link = make_event(
        "servicedesk.case.opened", {"email": "b@example.com", "crm_account_id": "crm-a"}
    )
    for event in (first, second, link):
        engine.submit_event(event, event.time)
    survivor = engine.resolve("email:b@example.com")
    assert survivor is not None
    assert survivor is engine.resolve("crm_account_id:crm-a")
    assert len(survivor.merged_customer_ids) == 1
    merged = [r for r in published(engine.submit_event(link, link.time)) if "merged" in r.type]
    assert merged == []  # a replayed link changes nothing
