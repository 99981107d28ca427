"""The faust topology: decode, load state, call the pure core, send its decisions, store state.

Three in-order agents (concurrency 1, so no offset is committed past an unfinished record):

* ``resolve_department_events`` on the three department event topics (keyed by the event's
  first identifier) and ``settle_identity_messages`` on the internal identity topic (keyed by
  identifier) share the ``identities`` table: identity resolution, keyed by identifier;
* ``apply_customer_messages`` on events-by-customer, the customer commands and the action
  outcomes (all keyed by customer id) owns the ``customers`` table.

Both tables are RocksDB (rocksdict) with changelog topics, so a restarted worker recovers them.
A record that cannot be decoded or applied goes to the dead-letter topic with its original
bytes and the reason in headers; the stream goes on. Outputs are sent and acknowledged before
the new state is written, so a crash in between replays the record and re-sends the same
(stable) ids rather than losing them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import faust
from pydantic import ValidationError

from lifecycle_schemas.codec import (
    KAFKA_HEADERS,
    RecordDecodeError,
    decode_event,
    decode_outcome,
    encode_record,
    kafka_key,
)
from lifecycle_schemas.dead_letter import dead_letter_headers
from lifecycle_schemas.departments import Department, Service
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.outcomes import ActionDeclined, Outcome
from lifecycle_schemas.outputs import (
    CustomerMerged,
    DecisionRecorded,
    HandoffDeadlineMissed,
    Verdict,
)
from lifecycle_schemas.topics import TOPICS, events_topic_for, topic_for_type
from orchestrator import erasure_marks, faust_fixes
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
    COMMAND_ADAPTER,
    Absorb,
    Command,
    Decision,
    EraseProfile,
    ForgetIdentifiers,
    Forward,
    Message,
    Publish,
    deadline_check,
)
from orchestrator.core.playbook import Playbook, short_type
from orchestrator.core.reducer import apply
from orchestrator.core.state import CustomerState
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.observed import WorkerView
from orchestrator.settings import OrchestratorSettings
from orchestrator.shredding import SealError, shredder_for
from orchestrator.stored import (
    OutboxRecord,
    PendingOutputs,
    SourcePosition,
    StoredCustomer,
    load_customer,
    load_state,
)

log = logging.getLogger("orchestrator.streaming")
# How long the group waits for a silent worker (heartbeats every 3 s) before moving its partitions.
CRASHED_WORKER_SESSION_TIMEOUT_S = 10.0
PRODUCER_LINGER_S = 0.005
PRODUCER_MAX_BATCH_BYTES = 512 * 1024
# Claims remembered per worker process (about 140 bytes each).
CLAIMS_REMEMBERED = 200_000
# Per table partition (16 RocksDB instances per worker). faust's defaults (3 x 64 MiB memtables
# and a 2 GiB block cache, each per instance) let a worker's memory grow for as long as it
# runs (the soak in docs/reliability.md); these bound it to about 10 MiB per instance. The
# block cache is small: a worker's hot customers sit in the memtables, while faust's per-block
# bloom filters, read for every new key, filled an 8 MiB cache per instance (about 1 KB per
# customer of a 100,000-customer worker, docs/benchmarks.md); misses read the OS page cache.
ROCKSDB_OPTIONS: dict[str, Any] = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 1024 * 1024,
    "block_cache_compressed_size": 1024 * 1024,
}
# A lookup on the identity topic: this header holds the Lookup (JSON), the value the event's
# bytes as the department service published them (sealed or not). Claims and forgets are JSON
# values without it.
LOOKUP_HEADER = "lifecycle-lookup"
RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


class UnappliableRecordError(Exception):
    """A decoded record the core could not apply (the cause is chained)."""


def utcnow() -> datetime:
    """The worker's clock (the only place the streaming layer reads it)."""
    return datetime.now(UTC)


def broker_urls(bootstrap_servers: str) -> list[str]:
    """``"a:9092,b:9092"`` as faust broker URLs."""
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")]


