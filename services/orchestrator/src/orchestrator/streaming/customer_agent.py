"""The customer agent: events, outcomes and commands applied to the customer's state.

``apply_customer_messages`` reads events-by-customer, the customer commands and the action
outcomes (all keyed by customer id) in partition order and owns the ``customers`` table. Each
record: decode, load the stored value, call the core, queue the outputs, write the new state
with the outputs as its outbox (``orchestrator.stored``), count budgets, observe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from lifecycle_schemas.codec import RecordDecodeError, parse_decoded_event
from orchestrator import erasure_marks
from orchestrator.core.effects import (
    OrchestratorTopics,
    outbox_records,
    read_customer_record,
    spend_added,
)
from orchestrator.core.messages import Command, Decision, Message
from orchestrator.core.playbook import Playbook
from orchestrator.core.reducer import apply
from orchestrator.core.state import CustomerState
from orchestrator.shredding import Unsealing
from orchestrator.stored import (
    KEPT_VALUES,
    Acknowledgements,
    PendingOutputs,
    RecentValues,
    SourcePosition,
    StoredCustomer,
)
from orchestrator.streaming.sending import (
    VALIDATED_HEADER,
    Sender,
    UnappliableRecordError,
    utcnow,
)
from orchestrator.streaming.upkeep import SegmentSpend

log = logging.getLogger("orchestrator.streaming")
# After a state change: (message, new state, decisions, now) -> metrics and indexes.
Observer = Callable[[Message, CustomerState, list[Decision], datetime], None]
# The source offsets faust committed, by partition (anything with topic and partition).
CommittedOffsets = Callable[[], Mapping[Any, int | None]]
# Source records whose outputs' acknowledgements are counted: more than a commit interval's
# records at the bench's rates (older ones leave the outbox by their committed offset).
ACKNOWLEDGEMENTS_COUNTED = 4_096


class CustomerAgent:
    """Applies the customer topics' records to the ``customers`` table."""

    def __init__(
        self,
        customers: MutableMapping[bytes, bytes],
        sender: Sender,
        shredder: Unsealing,
        topics: OrchestratorTopics,
        playbook: Playbook,
        spend: SegmentSpend,
        observe: Observer,
        committed_offsets: CommittedOffsets,
        kept_values: int = KEPT_VALUES,
    ) -> None:
        self.customers = customers
        self.sender = sender
        self.shredder = shredder
        self.topics = topics
        self.playbook = playbook
        self.spend = spend
        self.observe = observe
        self.committed_offsets = committed_offsets
        self.recent = RecentValues(kept_values)
        self.acknowledgements = Acknowledgements(ACKNOWLEDGEMENTS_COUNTED)

    async def apply_customer_messages(self, stream: Any) -> None:
        """Apply events, outcomes and commands to the customer's state, in partition order."""
        async for event in stream.events():
            await self.apply_customer_message(event)

    async def apply_customer_message(self, event: Any) -> None:
        """One record of the customer topics: apply it, send its outputs, store the state.

        The outputs are queued, not awaited: they go into the stored value's outbox with the
        new state, and a replay of this record re-sends them (see ``orchestrator.stored``).
        """
        now = utcnow()
        source = event.message
        topics = self.topics
        try:
            value = event.value or b""  # a null value fails to decode (b"" is never sealed)
            if source.topic == topics.events_by_customer:
                value = await self.shredder.open(value, source.topic)
                if value is None:
                    return  # its key was shredded: an erased customer's event
            message = self.decode(event, value, now)
        except (RecordDecodeError, ValidationError, ValueError) as error:
            await self.sender.dead_letter(source, error)
            return
        position = SourcePosition(
            topic=source.topic, partition=source.partition, offset=source.offset
        )
        try:
            customer_id = (event.key or b"").decode() or _subject_of(message)
            key = customer_id.encode()
            stored_value = self.customers.get(key)
            stored = (
                self.recent.take(key, stored_value)
                if stored_value
                else StoredCustomer(state=self.new_or_erased(customer_id, key, now))
            )
            replayed = stored.pending_for(position)
            if replayed is not None:
                # Applied before a crash or a rebalance, maybe not sent: send the same again.
                pending = await self.sender.send_records(replayed.records)
                self.acknowledgements.track(position, pending)
                return
            state = stored.state
            last_applied = state.applied_event_ids[-1:]
            was_erased = state.erased
            spent_before = dict(state.segment_spend_minor)
            # In place: this parsed copy is ours alone (no deep copy per message).
            new_state, decisions = apply(
                state, message, now, self.playbook, self.spend.totals, in_place=True
            )
            # Applied (not a duplicate, not forwarded by an alias): its id was appended.
            changed = new_state.applied_event_ids[-1:] != last_applied
            erasing = new_state.erased and not was_erased
            outputs = outbox_records(decisions, topics, self.shredder.reseal)
            if erasing:
                outputs += await self.shredder.erasure_tombstones(new_state, decisions)
        except Exception as error:  # one record the core cannot apply must not stop the stream
            log.exception("record could not be applied")
            await self.sender.dead_letter(source, UnappliableRecordError(type(error).__name__))
            return
        pending = await self.sender.send_records(outputs)
        if not changed:
            return
        if erasing:
            # Erasure: its outputs (tombstones, forget messages keyed by e-mail and phone) are
            # acknowledged first, so the stored value keeps no outbox and no personal data, not
            # even the previous record's profile (E1 in docs/reliability.md).
            await self.sender.send_all(pending)
            outbox = []
        else:
            outbox = stored.confirmed_dropped(
                self.committed_offsets(), self.acknowledgements.acknowledged
            )
            if outputs:
                outbox.append(PendingOutputs(source=position, records=outputs))
                self.acknowledgements.track(position, pending)
        if erasing:
            # A tombstone for the record and a mark in its place (orchestrator.erasure_marks).
            del self.customers[key]
            self.customers[erasure_marks.mark_key(key)] = erasure_marks.mark(now)
        else:
            written = StoredCustomer(state=new_state, outbox=outbox)
            value = written.to_bytes()
            self.customers[key] = value
            if stored_value:
                # Kept only for a customer seen before: a flood of new customers (most with one
                # event, as in the state benchmark) would fill the memory with values never read.
                self.recent.keep(key, value, written)
        self.spend.add(spend_added(message, spent_before, new_state.segment_spend_minor))
        self.observe(message, new_state, decisions, now)

    def decode(self, event: Any, value: bytes, now: datetime) -> Message:
        """The record as a message; an event the department agent validated is only parsed."""
        topic = event.message.topic
        if topic == self.topics.events_by_customer and (event.headers or {}).get(VALIDATED_HEADER):
            try:
                return parse_decoded_event(value)
            except ValidationError:
                pass  # not what the department agent sent: the full decode says why
        return read_customer_record(self.topics, topic, value, now)

    def new_or_erased(self, customer_id: str, key: bytes, now: datetime) -> CustomerState:
        """A customer without a record: new, or erased a short while ago (its mark stands, and
        the core takes nothing more for it)."""
        state = CustomerState.new(customer_id)
        if erasure_marks.still_erased(self.customers.get(erasure_marks.mark_key(key)), now):
            state.erased = True
        return state


def _subject_of(message: Message) -> str:
    return message.customer_id if isinstance(message, Command) else message.subject
