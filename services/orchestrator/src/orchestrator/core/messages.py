"""What the core takes besides department events and outcomes, and what it returns.

Internal commands travel on the orchestrator's own commands topic (keyed by customer id); the
decisions are plain values the streaming layer carries out (publish a record, forward a
message to another customer's partition, erase a profile). The identity topic's messages
(keyed by identifier) are typed here too: a claim or a forget as a JSON value, a lookup as the
event's own bytes with a :class:`Lookup` in the ``lifecycle-lookup`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lifecycle_schemas.catalogue import AnyDepartmentEvent, AnyOutcome
from lifecycle_schemas.envelope import CloudEvent, stable_id


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    customer_id: str = Field(description="The customer (record key) the command is for.")


class DeadlineCheck(Command):
    """Mark this customer's actions whose deadline has passed as missed (sent by a timer)."""

    kind: Literal["deadline-check"] = "deadline-check"
    now: datetime


class MergeInto(Command):
    """This customer is proven to be ``survivor_id``: hand everything over and become an alias."""

    kind: Literal["merge-into"] = "merge-into"
    survivor_id: str
    survivor_created_at: datetime
    matched_on: tuple[str, ...]
    evidence_event_id: str


class Absorb(Command):
    """The survivor takes over a merged customer's state (``merged_state`` is its JSON)."""

    kind: Literal["absorb"] = "absorb"
    merged_customer_id: str
    merged_state: str
    matched_on: tuple[str, ...]
    evidence_event_id: str


AnyCommand = Annotated[DeadlineCheck | MergeInto | Absorb, Field(discriminator="kind")]
COMMAND_ADAPTER: TypeAdapter[DeadlineCheck | MergeInto | Absorb] = TypeAdapter(AnyCommand)

Message = AnyDepartmentEvent | AnyOutcome | DeadlineCheck | MergeInto | Absorb


def merge_into(
    alias_id: str,
    survivor_id: str,
    survivor_created_at: datetime,
    matched_on: tuple[str, ...],
    evidence_event_id: str,
) -> MergeInto:
    """The merge command for ``alias_id`` (stable id: a re-sent merge is applied once)."""
    return MergeInto(
        id=stable_id("merge-into", alias_id, survivor_id, evidence_event_id),
        customer_id=alias_id,
        survivor_id=survivor_id,
        survivor_created_at=survivor_created_at,
        matched_on=matched_on,
        evidence_event_id=evidence_event_id,
    )


def deadline_check(customer_id: str, now: datetime) -> DeadlineCheck:
    """A deadline check for one customer at ``now``."""
    return DeadlineCheck(
        id=stable_id("deadline-check", customer_id, now.isoformat()),
        customer_id=customer_id,
        now=now,
    )


@dataclass(frozen=True)
class Publish:
    """Send this record to its registry topic, keyed by its subject."""

    record: CloudEvent[Any]


@dataclass(frozen=True)
class Reply:
    """Copy this record to ``department``'s contact-decisions topic (the answer its service
    waits for), keyed by its subject."""

    department: str
    record: CloudEvent[Any]


@dataclass(frozen=True)
class Forward:
    """Send a message on to another customer id (an alias forwards to its survivor)."""

    customer_id: str
    message: Any


@dataclass(frozen=True)
class EraseProfile:
    """Write a tombstone for the customer on the compacted profile topic."""

    customer_id: str


@dataclass(frozen=True)
class ForgetIdentifiers:
    """Delete these identifiers' entries from identity resolution (personal data erased)."""

    identifiers: tuple[str, ...]


@dataclass(frozen=True)
class HandoffTimed:
    """A hand-off was taken up by its receiving department, ``seconds`` after it started.

    ``handoff`` is a hand-off kind (``lead-to-sales``, ...) or ``action:<type>`` for an action
    the orchestrator sent (``from_department`` then ``orchestrator``); a fact for the metrics,
    not a record.
    """

    handoff: str
    from_department: str
    to_department: str
    seconds: float
    within_sla: bool


@dataclass(frozen=True)
class HandoffBreached:
    """A hand-off's SLA (an action's deadline) passed before it was taken up; once each."""

    handoff: str
    from_department: str
    to_department: str


Decision = (
    Publish | Reply | Forward | EraseProfile | ForgetIdentifiers | HandoffTimed | HandoffBreached
)


# Identity messages ----------------------------------------------------------------------------

# The header of a lookup on the identity topic: the Lookup as JSON (the value is the event).
LOOKUP_HEADER = "lifecycle-lookup"


@dataclass(frozen=True)
class EventIdentity:
    """What identity resolution reads of a department event."""

    id: str
    time: datetime
    chain: tuple[str, ...]


class Lookup(BaseModel):
    """A department event looking for its customer, sent to one identifier's partition.

    The event itself travels beside it, as the bytes the department service published.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str
    event_id: str
    event_time: datetime
    chain: tuple[str, ...]

    @classmethod
    def of(cls, identifier: str, event: EventIdentity) -> Lookup:
        return cls(
            identifier=identifier, event_id=event.id, event_time=event.time, chain=event.chain
        )

    def event_identity(self) -> EventIdentity:
        return EventIdentity(id=self.event_id, time=self.event_time, chain=self.chain)


class Claim(BaseModel):
    """``customer_id`` (created at ``created_at``) says ``identifier`` is theirs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str
    customer_id: str
    created_at: datetime
    evidence_event_id: str


class Forget(BaseModel):
    """Erasure: the identifier (an e-mail, a phone) leaves identity resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str


class ClaimMessage(BaseModel):
    """A claim as the identity topic carries it: ``{"kind": "claim", "body": {...}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["claim"] = "claim"
    body: Claim


class ForgetMessage(BaseModel):
    """A forget as the identity topic carries it: ``{"kind": "forget", "body": {...}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["forget"] = "forget"
    body: Forget


IdentityMessage = ClaimMessage | ForgetMessage
IDENTITY_MESSAGE_ADAPTER: TypeAdapter[IdentityMessage] = TypeAdapter(
    Annotated[IdentityMessage, Field(discriminator="kind")]
)


def claim_message(claim: Claim) -> bytes:
    """The identity topic's value for a claim."""
    return ClaimMessage(body=claim).model_dump_json().encode()


def forget_message(identifier: str) -> bytes:
    """The identity topic's value that forgets an identifier."""
    return ForgetMessage(body=Forget(identifier=identifier)).model_dump_json().encode()


def read_identity_message(value: bytes) -> IdentityMessage:
    """A claim or forget from the identity topic (``ValueError`` when it is neither)."""
    return IDENTITY_MESSAGE_ADAPTER.validate_json(value)
