"""The department service's moving parts wired together, and the commands the routes call.

Routes translate HTTP into these commands; the import command calls the same ones.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from department_kit.actions import (
    ActionStatus,
    OutcomeRequest,
    build_expiry,
    build_outcome,
    check_transition,
)
from department_kit.department import DepartmentSpec
from department_kit.kafka_io import (
    ActionConsumer,
    BrokerUnavailableError,
    Delivery,
    IncomingRecord,
    KafkaPublisher,
    KeyTombstoneWatcher,
    OutgoingRecord,
)
from department_kit.metrics import DepartmentMetrics
from department_kit.settings import DepartmentSettings
from department_kit.shredding import EventSealer
from department_kit.store import AcceptedEvent, DepartmentStore, StoredAction, WebhookState
from department_kit.webhooks import WebhookPusher
from lifecycle_schemas.catalogue import ERASE_ACTION_OF_DEPARTMENT, AnyDepartmentEvent
from lifecycle_schemas.codec import RecordDecodeError, decode_action, encode_record, kafka_key
from lifecycle_schemas.dead_letter import dead_letter_headers
from lifecycle_schemas.departments import SERVICE_OF_DEPARTMENT
from lifecycle_schemas.topics import TOPICS, actions_topic_for, events_topic_for
from service_kit.api_keys import KeyRing, load_keys
from service_kit.problems import ProblemError, broker_unavailable

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 5


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
        self.metrics = DepartmentMetrics()
        self.keys: KeyRing = load_keys(settings.api_keys_file, settings.api_keys_json)
        self.store = DepartmentStore(settings.inbox_database)
        client_id = f"lifecycle-{self.department}-service"
        self.publisher: Publisher = publisher or KafkaPublisher(
            settings.kafka_bootstrap_servers, settings.publish_timeout_s, client_id
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
        self.kafka_reachable = False
        # Bumped whenever a new action is stored; live streams compare it to wake up.
        self.feed_version = 0
        self._stopping = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_expired, name="expire", daemon=True)

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
        )
        self.consumer.start()
        if self.sealer is not None:
            self.key_watcher = KeyTombstoneWatcher(
                settings.kafka_bootstrap_servers,
                TOPICS.subject_keys.name_in(settings.topic_prefix),
                f"lifecycle-{self.department}-service-keys",
                self.sealer.forget_key_record,
            )
            self.key_watcher.start()
        self._sweeper.start()

    def stop(self) -> None:
        """Graceful shutdown: stop consuming (stored batches are committed), flush the producer."""
        self._stopping.set()
        if self._sweeper.is_alive():
            self._sweeper.join(10)
        if self.consumer is not None:
            self.consumer.stop()
        if self.pusher is not None:
            self.pusher.stop()
        if self.key_watcher is not None:
            self.key_watcher.stop()
        self.publisher.close(self.settings.publish_timeout_s)
        self.store.close()

    def _set_lag(self, topic: str, partition: int, lag: int) -> None:
        self.metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)

    def _set_reachable(self, reachable: bool) -> None:
        self.kafka_reachable = reachable
        self.metrics.set_reachable(reachable)

    def ready(self) -> tuple[bool, str]:
        """Whether the service can do its job: the broker answers and the consumer is assigned."""
        if self.consumer is None or not self.consumer.assigned:
            return False, "the action consumer has no partitions assigned yet"
        if not self.kafka_reachable:
            return False, "Kafka is not reachable"
        return True, "ready"

    # --- ingest -------------------------------------------------------------------------

    def accept_events(self, records: Sequence[AnyDepartmentEvent]) -> list[AcceptedEvent]:
        """Publish the events not accepted before and wait for Kafka; all acknowledged or 503.

        An id accepted within the idempotency window is not published again: it is answered
        with where it was stored the first time.
        """
        now = self.clock()
        window_start = now - timedelta(seconds=self.settings.idempotency_window_s)
        known = self.store.accepted_events([r.id for r in records], window_start)
        fresh: dict[str, AnyDepartmentEvent] = {}
        for record in records:
            if record.id not in known and record.id not in fresh:
                fresh[record.id] = record
        if fresh:
            try:
                outgoing = (
                    [
                        OutgoingRecord(self.events_topic, kafka_key(r), encode_record(r))
                        for r in fresh.values()
                    ]
                    if self.sealer is None
                    else self.sealer.sealed(self.events_topic, list(fresh.values()))
                )
                deliveries = self.publisher.publish(outgoing)
            except BrokerUnavailableError as error:
                self._set_reachable(False)
                self.metrics.publish_failures.labels(reason=str(error) or "unavailable").inc(
                    len(fresh)
                )
                logger.warning("events not acknowledged by Kafka", extra={"events": len(fresh)})
                raise broker_unavailable(RETRY_AFTER_S) from None
            self._set_reachable(True)
            if self.settings.fault_pause_after_produce_s:
                self._pause_after_produce(len(fresh))
            accepted = [
                AcceptedEvent(r.id, r.type, d.topic, d.partition, d.offset)
                for r, d in zip(fresh.values(), deliveries, strict=True)
            ]
            self.store.record_accepted(accepted, now, window_start)
            for event in accepted:
                self.metrics.events_published.labels(type=event.event_type).inc()
            known = {**known, **{a.event_id: a for a in accepted}}
        return [known[r.id] for r in records]

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
        """Publish what the department did with an action, then store it; 404, 409, 422 or 503."""
        stored = self.store.get_action(action_id)
        if stored is None:
            raise ProblemError(
                404, "action-not-found", "No such action", "no action with this id in the inbox"
            )
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
                [OutgoingRecord(self.outcomes_topic, kafka_key(outcome), encode_record(outcome))]
            )
        except BrokerUnavailableError:
            self._set_reachable(False)
            raise broker_unavailable(RETRY_AFTER_S) from None
        self._set_reachable(True)
        outcome_json: dict[str, Any] = json.loads(encode_record(outcome))
        if not self.store.record_outcome(action_id, stored.status, requested, outcome_json, now):
            raise ProblemError(
                409, "concurrent-change", "The action changed meanwhile", "read it again and retry"
            )
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

        Returns how many were expired; stops at the first batch Kafka does not acknowledge
        (those are tried again on the next sweep).
        """
        now = self.clock()
        expired = 0
        for stored in self.store.unfinished_past_expiry(now):
            action = decode_action(json.dumps(stored.record), now=None, department=self.department)
            outcome = build_expiry(action, now)
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
                break
            outcome_json: dict[str, Any] = json.loads(encode_record(outcome))
            if self.store.record_outcome(
                stored.action_id, stored.status, ActionStatus.EXPIRED, outcome_json, now
            ):
                self.metrics.action_outcomes.labels(outcome=ActionStatus.EXPIRED.value).inc()
                expired += 1
        return expired

    def _sweep_expired(self) -> None:
        while not self._stopping.wait(self.settings.expiry_sweep_interval_s):
            try:
                self.expire_due_actions()
            except Exception:
                logger.exception("expiring actions failed; trying again at the next sweep")

    def refresh_inbox_gauge(self) -> None:
        """Set the inbox gauge from the store (called on every scrape)."""
        for status, count in self.store.count_by_status(self.clock()).items():
            self.metrics.inbox_actions.labels(status=status.value).set(count)
