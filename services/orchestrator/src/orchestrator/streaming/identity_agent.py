"""The identity agents: which customer a department event belongs to (``core.identity``).

``resolve_department_events`` reads the three department event topics (keyed by the event's
first identifier) and ``settle_identity_messages`` the identity topic (keyed by identifier);
both run on the partition of the identifier whose entry they read and write in the
``identities`` table. A resolved event goes on to events-by-customer, keyed by its customer.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Any

from lifecycle_schemas.codec import KAFKA_HEADERS, RecordDecodeError, decode_event
from orchestrator.core.effects import OrchestratorTopics
from orchestrator.core.identity import (
    Claim,
    EventIdentity,
    IdentityEntry,
    Lookup,
    event_identity,
    resolve_step,
    settle_claim,
)
from orchestrator.core.messages import (
    LOOKUP_HEADER,
    ClaimMessage,
    claim_message,
    read_identity_message,
)
from orchestrator.shredding import SealError, Unsealing
from orchestrator.streaming.sending import Sender, utcnow

# Claims remembered per worker process (about 140 bytes each).
CLAIMS_REMEMBERED = 200_000


class SentClaims:
    """The claims this process already sent, so an identifier is not claimed again on every event.

    Every known-customer event claims all its other identifiers (``resolve_step``): about one
    extra record produced and consumed per event, most of them repeats. A repeat changes
    nothing where it is settled, and the first one was sent by this very process, so it is on
    Kafka unless the process died, which also empties this memory (a restarted worker claims
    again; so does the next owner after a rebalance). Bounded: least recently used forgotten.
    """

    def __init__(self, limit: int = CLAIMS_REMEMBERED) -> None:
        self.limit = limit
        # A 128-bit fingerprint per claim, not the strings: 140 rather than 380 bytes an entry
        # (the largest per-customer cost of a worker's own memory, docs/benchmarks.md).
        self._seen: OrderedDict[int, None] = OrderedDict()

    def first_time(self, claim: Claim) -> bool:
        """Whether ``claim`` (identifier, customer, created) was not sent before; remember it."""
        text = f"{claim.identifier}\n{claim.customer_id}\n{claim.created_at.isoformat()}"
        key = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest())
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True


class IdentityAgent:
    """Resolves department events and settles claims on the ``identities`` table."""

    def __init__(
        self,
        identities: MutableMapping[bytes, bytes],
        sender: Sender,
        shredder: Unsealing,
        topics: OrchestratorTopics,
        claims_sent: SentClaims | None = None,
    ) -> None:
        self.identities = identities
        self.sender = sender
        self.shredder = shredder
        self.topics = topics
        self.claims_sent = claims_sent or SentClaims()

    async def resolve_department_events(self, stream: Any) -> None:
        """Resolve each department event's customer, starting at its record key's partition."""
        async for event in stream.events():
            await self.resolve_department_event(event)

    async def resolve_department_event(self, event: Any) -> None:
        """One department event: decode it, then the first resolution step."""
        try:
            # A null value is no event: it fails to decode (b"" is never sealed).
            plain = await self.shredder.open(event.value or b"", event.message.topic)
            if plain is None:
                return  # its key was shredded: an erased customer's event
            record = decode_event(plain, now=utcnow())
        except (RecordDecodeError, SealError) as error:
            await self.sender.dead_letter(event.message, error)
            return
        try:
            identity = event_identity(record)
            await self.resolve(identity.chain[0], identity, event.value)
        except ValueError as error:  # an unreadable identity entry: this record only
            await self.sender.dead_letter(event.message, error)

    async def settle_identity_messages(self, stream: Any) -> None:
        """Continue lookups and settle claims for the identifiers of this partition."""
        async for event in stream.events():
            await self.settle_identity_message(event)

    async def settle_identity_message(self, event: Any) -> None:
        """One identity message: a lookup (header), a claim or a forget."""
        try:
            lookup_header = (event.headers or {}).get(LOOKUP_HEADER)
            if lookup_header is not None:
                await self.continue_lookup(Lookup.model_validate_json(lookup_header), event)
                return
            message = read_identity_message(event.value)
            if isinstance(message, ClaimMessage):
                await self.settle(message.body)
            else:
                # Erasure: the identifier (an e-mail, a phone) leaves the table and its
                # changelog (a tombstone).
                self.identities.pop(message.body.identifier.encode(), None)
        except (ValueError, TypeError, RecursionError) as error:  # ValidationError is a ValueError
            await self.sender.dead_letter(event.message, error)

    async def continue_lookup(self, lookup: Lookup, event: Any) -> None:
        """One more resolution step for an event the department agent decoded and validated;
        its bytes are passed on as they are, not decoded again."""
        if await self.shredder.open(event.value, event.message.topic) is None:
            return  # its key was shredded: an erased customer's identifiers stay forgotten
        await self.resolve(lookup.identifier, lookup.event_identity(), event.value)

    async def resolve(self, identifier: str, event: EventIdentity, raw: bytes) -> None:
        """One resolution step on this identifier's partition (see core.identity)."""
        stored = self.identities.get(identifier.encode())
        entry = IdentityEntry.model_validate_json(stored) if stored else None
        resolution = resolve_step(entry, identifier, event)
        send = self.sender.send
        if resolution.next_lookup is not None:
            lookup = Lookup.of(resolution.next_lookup, event)
            headers = [(LOOKUP_HEADER, lookup.model_dump_json().encode())]
            await send(self.topics.identity, resolution.next_lookup, raw, headers)
        else:
            assert resolution.customer_id is not None
            await send(self.topics.events_by_customer, resolution.customer_id, raw, KAFKA_HEADERS)
            for claim in resolution.claims:
                if self.claims_sent.first_time(claim):
                    await send(self.topics.identity, claim.identifier, claim_message(claim))
        # Not waiting for the acks here is safe: faust flushes the producer before it commits
        # the offset, and replaying this record re-sends the same messages from the same entry.
        if resolution.entry is not None and resolution.entry != entry:
            self.identities[identifier.encode()] = resolution.entry.model_dump_json().encode()

    async def settle(self, claim: Claim) -> None:
        """Settle a claim on an identifier; send the merge it proves."""
        key = claim.identifier.encode()
        stored = self.identities.get(key)
        entry = IdentityEntry.model_validate_json(stored) if stored else None
        settled, merge = settle_claim(entry, claim)
        if merge is not None:
            # Acknowledged before the entry changes: a replayed claim against the new entry
            # would no longer prove the merge.
            value = merge.model_dump_json().encode()
            await self.sender.send_all(
                [await self.sender.send(self.topics.commands, merge.customer_id, value)]
            )
        if settled != entry:
            self.identities[key] = settled.model_dump_json().encode()
