"""Identity resolution, keyed by identifier (pure).

Each identifier's entry (which customer it belongs to) lives on the partition of that
identifier, and only that partition reads or writes it:

1. :func:`resolve_step` runs on the partition of one identifier of a department event, first
   its record key. Known: the event belongs to that customer, and every other identifier on
   the event is claimed for it. Unknown: the event is passed on (a :class:`Lookup`) to the
   partition of its next identifier. Unknown everywhere: the last partition creates the
   customer, with an id derived from the event's first identifier (deterministic, so a replay
   names the same customer), and claims the rest. Resolution reads only the event's id, time
   and identifiers (:class:`EventIdentity`): a lookup carries those beside the event's bytes,
   so the next partition does not decode the event again.
2. :func:`settle_claim` runs on the partition of a claimed identifier. Unclaimed, it now
   belongs to the claimant. Claimed by another customer, the two are one person: the older
   customer (earliest ``created_at``, then the smaller id) survives and the other is merged
   into it (:class:`~orchestrator.core.messages.MergeInto`).

Races (two events linking the same identifiers at once on different partitions) converge
because every claim on one identifier is settled by one partition, in order, by a rule that
does not depend on arrival order (the oldest wins), and merges are idempotent and redirected
along alias chains (see docs/orchestrator.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from lifecycle_schemas.envelope import stable_id
from orchestrator.core.messages import Claim, EventIdentity, Lookup, MergeInto, merge_into

# The identity topic's messages live in core.messages; named here too, where they are used.
__all__ = [
    "Claim",
    "EventIdentity",
    "IdentityEntry",
    "Lookup",
    "Resolution",
    "event_identity",
    "identifier_chain",
    "new_customer_id",
    "resolve_step",
    "settle_claim",
]


class IdentityEntry(BaseModel):
    """Which customer an identifier belongs to, and how old that customer is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str
    created_at: datetime


def new_customer_id(identifier: str) -> str:
    """The id of a customer first seen by ``identifier`` (``"<kind>:<value>"``)."""
    return "c-" + stable_id("customer", identifier)


@dataclass(frozen=True)
class Resolution:
    """What one identifier's partition decided about an event."""

    entry: IdentityEntry | None
    customer_id: str | None = None
    claims: tuple[Claim, ...] = ()
    next_lookup: str | None = None


def identifier_chain(event: Any) -> tuple[str, ...]:
    """The event's identifiers as ``"<kind>:<value>"``, record key first."""
    return tuple(f"{kind.value}:{value}" for kind, value in event.data.customer.identifiers())


def event_identity(event: Any) -> EventIdentity:
    """The id, time and identifiers of a decoded department event."""
    return EventIdentity(id=event.id, time=event.time, chain=identifier_chain(event))


def resolve_step(entry: IdentityEntry | None, identifier: str, event: EventIdentity) -> Resolution:
    """Resolve ``event`` on the partition of ``identifier`` (whose entry is ``entry``)."""
    chain = event.chain
    first_kind, first_value = chain[0].split(":", 1)
    if entry is None and first_kind == "customer_id":
        entry = IdentityEntry(customer_id=first_value, created_at=event.time)
    position = chain.index(identifier)
    if entry is None and position + 1 < len(chain):
        return Resolution(entry=None, next_lookup=chain[position + 1])
    if entry is None:
        entry = IdentityEntry(customer_id=new_customer_id(chain[0]), created_at=event.time)
    claims = tuple(
        Claim(
            identifier=other,
            customer_id=entry.customer_id,
            created_at=entry.created_at,
            evidence_event_id=event.id,
        )
        for other in chain
        if other != identifier
    )
    return Resolution(entry=entry, customer_id=entry.customer_id, claims=claims)


def settle_claim(
    entry: IdentityEntry | None, claim: Claim
) -> tuple[IdentityEntry, MergeInto | None]:
    """Who owns the identifier after the claim, and the merge it proves, if any."""
    claimant = IdentityEntry(customer_id=claim.customer_id, created_at=claim.created_at)
    if entry is None:
        return claimant, None
    if entry.customer_id == claim.customer_id:
        return entry, None
    survivor, alias = sorted((entry, claimant), key=lambda e: (e.created_at, e.customer_id))
    kind = claim.identifier.split(":", 1)[0]
    return survivor, merge_into(
        alias.customer_id,
        survivor.customer_id,
        survivor.created_at,
        (kind,),
        claim.evidence_event_id,
    )
