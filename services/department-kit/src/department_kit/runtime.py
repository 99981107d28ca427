"""The department service's moving parts wired together, and the commands the routes call.

Routes translate HTTP into these commands; the import command calls the same ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from department_kit.actions import (
    ActionStatus,
    OutcomeRequest,
    build_expiry,
    build_outcome,
    check_transition,
)
from department_kit.contacts import AwaitedAnswers, ContactDesk, outgoing_requests
from department_kit.department import DepartmentSpec
from department_kit.event_claims import AcceptedEvent, EventClaim, PriorEvent
from department_kit.kafka_io import (
    ActionConsumer,
    BrokerUnavailableError,
    Delivery,
    IncomingRecord,
    KafkaPublisher,
    KeyTombstoneWatcher,
    OutgoingRecord,
    TopicTail,
)
from department_kit.metrics import DepartmentMetrics
from department_kit.settings import DepartmentSettings
from department_kit.shredding import EventSealer
from department_kit.store import DepartmentStore, StoredAction, WebhookState
from department_kit.webhooks import WebhookPusher
from lifecycle_schemas.catalogue import ERASE_ACTION_OF_DEPARTMENT, AnyDepartmentEvent
from lifecycle_schemas.codec import RecordDecodeError, decode_action, encode_record, kafka_key
from lifecycle_schemas.dead_letter import dead_letter_headers
from lifecycle_schemas.departments import SERVICE_OF_DEPARTMENT
from lifecycle_schemas.envelope import CloudEvent
from lifecycle_schemas.topics import (
    TOPICS,
    actions_topic_for,
    contact_decisions_topic_for,
    events_topic_for,
)
from service_kit.api_keys import KeyRing, load_keys
from service_kit.problems import ProblemError, broker_unavailable

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 5
# An event id claim lapses this long after its request's publish deadline: a holder that is
# alive has published or given it back by then; one that crashed is taken over then.
CLAIM_MARGIN_S = 5.0
# How soon a request whose ids another request is publishing looks again, doubling up to the
# last (publishes usually take milliseconds; a crashed holder's claim lapses in seconds).
FIRST_CLAIM_LOOK_S = 0.01
LAST_CLAIM_LOOK_S = 0.5
# How often the service looks whether another replica stored new actions (wakes live streams).
FEED_POLL_S = 0.5


class Publisher(Protocol):
    """What the runtime needs from Kafka to publish (the real one is :class:`KafkaPublisher`)."""

    reachable: bool

    def publish(self, records: Sequence[OutgoingRecord]) -> list[Delivery]: ...

    def close(self, timeout_s: float = 10.0) -> None: ...


def utc_now() -> datetime:
    """The wall clock, in UTC (the only clock the service reads)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class OutcomeResult:
    action: StoredAction
    published: bool


@dataclass(frozen=True)
class IdReused:
    """A batch refused whole: these positions hold ids accepted before with another body."""

    positions: tuple[int, ...]


@dataclass(frozen=True)
class ClaimedElsewhere:
    """A batch not sent yet: ids of it are being published by another request (on this replica
    or another). Ask again once that one is answered; its claim lapses at ``lapses_at`` at the
    latest, and is then taken over."""

    lapses_at: datetime


# What became of one all-or-nothing batch: where each event is stored, or why none was sent.
BatchOutcome = list[AcceptedEvent] | IdReused
# What one attempt at a batch may also answer: ask again.
AcceptAttempt = BatchOutcome | ClaimedElsewhere


def id_in_flight(retry_after_s: int) -> ProblemError:
    """503: another request has been publishing one of the ids for longer than it may."""
    return ProblemError(
        503,
        "event-id-in-flight",
        "An event id is being published by another request",
        "another request holds one of these event ids and did not finish in time; this "
        "request's events were not reported accepted. Retrying with the same ids is safe.",
        headers={"Retry-After": str(retry_after_s)},
    )


