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

from lifecycle_schemas.codec import RecordDecodeError, decode_event
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
from orchestrator.streaming.routing import NoLocalPartitions, Partitions
from orchestrator.streaming.sending import VALIDATED_HEADERS, Sender, utcnow

# Claims remembered per worker process (about 140 bytes each).
CLAIMS_REMEMBERED = 200_000
# First identifiers whose claim may still be in flight (about 400 bytes each: 2 MB at most).
RESOLUTIONS_REMEMBERED = 5_000


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


class RecentResolutions:
    """The customers this process resolved events to, by the event's first identifier.

    A new customer's first identifier is claimed for it by a message on the identity topic;
    until that claim is settled, every further event keyed by the identifier found no entry
    and took a lookup hop (a record produced, consumed and resolved again) to reach the same
    answer. This process already knows the answer: it resolved the first event itself. The
    entry is used only while the table has none; the claim settles the table as before (an
    older customer claiming the identifier first still wins, by a merge). Bounded: least
    recently used forgotten; the race it covers lasts as long as a claim is in flight.
    """

    def __init__(self, limit: int = RESOLUTIONS_REMEMBERED) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, IdentityEntry] = OrderedDict()

    def remember(self, identifier: str, entry: IdentityEntry) -> None:
        self._entries[identifier] = entry
        self._entries.move_to_end(identifier)
        if len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def entry(self, identifier: str) -> IdentityEntry | None:
        return self._entries.get(identifier)

    def forget(self, identifier: str) -> None:
        self._entries.pop(identifier, None)


class IdentityAgent:
    """Resolves department events and settles claims on the ``identities`` table."""

    def __init__(
        self,
        identities: MutableMapping[bytes, bytes],
        sender: Sender,
        shredder: Unsealing,
        topics: OrchestratorTopics,
        claims_sent: SentClaims | None = None,
        resolved: RecentResolutions | None = None,
        partitions: Partitions | None = None,
    ) -> None:
        self.identities = identities
        self.sender = sender
        self.shredder = shredder
        self.topics = topics
        self.claims_sent = claims_sent or SentClaims()
        self.resolved = resolved or RecentResolutions()
        self.partitions = partitions or NoLocalPartitions()

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
                self.resolved.forget(message.body.identifier)
        except (ValueError, TypeError, RecursionError) as error:  # ValidationError is a ValueError
            await self.sender.dead_letter(event.message, error)

    async def continue_lookup(self, lookup: Lookup, event: Any) -> None:
        """One more resolution step for an event the department agent decoded and validated;
        its bytes are passed on as they are, not decoded again."""
        if await self.shredder.open(event.value, event.message.topic) is None:
            return  # its key was shredded: an erased customer's identifiers stay forgotten
        await self.resolve(lookup.identifier, lookup.event_identity(), event.value)

    async def resolve(self, identifier: str, event: EventIdentity, raw: bytes) -> None:
        """Resolution steps from this identifier's partition (see core.identity): the next
        identifier is looked up here when this worker owns its partition too, else over Kafka."""
        first = event.chain[0]
        send = self.sender.send
        while True:
            with self.partitions.on_partition_of(identifier):
                stored = self.identities.get(identifier.encode())
                entry = IdentityEntry.model_validate_json(stored) if stored else None
                if entry is None and identifier == first:
                    # Resolved here before, its claim not settled yet (see RecentResolutions).
                    entry = self.resolved.entry(first)
                resolution = resolve_step(entry, identifier, event)
                if resolution.entry is not None and resolution.entry != entry:
                    # Written before the sends below are acknowledged: faust flushes the
                    # producer before it commits the offset, and a replay of this record
                    # re-sends the same messages from the same entry.
                    self.identities[identifier.encode()] = (
                        resolution.entry.model_dump_json().encode()
                    )
            following = resolution.next_lookup
            if following is None:
                break
            if not self.partitions.is_local(following):
                lookup = Lookup.of(following, event)
                headers = [(LOOKUP_HEADER, lookup.model_dump_json().encode())]
                await send(self.topics.identity, following, raw, headers)
                return
            identifier = following
        assert resolution.customer_id is not None
        assert resolution.entry is not None
        if identifier != first:
            self.resolved.remember(first, resolution.entry)
        await send(self.topics.events_by_customer, resolution.customer_id, raw, VALIDATED_HEADERS)
        for claim in resolution.claims:
            if self.claims_sent.first_time(claim):
                await send(self.topics.identity, claim.identifier, claim_message(claim))

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
