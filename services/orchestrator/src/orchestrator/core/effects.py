"""The core's decisions as records: the one place that says what is sent for each decision.

Pure (no I/O, no clock). The worker sends every record :func:`outbox_records` returns; the
replay engine (:class:`~orchestrator.core.engine.LocalEngine`, the chaos suite's oracle) takes
the records addressed to the orchestrator's own topics (forwards, forgets) from
:func:`internal_records` and reads them back with :func:`read_customer_record` and
:func:`~orchestrator.core.messages.read_identity_message`, as the worker's agents read them.
So the oracle encodes and routes exactly as production does.

Budget spend is counted here too (:func:`spend_added`), for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from lifecycle_schemas.codec import decode_event, decode_outcome, encode_record, kafka_key
from lifecycle_schemas.departments import Department
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.topics import TOPICS, contact_decisions_topic_for, topic_for_type
from orchestrator.core.messages import (
    COMMAND_ADAPTER,
    Absorb,
    Command,
    Decision,
    EraseProfile,
    ForgetIdentifiers,
    Forward,
    Message,
    Publish,
    Reply,
    forget_message,
)

# (plain event bytes, subject) -> the bytes to forward (crypto-shredding seals them again).
Seal = Callable[[bytes, str], bytes]


def unsealed(value: bytes, subject: str) -> bytes:
    """Forward an event's bytes as they are (crypto-shredding off)."""
    return value


class OutboxRecord(BaseModel):
    """One record to (re-)send: topic, key and value as sent; ``value`` ``None`` is a tombstone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    key: str
    value: str | None
    cloudevent_headers: bool = False


@dataclass(frozen=True)
class OrchestratorTopics:
    """The topic names of one namespace (a topic prefix) that decisions are sent to."""

    prefix: str
    events_by_customer: str
    commands: str
    outcomes: str
    identity: str
    profiles: str

    @classmethod
    def in_namespace(cls, prefix: str) -> OrchestratorTopics:
        return cls(
            prefix=prefix,
            events_by_customer=TOPICS.events_by_customer.name_in(prefix),
            commands=TOPICS.customer_commands.name_in(prefix),
            outcomes=TOPICS.action_outcomes.name_in(prefix),
            identity=TOPICS.identity_messages.name_in(prefix),
            profiles=TOPICS.customer_profiles.name_in(prefix),
        )

    @property
    def customer_topics(self) -> tuple[str, str, str]:
        """The topics keyed by customer id that the customer agent reads."""
        return (self.events_by_customer, self.commands, self.outcomes)


def outbox_records(
    decisions: Iterable[Decision], topics: OrchestratorTopics, seal: Seal = unsealed
) -> tuple[OutboxRecord, ...]:
    """Every record that carries out ``decisions``, in order."""
    return tuple(record for decision in decisions for record in records_for(decision, topics, seal))


def records_for(
    decision: Decision, topics: OrchestratorTopics, seal: Seal = unsealed
) -> tuple[OutboxRecord, ...]:
    """The records of one decision."""
    if isinstance(decision, Publish | Reply):
        record = decision.record
        spec = (
            contact_decisions_topic_for(Department(decision.department))
            if isinstance(decision, Reply)
            else topic_for_type(record.type)
        )
        return (
            OutboxRecord(
                topic=spec.name_in(topics.prefix),
                key=kafka_key(record),
                value=encode_record(record).decode(),
                cloudevent_headers=True,
            ),
        )
    if isinstance(decision, EraseProfile):
        return (OutboxRecord(topic=topics.profiles, key=decision.customer_id, value=None),)
    return internal_records(decision, topics, seal)


def internal_records(
    decision: Decision, topics: OrchestratorTopics, seal: Seal = unsealed
) -> tuple[OutboxRecord, ...]:
    """The records of a decision addressed to the orchestrator itself (forwards and forgets);
    none for the others."""
    if isinstance(decision, Forward):
        return (_forward(decision, topics, seal),)
    if isinstance(decision, ForgetIdentifiers):
        return tuple(
            OutboxRecord(
                topic=topics.identity, key=identifier, value=forget_message(identifier).decode()
            )
            for identifier in decision.identifiers
        )
    return ()


def _forward(decision: Forward, topics: OrchestratorTopics, seal: Seal) -> OutboxRecord:
    """The record that sends a message on to another customer id's partition."""
    message = decision.message
    if isinstance(message, Command):
        return OutboxRecord(
            topic=topics.commands, key=decision.customer_id, value=message.model_dump_json()
        )
    if isinstance(message, DepartmentEvent):
        # Sealed again when shredding is on: no plain copy on events-by-customer.
        value = seal(encode_record(message), message.subject)
        return OutboxRecord(
            topic=topics.events_by_customer,
            key=decision.customer_id,
            value=value.decode(),
            cloudevent_headers=True,
        )
    return OutboxRecord(
        topic=topics.outcomes,
        key=decision.customer_id,
        value=encode_record(message).decode(),
        cloudevent_headers=True,
    )


def read_customer_record(
    topics: OrchestratorTopics, topic: str, value: bytes, now: datetime | None
) -> Message:
    """A record of the customer topics, decoded by the topic it came from.

    ``now``: a department event or outcome stamped after it is refused (only the future:
    forwarded, older copies pass); ``None`` skips that check (replays).
    """
    if topic == topics.events_by_customer:
        return decode_event(value, now=now)
    if topic == topics.outcomes:
        return decode_outcome(value, now=now)
    return COMMAND_ADAPTER.validate_json(value)


def spend_added(
    message: Message, before: Mapping[str, int], after: Mapping[str, int]
) -> dict[str, int]:
    """What applying ``message`` added to each segment's budget spend (a merge moves spend
    between customers, it spends nothing)."""
    if isinstance(message, Absorb):
        return {}
    added = {segment: minor - before.get(segment, 0) for segment, minor in after.items()}
    return {segment: minor for segment, minor in added.items() if minor > 0}


def add_spend(totals: dict[str, int], added: Mapping[str, int]) -> None:
    """Add one customer's new spend to running totals (in place)."""
    for segment, minor in added.items():
        totals[segment] = totals.get(segment, 0) + minor