class Topology:
    """The faust app with its topics, tables, agents and timers."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        playbook: Playbook,
        metrics: OrchestratorMetrics,
        replication_factor: int,
    ) -> None:
        self.settings = settings
        self.playbook = playbook
        self.metrics = metrics
        self.view = WorkerView()
        self.prefix = settings.lifecycle_topic_prefix
        self.ready = False
        self._rebuilt = False
        faust_fixes.install()
        data_dir = settings.data_dir.resolve() / settings.app_id
        data_dir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.app_id,
            broker=broker_urls(settings.kafka_bootstrap_servers),
            store="rocksdb://",
            datadir=str(data_dir),
            topic_replication_factor=replication_factor,
            topic_partitions=TOPICS.events_by_customer.partitions,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            web_enabled=False,
            canonical_url=settings.canonical_url,
            autodiscover=False,
            # On a rebalance, wait for the event an agent is working on before partitions move:
            # without it, an event straddling the rebalance raced the table's recovery.
            stream_wait_empty=True,
            table_standby_replicas=0,
            producer_acks=-1,
            # Outputs are queued, not awaited per event: a few ms of linger lets aiokafka send
            # them in fewer, larger requests (socket writes were 15 % of a profile without it).
            producer_linger=PRODUCER_LINGER_S,
            # faust's 16 KiB default holds one or two customer states: every batch was full at
            # once and went out in its own request (socket writes were 15 % of a profile).
            producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
            # A SIGKILLed worker's partitions stay with it until its session expires: faust's
            # 60 s default kept a restarted worker unready for a minute (tests/chaos).
            broker_session_timeout=CRASHED_WORKER_SESSION_TIMEOUT_S,
        )
        app = self.app
        name = self.prefix
        self.department_topic = app.topic(
            *[events_topic_for(d).name_in(name) for d in Department], **RAW
        )
        self.identity_topic = app.topic(TOPICS.identity_messages.name_in(name), **RAW)
        self.events_by_customer = TOPICS.events_by_customer.name_in(name)
        self.commands = TOPICS.customer_commands.name_in(name)
        self.outcomes = TOPICS.action_outcomes.name_in(name)
        self.customer_topic = app.topic(
            self.events_by_customer, self.commands, self.outcomes, **RAW
        )
        # The topics the agents consume (and commit): what consumer lag is reported for.
        self.input_topics = frozenset(
            [
                *self.department_topic.topics,
                *self.identity_topic.topics,
                *self.customer_topic.topics,
            ]
        )
        # bytes keys and values make faust use the raw serializer: a table key's bytes equal
        # the source topic's key bytes, so key_store() finds the owning worker.
        self.identities = app.Table(
            "identities", partitions=8, key_type=bytes, value_type=bytes, options=ROCKSDB_OPTIONS
        )
        self.customers = app.Table(
            "customers", partitions=8, key_type=bytes, value_type=bytes, options=ROCKSDB_OPTIONS
        )
        self.claims_sent = SentClaims(CLAIMS_REMEMBERED)
        # Crypto-shredding (LIFECYCLE_SHREDDING); None when off: one `is None` test per record.
        self.shredder = shredder_for(settings, metrics, app)
        # Each segment's treatment budget spent by this worker's customers (rebuilt on rebalance).
        self.segment_spend: dict[str, int] = {}
        app.agent(self.department_topic, name="resolve-department-events")(
            self.resolve_department_events
        )
        app.agent(self.identity_topic, name="settle-identity-messages")(
            self.settle_identity_messages
        )
        app.agent(self.customer_topic, name="apply-customer-messages")(self.apply_customer_messages)
        app.timer(settings.deadline_check_interval_s)(_keep_running(self.check_deadlines))
        app.on_rebalance_complete.connect(cast(Any, self.on_rebalanced))
        app.timer(5.0)(_keep_running(self.refresh_gauges))

    # Sending ------------------------------------------------------------------------------

    async def send(
        self, topic: str, key: str | bytes, value: bytes | None, headers: Any = None
    ) -> Awaitable[Any]:
        """Queue a record; the returned future resolves when Kafka acknowledged it."""
        key_bytes = key.encode() if isinstance(key, str) else key
        # faust's own producer (the one it flushes before committing offsets), without the
        # Topic/Channel layers: their per-record serializer, sensor and debug-log calls were
        # measurable in a profile and do nothing for raw bytes.
        pending: Awaitable[Any] = await self.app.producer.send(
            topic, key_bytes, value, partition=None, timestamp=None, headers=list(headers or [])
        )
        return pending

    async def send_all(self, pending: list[Awaitable[Any]]) -> None:
        """Wait until Kafka acknowledged every queued record."""
        try:
            await asyncio.gather(*pending)
        except Exception:
            self.metrics.kafka_reachable.set(0)
            raise
        self.metrics.kafka_reachable.set(1)

    async def dead_letter(self, message: Any, error: Exception) -> None:
        """Send a record's original bytes to the dead-letter topic with the reason."""
        headers = dead_letter_headers(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            service=Service.ORCHESTRATOR,
            failed_at=utcnow(),
            error=error,
        )
        reason = (
            error.errors[0].rule
            if isinstance(error, RecordDecodeError) and error.errors
            else type(error).__name__
        )
        self.metrics.dead_letter_records.labels(topic=message.topic, reason=reason).inc()
        log.warning(
            "record dead-lettered",
            extra={
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "reason": reason,
            },
        )
        pending = await self.send(
            TOPICS.dead_letter.name_in(self.prefix),
            message.key or b"",
            message.value if message.value is not None else b"",
            headers,
        )
        await self.send_all([pending])

    # Identity resolution ------------------------------------------------------------------

    async def resolve_department_events(self, stream: Any) -> None:
        """Resolve each department event's customer, starting at its record key's partition."""
        async for event in stream.events():
            try:
                plain = event.value
                if self.shredder is not None:
                    plain = await self.shredder.open(plain, event.message.topic)
                    if plain is None:
                        continue  # its key was shredded: an erased customer's event
                record = decode_event(plain, now=utcnow())
            except (RecordDecodeError, SealError) as error:
                await self.dead_letter(event.message, error)
                continue
            try:
                identity = event_identity(record)
                await self.resolve(identity.chain[0], identity, event.value)
            except ValueError as error:  # an unreadable identity entry: this record only
                await self.dead_letter(event.message, error)

    async def settle_identity_messages(self, stream: Any) -> None:
        """Continue lookups and settle claims for the identifiers of this partition."""
        async for event in stream.events():
            try:
                lookup_header = event.headers.get(LOOKUP_HEADER)
                if lookup_header is not None:
                    await self.continue_lookup(Lookup.model_validate_json(lookup_header), event)
                    continue
                body = json.loads(event.value)
                if body["kind"] == "forget":
                    # Erasure: the identifier (an e-mail, a phone) leaves the table and its
                    # changelog (a tombstone).
                    self.identities.pop(str(body["body"]["identifier"]).encode(), None)
                elif body["kind"] == "lookup":
                    await self.continue_legacy_lookup(body["body"], event)
                else:
                    await self.settle(Claim.model_validate(body["body"]))
            except (ValueError, KeyError, TypeError, RecursionError) as error:
                # RecursionError: json.loads of a 1,000-deep value (tests/chaos poison records).
                await self.dead_letter(event.message, error)

    async def continue_lookup(self, lookup: Lookup, event: Any) -> None:
        """One more resolution step for an event the department agent decoded and validated;
        its bytes are passed on as they are, not decoded again."""
        shredder = self.shredder
        if shredder is not None and await shredder.open(event.value, event.message.topic) is None:
            return  # its key was shredded: an erased customer's identifiers stay forgotten
        await self.resolve(lookup.identifier, lookup.event_identity(), event.value)

    async def continue_legacy_lookup(self, body: Any, event: Any) -> None:
        """A lookup written before the header format (the event escaped in a JSON body), still
        on the topic after an upgrade: decode its event, then resolve as usual."""
        raw = str(body["event"]).encode()
        plain = raw if self.shredder is None else await self.shredder.open(raw, event.message.topic)
        if plain is None:
            return  # its key was shredded: an erased customer's event
        record = decode_event(plain, now=None)
        await self.resolve(str(body["identifier"]), event_identity(record), raw)

    async def resolve(self, identifier: str, event: EventIdentity, raw: bytes) -> None:
        """One resolution step on this identifier's partition (see core.identity)."""
        stored = self.identities.get(identifier.encode())
        entry = IdentityEntry.model_validate_json(stored) if stored else None
        resolution = resolve_step(entry, identifier, event)
        identity_topic = self.identity_topic.get_topic_name()
        if resolution.next_lookup is not None:
            lookup = Lookup.of(resolution.next_lookup, event)
            headers = [(LOOKUP_HEADER, lookup.model_dump_json().encode())]
            await self.send(identity_topic, resolution.next_lookup, raw, headers)
        else:
            assert resolution.customer_id is not None
            await self.send(self.events_by_customer, resolution.customer_id, raw, KAFKA_HEADERS)
            for claim in resolution.claims:
                if self.claims_sent.first_time(claim):
                    message = _claim_message(claim)
                    await self.send(identity_topic, claim.identifier, message)
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
            await self.send_all(
                [
                    await self.send(
                        self.commands, merge.customer_id, merge.model_dump_json().encode()
                    )
                ]
            )
        if settled != entry:
            self.identities[key] = settled.model_dump_json().encode()

    # Customer state -----------------------------------------------------------------------

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
        try:
            value = event.value
            if self.shredder is not None and source.topic == self.events_by_customer:
                value = await self.shredder.open(value, source.topic)
                if value is None:
                    return  # its key was shredded: an erased customer's event
            message = self.decode_customer_message(source.topic, value, now)
        except (RecordDecodeError, ValidationError, ValueError) as error:
            await self.dead_letter(source, error)
            return
        position = SourcePosition(
            topic=source.topic, partition=source.partition, offset=source.offset
        )
        try:
            customer_id = (event.key or b"").decode() or _subject_of(message)
            key = customer_id.encode()
            stored_value = self.customers.get(key)
            stored = (
                load_customer(stored_value)
                if stored_value
                else StoredCustomer(state=self.new_or_erased(customer_id, key, now))
            )
            replayed = stored.pending_for(position)
            if replayed is not None:
                # Applied before a crash or a rebalance, maybe not sent: send the same again.
                await self.send_records(replayed.records)
                return
            state = stored.state
            last_applied = state.applied_event_ids[-1:]
            was_erased = state.erased
            spent_before = dict(state.segment_spend_minor)
            # In place: this parsed copy is ours alone (no deep copy per message).
            new_state, decisions = apply(
                state, message, now, self.playbook, self.segment_spend, in_place=True
            )
            # Applied (not a duplicate, not forwarded by an alias): its id was appended.
            changed = new_state.applied_event_ids[-1:] != last_applied
            outputs = self.outputs(decisions)
            if self.shredder is not None and new_state.erased and not was_erased:
                outputs += await self.shredder.erasure_tombstones(new_state, decisions)
        except Exception as error:  # one record the core cannot apply must not stop the stream
            log.exception("record could not be applied")
            await self.dead_letter(source, UnappliableRecordError(type(error).__name__))
            return
        pending = await self.send_records(outputs)
        if changed:
            if new_state.erased and not was_erased:
                # Erasure: its outputs (tombstones, forget messages keyed by e-mail and phone)
                # are acknowledged first, so the stored value keeps no outbox and no personal
                # data, not even the previous record's profile (E1 in docs/reliability.md).
                await self.send_all(pending)
                outbox = []
            else:
                outbox = stored.confirmed_dropped(self.committed_offsets())
                if outputs:
                    outbox.append(PendingOutputs(source=position, records=outputs))
            if new_state.erased and not was_erased:
                # A tombstone for the record and a mark in its place (orchestrator.erasure_marks).
                del self.customers[key]
                self.customers[erasure_marks.mark_key(key)] = erasure_marks.mark(now)
            else:
                self.customers[key] = StoredCustomer(state=new_state, outbox=outbox).to_bytes()
            if not isinstance(message, Absorb):  # a merge moves spend, it spends nothing
                self.count_spend(spent_before, new_state.segment_spend_minor)
            self.observe(message, new_state, decisions, now)

    def new_or_erased(self, customer_id: str, key: bytes, now: datetime) -> CustomerState:
        """A customer without a record: new, or erased a short while ago (its mark stands, and
        the core takes nothing more for it)."""
        state = CustomerState.new(customer_id)
        if erasure_marks.still_erased(self.customers.get(erasure_marks.mark_key(key)), now):
            state.erased = True
        return state

    def count_spend(self, before: Mapping[str, int], after: Mapping[str, int]) -> None:
        """Add a customer's new segment spend to this worker's totals (what budgets check)."""
        for segment_id, minor in after.items():
            added = minor - before.get(segment_id, 0)
            if added > 0:
                self.segment_spend[segment_id] = self.segment_spend.get(segment_id, 0) + added

    def committed_offsets(self) -> Mapping[Any, int | None]:
        """The source offsets faust committed (after flushing the producer), by partition."""
        committed: Mapping[Any, int | None] = getattr(self.app.consumer, "_committed_offset", {})
        return committed

    def decode_customer_message(self, topic: str, raw: bytes, now: datetime) -> Message:
        """Decode a record of the customer topics by the topic it came from."""
        if topic == self.events_by_customer:
            # Only a time in the future is refused, so forwarded (older) copies still pass; a
            # far-future record written straight to this topic is dead-lettered (tests/chaos).
            return decode_event(raw, now=now)
        if topic == self.outcomes:
            return decode_outcome(raw, now=now)
        return COMMAND_ADAPTER.validate_json(raw)

    def outputs(self, decisions: list[Decision]) -> tuple[OutboxRecord, ...]:
        """The records that carry out the decisions (topic, key, value), in order."""
        records: list[OutboxRecord] = []
        for decision in decisions:
            if isinstance(decision, Publish):
                record = decision.record
                records.append(
                    OutboxRecord(
                        topic=topic_for_type(record.type).name_in(self.prefix),
                        key=kafka_key(record),
                        value=encode_record(record).decode(),
                        cloudevent_headers=True,
                    )
                )
            elif isinstance(decision, EraseProfile):
                topic = TOPICS.customer_profiles.name_in(self.prefix)
                records.append(OutboxRecord(topic=topic, key=decision.customer_id, value=None))
            elif isinstance(decision, Forward):
                records.append(self.forward(decision))
            elif isinstance(decision, ForgetIdentifiers):
                for identifier in decision.identifiers:
                    body = json.dumps({"kind": "forget", "body": {"identifier": identifier}})
                    records.append(
                        OutboxRecord(
                            topic=self.identity_topic.get_topic_name(), key=identifier, value=body
                        )
                    )
        return tuple(records)

    def forward(self, decision: Forward) -> OutboxRecord:
        """The record that sends a message on to another customer id's partition."""
        message = decision.message
        if isinstance(message, Command):
            return OutboxRecord(
                topic=self.commands, key=decision.customer_id, value=message.model_dump_json()
            )
        if isinstance(message, DepartmentEvent):
            value = encode_record(message)
            if self.shredder is not None:  # no plain copy on events-by-customer
                value = self.shredder.reseal(value, message.subject)
            return OutboxRecord(
                topic=self.events_by_customer,
                key=decision.customer_id,
                value=value.decode(),
                cloudevent_headers=True,
            )
        return OutboxRecord(
            topic=self.outcomes,
            key=decision.customer_id,
            value=encode_record(message).decode(),
            cloudevent_headers=True,
        )

    async def send_records(self, records: tuple[OutboxRecord, ...]) -> list[Awaitable[Any]]:
        """Queue the records on the producer (faust flushes it before committing offsets);
        the futures resolve when Kafka acknowledged each."""
        return [
            await self.send(
                record.topic,
                record.key,
                None if record.value is None else record.value.encode(),
                KAFKA_HEADERS if record.cloudevent_headers else None,
            )
            for record in records
        ]

    # Observability ------------------------------------------------------------------------

    def observe(
        self,
        message: Message,
        after: CustomerState,
        decisions: list[Decision],
        now: datetime,
    ) -> None:
        """Metrics and the worker's indexes after a state change."""
        metrics = self.metrics
        self.view.observe(after)
        if isinstance(message, DepartmentEvent):
            metrics.events_processed.labels(
                source=message.department.value, type=message.type
            ).inc()
            metrics.event_to_decision.observe(max(0.0, (now - message.time).total_seconds()))
        elif isinstance(message, Outcome):
            action = after.open_actions.get(message.data.action_id)
            play = action.play_id if action else "unknown"
            outcome = short_type(message.type).removeprefix("outcome.")
            metrics.outcomes_received.labels(
                play=play, department=message.data.department.value, outcome=outcome
            ).inc()
            stats = self.view.play(play)
            stats.outcomes[outcome] += 1
            if isinstance(message, ActionDeclined):
                stats.declines[(message.data.department.value, message.data.reason_code.value)] += 1
            metrics.play_flagged.labels(play=play).set(
                1 if self.view.flagged(play, self.playbook.policy) else 0
            )
        for decision in decisions:
            if not isinstance(decision, Publish):
                continue
            record = decision.record
            if ".action." in record.type:
                metrics.actions_emitted.labels(
                    play=record.data.play_id,
                    department=record.data.department.value,
                    type=record.type,
                ).inc()
                self.view.play(record.data.play_id).emitted += 1
            elif isinstance(record, DecisionRecorded):
                for candidate in record.data.candidates:
                    if candidate.verdict is not Verdict.WON:
                        metrics.candidates_suppressed.labels(reason=candidate.reason_code).inc()
            elif isinstance(record, CustomerMerged):
                metrics.merges.inc()
            elif isinstance(record, HandoffDeadlineMissed):
                metrics.deadlines_missed.labels(
                    department=record.data.department.value, play=record.data.play_id
                ).inc()

    async def check_deadlines(self) -> None:
        """Ask the customers with an overdue action to check their deadlines."""
        if not self._rebuilt:
            self.rebuild_view()
        now = utcnow()
        pending = [
            await self.send(
                self.commands,
                customer_id,
                deadline_check(customer_id, now).model_dump_json().encode(),
            )
            for customer_id in self.view.due(now)
        ]
        if pending:
            await self.send_all(pending)

    async def on_rebalanced(
        self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any
    ) -> None:
        """Partitions moved: re-index from the partitions this worker owns now."""
        self._rebuilt = False

    def rebuild_view(self) -> None:
        """Index every customer in this worker's active table partitions."""
        self.view.forget_customers()
        # Budgets are checked against this worker's customers (its partitions): exact with one
        # worker; with several, each spends against the whole budget (docs/orchestrator.md).
        self.segment_spend = {}
        for key, value in self.customers.items():
            if value and not erasure_marks.is_mark(key):
                state = load_state(value)
                self.view.observe(state)
                self.count_spend({}, state.segment_spend_minor)
        self._rebuilt = True

    async def refresh_gauges(self) -> None:
        """Customers per stage and segment, and consumer lag."""
        metrics = self.metrics
        metrics.customers.clear()
        for (stage, status), count in self.view.stage_counts().items():
            metrics.customers.labels(stage=stage, status=status).set(count)
        counts = self.view.segment_counts()
        for segment in self.playbook.segments:
            metrics.segment_members.labels(segment=segment.id).set(counts.get(segment.id, 0))
        consumer = self.app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        for tp in consumer.assignment():
            if tp.topic not in self.input_topics:
                continue  # table changelogs: read at recovery, never committed (bug B2)
            highwater = consumer.highwater(tp)
            if highwater is not None:
                position = committed.get(tp) or 0
                metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(0, highwater - position)
                )


class SentClaims:
    """The claims this process already sent, so an identifier is not claimed again on every event.

    Every known-customer event claims all its other identifiers (``resolve_step``): about one
    extra record produced and consumed per event, most of them repeats. A repeat changes
    nothing where it is settled, and the first one was sent by this very process, so it is on
    Kafka unless the process died, which also empties this memory (a restarted worker claims
    again; so does the next owner after a rebalance). Bounded: least recently used forgotten.
    """

    def __init__(self, limit: int) -> None:
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


def _keep_running(timer: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A timer body whose failure is logged and retried next tick (a raising timer stops)."""

    async def run() -> None:
        try:
            await timer()
        except Exception:
            log.exception("timer failed", extra={"timer": timer.__name__})

    run.__name__ = run.__qualname__ = timer.__name__
    return run


def _claim_message(claim: Claim) -> bytes:
    return json.dumps({"kind": "claim", "body": claim.model_dump(mode="json")}).encode()


def _subject_of(message: Message) -> str:
    return message.customer_id if isinstance(message, Command) else message.subject