class ClaimWait:
    """How long a request waits for ids another request is publishing, and when it looks again.

    A holder answers within its publish deadline, or its claim lapses: a request that waited
    ``limit_s`` (longer than a claim lives) has seen one or the other, unless the holder hangs
    past its own deadline; then the request gets 503 with the claim's remaining time.
    """

    def __init__(self, limit_s: float) -> None:
        self._deadline = time.monotonic() + limit_s
        self._delay = FIRST_CLAIM_LOOK_S

    def next_look_in(self, blocked: ClaimedElsewhere, now: datetime) -> float:
        """Seconds to wait before asking again; raises 503 once the wait is used up."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            lapse_s = (blocked.lapses_at - now).total_seconds()
            raise id_in_flight(max(1, math.ceil(lapse_s)))
        delay = min(self._delay, left)
        self._delay = min(self._delay * 2, LAST_CLAIM_LOOK_S)
        return delay


def body_digest(encoded: bytes) -> str:
    """The digest kept beside an accepted event id: SHA-256 of its canonical record."""
    return hashlib.sha256(encoded).hexdigest()


class DepartmentRuntime:
    """One department service: store, publisher, consumer, webhook pusher, metrics, keys."""

    def __init__(
        self,
        spec: DepartmentSpec,
        settings: DepartmentSettings,
        publisher: Publisher | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.department = spec.department
        self.erase_type = ERASE_ACTION_OF_DEPARTMENT[spec.department].record_type()
        self.clock = clock
        # How long an event id claim lives, and how long a request waits for another's.
        self.claim_lease = timedelta(seconds=settings.publish_timeout_s + CLAIM_MARGIN_S)
        self.claim_wait_s = self.claim_lease.total_seconds() + 1.0
        self.metrics = DepartmentMetrics()
        self.keys: KeyRing = load_keys(settings.api_keys_file, settings.api_keys_json)
        self.store = DepartmentStore(settings.inbox_database)
        client_id = f"lifecycle-{self.department}-service"
        self.publisher: Publisher = publisher or KafkaPublisher(
            settings.kafka_bootstrap_servers,
            settings.publish_timeout_s,
            client_id,
            settings.kafka_security,
        )
        prefix = settings.topic_prefix
        self.events_topic = events_topic_for(self.department).name_in(prefix)
        self.actions_topic = actions_topic_for(self.department).name_in(prefix)
        self.outcomes_topic = TOPICS.action_outcomes.name_in(prefix)
        self.dead_letter_topic = TOPICS.dead_letter.name_in(prefix)
        self.consumer: ActionConsumer | None = None
        self.pusher: WebhookPusher | None = None
        self.sealer: EventSealer | None = None
        self.key_watcher: KeyTombstoneWatcher | None = None
        if settings.shredding and settings.shredding_secret is not None:
            self.sealer = EventSealer(
                self.publisher.publish,
                TOPICS.subject_keys.name_in(prefix),
                self.department.value,
                settings.shredding_secret.get_secret_value().encode(),
                self.metrics.subject_keys_created.inc,
            )
        # Contact requests (department_kit.contacts): answers read from the topic's end.
        self.contact_decisions_topic = contact_decisions_topic_for(self.department).name_in(prefix)
        self.awaited_answers = AwaitedAnswers()
        self.answer_watcher: TopicTail | None = None
        self.contacts = ContactDesk(
            self.department,
            self.publish_contact_requests,
            self.awaited_answers,
            lambda: self.answer_watcher is not None and self.answer_watcher.watching,
            self.metrics,
            clock,
            settings.contact_timeout_s,
            settings.contact_fail_open_purposes,
        )
        self.kafka_reachable = False
        # Bumped whenever a new action is stored; live streams compare it to wake up.
        self.feed_version = 0
        self._stopping = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_expired, name="expire", daemon=True)
        self._feed_watcher = threading.Thread(target=self._watch_feed, name="feed", daemon=True)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start consuming actions and (if configured) pushing them to the webhook."""
        settings = self.settings
        if settings.webhook_url and settings.webhook_secret:
            self.pusher = WebhookPusher(
                self.store,
                self.metrics,
                settings.webhook_url,
                settings.webhook_secret,
                settings.webhook_max_attempts,
                settings.webhook_backoff_initial_s,
                settings.webhook_backoff_max_s,
                settings.webhook_timeout_s,
                self.clock,
                on_delivered=lambda action: self.delivered([action]),
            )
            self.pusher.start()
        self.consumer = ActionConsumer(
            settings.kafka_bootstrap_servers,
            self.actions_topic,
            settings.group_id,
            f"lifecycle-{self.department}-service",
            self.handle_action_record,
            self._set_lag,
            self._set_reachable,
            settings.fault_pause_before_commit_s,
            settings.kafka_security,
        )
        self.consumer.start()
        self.answer_watcher = TopicTail(
            settings.kafka_bootstrap_servers,
            self.contact_decisions_topic,
            f"lifecycle-{self.department}-service-contacts",
            self.awaited_answers.on_record,
            settings.kafka_security,
        )
        self.answer_watcher.start()
        if self.sealer is not None:
            self.key_watcher = KeyTombstoneWatcher(
                settings.kafka_bootstrap_servers,
                TOPICS.subject_keys.name_in(settings.topic_prefix),
                f"lifecycle-{self.department}-service-keys",
                self.sealer.forget_key_record,
                settings.kafka_security,
            )
            self.key_watcher.start()
        self._sweeper.start()
        self._feed_watcher.start()

    def stop(self) -> None:
        """Graceful shutdown: stop consuming (stored batches are committed), flush the producer."""
        self._stopping.set()
        for thread in (self._sweeper, self._feed_watcher):
            if thread.is_alive():
                thread.join(10)
        if self.consumer is not None:
            self.consumer.stop()
        if self.pusher is not None:
            self.pusher.stop()
        if self.key_watcher is not None:
            self.key_watcher.stop()
        if self.answer_watcher is not None:
            self.answer_watcher.stop()
        self.publisher.close(self.settings.publish_timeout_s)
        self.store.close()

    def _set_lag(self, topic: str, partition: int, lag: int) -> None:
        self.metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)

    def _set_reachable(self, reachable: bool) -> None:
        self.kafka_reachable = reachable
        self.metrics.set_reachable(reachable)

    def ready(self) -> tuple[bool, str]:
        """Whether the service can do its job: the broker answers, the consumer is assigned and
        the answers to contact requests are watched."""
        if self.consumer is None or not self.consumer.assigned:
            return False, "the action consumer has no partitions assigned yet"
        if not self.kafka_reachable:
            return False, "Kafka is not reachable"
        if self.answer_watcher is None or not self.answer_watcher.watching:
            return False, "the contact-decisions topic is not watched yet"
        return True, "ready"

    # --- ingest -------------------------------------------------------------------------

    def accept_events(self, records: Sequence[AnyDepartmentEvent]) -> BatchOutcome:
        """Publish one all-or-nothing batch (see :meth:`accept_batches`), waiting while another
        request publishes one of its ids (503 if that takes longer than a claim lives)."""
        wait = ClaimWait(self.claim_wait_s)
        while True:
            attempt = self.accept_batches([records])[0]
            if not isinstance(attempt, ClaimedElsewhere):
                return attempt
            time.sleep(wait.next_look_in(attempt, self.clock()))  # polling the claim

    def accept_batches(
        self, batches: Sequence[Sequence[AnyDepartmentEvent]]
    ) -> list[AcceptAttempt]:
        """Publish the events not accepted before and wait for Kafka; all acknowledged or 503.

        Each batch is all or nothing. An id accepted within the idempotency window with the
        same canonical body is not published again: it is answered with where it was stored
        the first time. With another body the whole batch is refused (:class:`IdReused`) and
        none of it is published. The ids are claimed in a short transaction of their own, then
        published with none open, then marked published: concurrent posts of one id, to this
        or any other replica on the same database, publish it once. A batch with an id another
        request is publishing right now is not sent (:class:`ClaimedElsewhere`: ask again).
        """
        now = self.clock()
        window_start = now - timedelta(seconds=self.settings.idempotency_window_s)
        encoded = [[encode_record(r) for r in batch] for batch in batches]
        digests = [[body_digest(e) for e in batch] for batch in encoded]
        # The first body of each id in the group is the one claimed (and published if ours).
        first: dict[str, tuple[AnyDepartmentEvent, bytes, str]] = {}
        for batch, batch_encoded, batch_digests in zip(batches, encoded, digests, strict=True):
            for record, body, digest in zip(batch, batch_encoded, batch_digests, strict=True):
                first.setdefault(record.id, (record, body, digest))
        with self.store.claiming(now, now + self.claim_lease) as claims:
            ours = claims.claim(
                [EventClaim(i, r.type, d) for i, (r, _, d) in first.items()], window_start
            )
            prior = claims.prior([i for i in first if i not in ours])
            # None: the batch is to be published.
            attempts: list[AcceptAttempt | None] = [
                self._judge(batch, batch_digests, ours, prior, first, now)
                for batch, batch_digests in zip(batches, digests, strict=True)
            ]
            wanted = {
                r.id
                for batch, attempt in zip(batches, attempts, strict=True)
                if attempt is None
                for r in batch
                if r.id in ours
            }
            # Given back before the claims commit: nobody ever sees them.
            claims.release(sorted(ours - wanted))
            token = claims.token
        fresh = {i: first[i] for i in first if i in wanted}
        published = self._publish_claimed(token, fresh) if fresh else {}
        for event in published.values():
            self.metrics.events_published.labels(type=event.event_type).inc()
        answers: list[AcceptAttempt] = []
        for batch, attempt in zip(batches, attempts, strict=True):
            if isinstance(attempt, IdReused):
                self.metrics.events_rejected.labels(reason="id_reused").inc(len(attempt.positions))
            elif isinstance(attempt, ClaimedElsewhere):
                self.metrics.event_claims_held.inc()
            if attempt is not None:
                answers.append(attempt)
            else:
                answers.append(
                    [published[r.id] if r.id in published else prior[r.id].event for r in batch]
                )
        return answers

    def _judge(
        self,
        batch: Sequence[AnyDepartmentEvent],
        batch_digests: Sequence[str],
        ours: set[str],
        prior: dict[str, PriorEvent],
        first: dict[str, tuple[AnyDepartmentEvent, bytes, str]],
        now: datetime,
    ) -> IdReused | ClaimedElsewhere | None:
        """Refused (an id accepted with another body), held (an id being published by another
        request, or given back just now), or to be published (None)."""
        positions = self._reused_positions(batch, batch_digests, ours, prior, first)
        if positions:
            return IdReused(positions)
        held: list[datetime] = []
        for record in batch:
            if record.id in ours:
                continue
            found = prior.get(record.id)
            if found is None:
                held.append(now)  # given back between the claim and the look: ask again now
            elif found.pending_until is not None:
                held.append(found.pending_until)
        return ClaimedElsewhere(max(held)) if held else None

    @staticmethod
    def _reused_positions(
        batch: Sequence[AnyDepartmentEvent],
        batch_digests: Sequence[str],
        ours: set[str],
        prior: dict[str, PriorEvent],
        first: dict[str, tuple[AnyDepartmentEvent, bytes, str]],
    ) -> tuple[int, ...]:
        """Positions of the batch whose id is known with another body."""
        reused: list[int] = []
        for position, (record, digest) in enumerate(zip(batch, batch_digests, strict=True)):
            if record.id in ours:
                known: str | None = first[record.id][2]
            elif record.id in prior and prior[record.id].pending_until is None:
                # A row from before digests were kept has none: answered as a replay.
                known = prior[record.id].digest
            else:
                # Being published (or given back) by another request: judged once it is done.
                known = None
            if known is not None and known != digest:
                reused.append(position)
        return tuple(reused)

    def _publish_claimed(
        self, token: str, fresh: dict[str, tuple[AnyDepartmentEvent, bytes, str]]
    ) -> dict[str, AcceptedEvent]:
        """Publish the claimed events, then mark them published; where each went, or 503 with
        the claims given back."""
        try:
            published = self._publish_fresh(fresh)
        except BaseException:
            self._give_back(token, list(fresh))
            raise
        marked = self.store.record_published(token, list(published.values()))
        if marked < len(published):
            # Held past their lapse (a stall longer than the publish deadline): another request
            # may have taken them over and published them too.
            logger.warning(
                "event id claims lapsed before they were marked published",
                extra={"events": len(published) - marked},
            )
        return published

    def _give_back(self, token: str, event_ids: Sequence[str]) -> None:
        try:
            self.store.release_claims(token, event_ids)
        except Exception as error:
            # The claims lapse by themselves; a retry takes them over then.
            logger.warning(
                "cannot give back event id claims",
                extra={"events": len(event_ids), "error_class": type(error).__name__},
            )

    def _publish_fresh(
        self, fresh: dict[str, tuple[AnyDepartmentEvent, bytes, str]]
    ) -> dict[str, AcceptedEvent]:
        """Publish the events and wait for Kafka; where each went, or 503."""
        try:
            outgoing = (
                [
                    OutgoingRecord(self.events_topic, kafka_key(r), body)
                    for r, body, _ in fresh.values()
                ]
                if self.sealer is None
                else self.sealer.sealed(self.events_topic, [r for r, _, _ in fresh.values()])
            )
            deliveries = self.publisher.publish(outgoing)
        except BrokerUnavailableError as error:
            self._set_reachable(False)
            self.metrics.publish_failures.labels(reason=str(error) or "unavailable").inc(len(fresh))
            logger.warning("events not acknowledged by Kafka", extra={"events": len(fresh)})
            raise broker_unavailable(RETRY_AFTER_S) from None
        self._set_reachable(True)
        if self.settings.fault_pause_after_produce_s:
            self._pause_after_produce(len(fresh))
        return {
            r.id: AcceptedEvent(r.id, r.type, d.topic, d.partition, d.offset)
            for (r, _, _), d in zip(fresh.values(), deliveries, strict=True)
        }

    def publish_contact_requests(self, records: Sequence[CloudEvent[Any]]) -> None:
        """Publish contact request records to the event topic and wait for Kafka (sealed like
        events when crypto-shredding is on); raises :class:`BrokerUnavailableError`."""
        outgoing = (
            outgoing_requests(self.events_topic, records)
            if self.sealer is None
            # Contact requests are department events (<department>.contact.requested).
            else self.sealer.sealed(self.events_topic, cast(list[AnyDepartmentEvent], records))
        )
        try:
            self.publisher.publish(outgoing)
        except BrokerUnavailableError:
            self._set_reachable(False)
            raise
        self._set_reachable(True)

    def _pause_after_produce(self, events: int) -> None:
        """The test-only fault switch: wait inside the produced-but-unanswered window."""
        logger.warning(
            "fault switch: pausing after the produce was acknowledged",
            extra={"events": events, "pause_s": self.settings.fault_pause_after_produce_s},
        )
        time.sleep(self.settings.fault_pause_after_produce_s)

    # --- actions ------------------------------------------------------------------------

    def handle_action_record(self, record: IncomingRecord) -> None:
        """Store a record of the action topic, or dead-letter it; raises if neither worked."""
        now = self.clock()
        try:
            action = decode_action(record.value or b"", now=now, department=self.department)
        except RecordDecodeError as error:
            headers = dead_letter_headers(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                service=SERVICE_OF_DEPARTMENT[self.department],
                failed_at=now,
                error=error,
            )
            self.publisher.publish(
                [
                    OutgoingRecord(
                        self.dead_letter_topic, record.key, record.value or b"", tuple(headers)
                    )
                ]
            )
            reason = error.errors[0].rule if error.errors else "invalid"
            self.metrics.dead_letter_records.labels(topic=record.topic, reason=reason).inc()
            logger.warning(
                "action dead-lettered", extra={"offset": record.offset, "reason": reason}
            )
            return
        webhook_state = (
            WebhookState.PENDING if self.pusher is not None else WebhookState.NOT_CONFIGURED
        )
        if self.store.add_action(action, now, webhook_state):
            self.metrics.actions_received.labels(type=action.type).inc()
            self.feed_version += 1
            if self.pusher is not None:
                self.pusher.notify()
            logger.info(
                "action received", extra={"action_id": action.id, "action_type": action.type}
            )
        # Right to erasure: the customer's other actions leave the inbox once the erase action
        # has been delivered (`delivered`). The orchestrator tombstoned the subjects' sealing
        # keys already; later events get new ones.
        if action.type == self.erase_type and self.sealer is not None:
            self.sealer.forget_subjects(
                f"{kind}:{value}" for kind, value in action.data.customer.identifiers()
            )

    def delivered(self, actions: Iterable[StoredAction]) -> None:
        """Actions the department has now been handed (inbox, stream, webhook). An erase action
        among them purges the customer's other inbox rows: the department has the identifiers
        it needs from the erase action itself, so nothing else of the customer stays here."""
        for action in actions:
            if action.action_type != self.erase_type:
                continue
            purged = self.store.purge_customer(action.customer_id, action.action_id)
            if purged:
                self.feed_version += 1
                logger.info("inbox purged for erasure", extra={"actions_deleted": purged})

    def record_outcome(self, action_id: str, request: OutcomeRequest) -> OutcomeResult:
        """Publish what the department did with an action, then store it; 404, 409, 422 or 503.

        The action's row stays locked from the check to the store, so two posts of one outcome
        (to this replica or another on the same database) publish it once.
        """
        with self.store.changing_action(action_id) as change:
            if not change.actions:
                raise ProblemError(
                    404, "action-not-found", "No such action", "no action with this id in the inbox"
                )
            stored = change.actions[0]
            now = self.clock()
            current = stored.status_at(now)
            requested = ActionStatus(request.outcome)
            if current == ActionStatus.EXPIRED:
                raise ProblemError(
                    409,
                    "action-expired",
                    "The action has expired",
                    "it must not be carried out any more",
                )
            if not check_transition(current, requested):
                return OutcomeResult(stored, published=False)
            action = decode_action(json.dumps(stored.record), now=None, department=self.department)
            outcome = build_outcome(action, request, now)
            try:
                self.publisher.publish(
                    [
                        OutgoingRecord(
                            self.outcomes_topic, kafka_key(outcome), encode_record(outcome)
                        )
                    ]
                )
            except BrokerUnavailableError:
                self._set_reachable(False)
                raise broker_unavailable(RETRY_AFTER_S) from None
            self._set_reachable(True)
            change.record_outcome(action_id, requested, json.loads(encode_record(outcome)), now)
        self.metrics.action_outcomes.labels(outcome=requested.value).inc()
        logger.info("outcome published", extra={"action_id": action_id, "outcome": requested.value})
        updated = self.store.get_action(action_id)
        assert updated is not None
        return OutcomeResult(updated, published=True)

    def summarise(self, action: StoredAction) -> str:
        """The department's own one-line wording of an action, for the people who act on it."""
        record = decode_action(json.dumps(action.record), now=None, department=self.department)
        return self.spec.summarise_action(record)

    def expire_due_actions(self) -> int:
        """Publish ``outcome.expired`` for unfinished actions past their expiry, then store it.

        Returns how many were expired. The sweep's outcomes are published together, in one
        wait for Kafka (the rows stay locked meanwhile: on SQLite that is the write lock every
        ingest request needs); if Kafka does not acknowledge, none is stored and all are tried
        again on the next sweep. Actions another replica is expiring at the same moment are
        left to it.
        """
        now = self.clock()
        with self.store.expiring(now) as change:
            outcomes = [
                (
                    stored.action_id,
                    build_expiry(
                        decode_action(
                            json.dumps(stored.record), now=None, department=self.department
                        ),
                        now,
                    ),
                )
                for stored in change.actions
            ]
            if not outcomes:
                return 0
            try:
                self.publisher.publish(
                    [
                        OutgoingRecord(
                            self.outcomes_topic, kafka_key(outcome), encode_record(outcome)
                        )
                        for _, outcome in outcomes
                    ]
                )
            except BrokerUnavailableError:
                self._set_reachable(False)
                return 0
            for action_id, outcome in outcomes:
                change.record_outcome(
                    action_id, ActionStatus.EXPIRED, json.loads(encode_record(outcome)), now
                )
        self.metrics.action_outcomes.labels(outcome=ActionStatus.EXPIRED.value).inc(len(outcomes))
        return len(outcomes)

    def _sweep_expired(self) -> None:
        while not self._stopping.wait(self.settings.expiry_sweep_interval_s):
            try:
                self.expire_due_actions()
                window_start = self.clock() - timedelta(seconds=self.settings.idempotency_window_s)
                self.store.forget_accepted_before(window_start)
            except Exception:
                logger.exception("expiring actions failed; trying again at the next sweep")

    def _watch_feed(self) -> None:
        """Wake live streams when any replica stored a new action (the cursor moved)."""
        seen = -1
        while not self._stopping.wait(FEED_POLL_S):
            try:
                cursor = self.store.last_cursor()
            except Exception as error:
                # The class only: a database error's text may quote the SQL's parameters.
                logger.warning(
                    "cannot read the inbox cursor", extra={"error_class": type(error).__name__}
                )
                continue
            if cursor != seen:
                seen = cursor
                self.feed_version += 1

    def refresh_inbox_gauge(self) -> None:
        """Set the inbox gauges from the store (called on every scrape)."""
        now = self.clock()
        for status, count in self.store.count_by_status(now).items():
            self.metrics.inbox_actions.labels(status=status.value).set(count)
        oldest = self.store.oldest_open_received_at(now)
        age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        self.metrics.inbox_oldest_open_age.set(age)
