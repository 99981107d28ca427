"""The one module that owns the Kafka clients: the publisher and the action consumer.

The publisher (librdkafka, through confluent-kafka) waits for the broker's acknowledgement
(``acks=all``, idempotent producer) of every record with a deadline before the caller may
answer 202; anything else is :class:`BrokerUnavailableError`. The consumer (kafka-python)
runs in its own thread with auto-commit off and commits a batch's offsets only after the
handler stored every record of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError as ConsumerError
from kafka.partitioner.default import murmur2

from lifecycle_schemas.codec import KAFKA_HEADERS
from service_kit.kafka_security import KafkaSecurity

logger = logging.getLogger(__name__)

# How often the consumer measures its lag (one ListOffsets request per assigned partition set).
LAG_INTERVAL_S = 5.0
# How long the group waits for a silent member before giving its partitions away. kafka-python's
# default (45 s) kept a service restarted after a crash unready, and its actions unread, that
# long (docs/reliability.md, F5); heartbeats go every 3 s.
CRASHED_MEMBER_SESSION_TIMEOUT_MS = 10_000
# Longest pause between reconnection attempts to a broker that went away. kafka-python's default
# (30 s; the Java client's is 1 s) left the service unready and its actions unread for up to
# half a minute after the broker was back (docs/reliability.md, F7).
RECONNECT_BACKOFF_MAX_MS = 1_000
# Longest wait of the producer's delivery-report thread while nothing is due (it stops then).
POLL_INTERVAL_S = 0.2
# How often a publish waiting for its acknowledgements looks whether every broker went away.
BROKERS_DOWN_CHECK_S = 0.1


class BrokerUnavailableError(Exception):
    """Kafka did not acknowledge in time (unreachable, or the ack timed out)."""


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: str | bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = KAFKA_HEADERS
    # Chooses the partition instead of the key (same hash as the default partitioner): a sealed
    # event keyed by a pseudonym stays on its plain subject's partition, where the
    # orchestrator's identity resolution for that identifier lives.
    partition_key: bytes | None = None


@dataclass(frozen=True)
class Delivery:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class _Acknowledgements:
    """What the broker answered for the records of one ``publish`` call.

    Filled in by librdkafka's delivery reports, all served on one producer's poll thread.
    """

    __slots__ = ("deliveries", "done", "error", "pending")

    def __init__(self, size: int) -> None:
        self.deliveries: list[Delivery | None] = [None] * size
        self.pending = size
        self.error: str | None = None
        self.done = threading.Event()

    def report(self, index: int, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.error = self.error or error.name()
            self.done.set()  # all or nothing: the first failure answers the whole call
        else:
            self.deliveries[index] = Delivery(
                message.topic(), message.partition(), message.offset()
            )
        self.pending -= 1
        if self.pending == 0:
            self.done.set()


class _PolledProducer:
    """A librdkafka producer and the thread that serves its delivery reports."""

    def __init__(self, config: dict[str, Any]) -> None:
        # Set when librdkafka reports every broker unreachable: a publish then answers 503 at
        # once instead of holding its request for the whole deadline (clients retry sooner).
        self.all_brokers_down = threading.Event()
        self.producer = Producer({**config, "error_cb": self._on_error})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kafka-delivery", daemon=True)
        self._thread.start()

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.all_brokers_down.set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            # Blocks (without the GIL) until a report is due; returns at once when one is.
            self.producer.poll(POLL_INTERVAL_S)

    def close(self, timeout_s: float) -> int:
        """Stop serving, then flush; how many records were still undelivered."""
        self._stop.set()
        self._thread.join(timeout_s)
        undelivered: int = self.producer.flush(timeout_s)
        return undelivered


class KafkaPublisher:
    """Publishes records and waits for the broker's acknowledgement, with a deadline.

    The producer is librdkafka's (confluent-kafka): kafka-python's pure-Python ``send`` path
    was about a third of a department service's ingest CPU (docs/benchmarks.md, "Ingest").
    """

    def __init__(
        self,
        bootstrap_servers: str,
        timeout_s: float,
        client_id: str,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._timeout_s = timeout_s
        self._client_id = client_id
        self._security = security.librdkafka_config() if security is not None else {}
        # Built now, not on the first publish: librdkafka connects and takes its idempotent
        # producer id in the background (half a second), before the service is ready.
        self._producer: _PolledProducer | None = _PolledProducer(self._config())
        self._partitions: dict[str, int] = {}
        self._lock = threading.Lock()
        self.reachable = False

    def _config(self) -> dict[str, Any]:
        timeout_ms = int(self._timeout_s * 1000)
        return {
            **self._security,
            "bootstrap.servers": self._bootstrap,
            "client.id": self._client_id,
            "acks": "all",
            "enable.idempotence": True,
            # The Java clients', kafka-python's and aiokafka's key hash (librdkafka's default is
            # CRC32): a key keeps the partition the other clients and the orchestrator expect.
            "partitioner": "murmur2_random",
            # Bounded: a record not acknowledged by then is failed, never kept forever.
            "request.timeout.ms": timeout_ms,
            "message.timeout.ms": timeout_ms * 3,
            "linger.ms": 5,
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
            "logger": logger,
            # The broker closes idle connections (10 min); not worth an error line each time.
            "log.connection.close": False,
        }

    def _ensure_producer(self) -> _PolledProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = _PolledProducer(self._config())
                except KafkaException as error:
                    self.reachable = False
                    raise BrokerUnavailableError(_error_name(error)) from None
            return self._producer

    def publish(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        """Send ``records`` and wait for every acknowledgement; all or an exception."""
        polled = self._ensure_producer()
        if polled.all_brokers_down.is_set():
            self._fail(polled)
            raise BrokerUnavailableError("AllBrokersDown")
        deadline = time.monotonic() + self._timeout_s
        acknowledgements = _Acknowledgements(len(records))
        try:
            for index, record in enumerate(records):
                partition = self._partition_of(polled.producer, record, deadline)
                polled.producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    partition=-1 if partition is None else partition,
                    on_delivery=partial(acknowledgements.report, index),
                )
        except (KafkaException, BufferError, BrokerUnavailableError) as error:
            self._fail(polled)
            raise BrokerUnavailableError(_error_name(error)) from None
        while records and not acknowledgements.done.wait(
            min(BROKERS_DOWN_CHECK_S, max(0.0, deadline - time.monotonic()))
        ):
            if polled.all_brokers_down.is_set():
                self._fail(polled)
                raise BrokerUnavailableError("AllBrokersDown")
            if time.monotonic() >= deadline:
                self._fail(polled)
                raise BrokerUnavailableError("KafkaTimeoutError")
        if acknowledgements.error is not None:
            self._fail(polled)
            raise BrokerUnavailableError(acknowledgements.error)
        self.reachable = True
        return [delivery for delivery in acknowledgements.deliveries if delivery is not None]

    def _partition_of(
        self, producer: Producer, record: OutgoingRecord, deadline: float
    ) -> int | None:
        """The partition the key partitioner would pick for ``record.partition_key``."""
        if record.partition_key is None:
            return None
        count = self._partitions.get(record.topic)
        if count is None:
            count = self._partition_count(producer, record.topic, deadline)
            self._partitions[record.topic] = count
        hashed: int = murmur2(record.partition_key)
        return (hashed & 0x7FFFFFFF) % count

    @staticmethod
    def _partition_count(producer: Producer, topic: str, deadline: float) -> int:
        timeout_s = max(0.001, deadline - time.monotonic())
        metadata = producer.list_topics(topic, timeout=timeout_s)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise BrokerUnavailableError("UnknownTopicOrPartition")
        return len(found.partitions)

    def _fail(self, polled: _PolledProducer) -> None:
        """Drop a producer that failed to deliver; the next publish builds a fresh one.

        An idempotent producer whose batches expired during an outage kept failing for tens
        of seconds once the broker was back (docs/reliability.md, F6). What it still buffers
        was already answered 503; a client retry under the same id is safe.
        """
        self.reachable = False
        with self._lock:
            if self._producer is not polled:
                return  # another request replaced it already
            self._producer = None
        # Closed aside: its leftover records fail within the delivery timeout, then it stops.
        threading.Thread(
            target=self._close_quietly, args=(polled, self._timeout_s * 3), daemon=True
        ).start()

    @staticmethod
    def _close_quietly(polled: _PolledProducer, timeout_s: float) -> None:
        if polled.close(timeout_s):
            logger.info("a discarded producer closed with records undelivered")

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is buffered and close the producer."""
        with self._lock:
            if self._producer is not None:
                if self._producer.close(timeout_s):
                    logger.warning("producer flush did not finish before shutdown")
                self._producer = None


# librdkafka's errors for a broker that refused us: no retry can help (wrong credentials, a
# certificate not trusted).
_REFUSED = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})


def broker_refusal(bootstrap_servers: str, security: KafkaSecurity, timeout_s: float) -> str | None:
    """Why the brokers refuse these settings (credentials, certificate), found by a quiet
    probe before the service starts. None once a broker answered metadata, once every broker
    is reported unreachable, or after ``timeout_s``: unreachable is no refusal (the service
    then starts unready and retries)."""
    refusals: list[str] = []
    unreachable = threading.Event()

    def on_error(error: KafkaError) -> None:
        if error.code() in _REFUSED or "certificate verify failed" in error.str():
            refusals.append(error.str())
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            unreachable.set()

    probe = Producer(
        {
            **security.librdkafka_config(),
            "bootstrap.servers": bootstrap_servers,
            "client.id": "lifecycle-startup-check",
            "error_cb": on_error,
            # Silent: the one line the caller prints says what went wrong.
            "log_level": 0,
        }
    )
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                probe.list_topics(timeout=0.2)
                return None
            except KafkaException:
                probe.poll(0)  # serves the error callbacks, in the order they came
            if refusals:
                return refusals[0]
            if unreachable.is_set():
                return None
        return None
    finally:
        probe.flush(0)


def _error_name(error: Exception) -> str:
    """The metric reason of a failed publish: librdkafka's error name, else the class."""
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        name: str = error.args[0].name()
        return name
    if isinstance(error, BrokerUnavailableError):
        return str(error)
    return type(error).__name__


class TopicTail:
    """Reads a topic from its end in a thread; hands every record to ``on_record``.

    No consumer group: every process of a department service sees every record (a shredded
    key's tombstone, the answer to a contact request it waits for). ``watching`` is set once
    the end positions are resolved: a record written after that is seen.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        client_id: str,
        on_record: Callable[[IncomingRecord], None],
        security: KafkaSecurity | None = None,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._security = security.python_client_config() if security is not None else {}
        self._topic = topic
        self._client_id = client_id
        self._on_record = on_record
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{topic}", daemon=True)
        self.watching = False

    def start(self) -> None:
        """Start watching in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _assigned(self) -> KafkaConsumer | None:
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                **self._security,
                enable_auto_commit=False,
                bootstrap_timeout_ms=5000,
                request_timeout_ms=10000,
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            )
            partitions = consumer.partitions_for_topic(self._topic) or set()
            if not partitions:
                consumer.close()
                return None
            assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            consumer.seek_to_end(*assigned)
            for partition in assigned:
                consumer.position(partition)  # resolves the end now, not at the first poll
        except (ConsumerError, OSError) as error:
            logger.warning(
                "cannot reach Kafka to watch a topic",
                extra={"topic": self._topic, "error_class": type(error).__name__},
            )
            return None
        return consumer

    def _run(self) -> None:
        consumer: KafkaConsumer | None = None
        while not self._stop.is_set():
            if consumer is None:
                consumer = self._assigned()
                if consumer is None:
                    self._stop.wait(2.0)
                    continue
                self.watching = True
            try:
                for messages in consumer.poll(timeout_ms=500).values():
                    for message in messages:
                        self._on_record(
                            IncomingRecord(
                                message.topic,
                                message.partition,
                                message.offset,
                                message.key,
                                message.value,
                            )
                        )
            except ConsumerError as error:
                logger.warning(
                    "topic watcher error",
                    extra={"topic": self._topic, "error_class": type(error).__name__},
                )
                self._stop.wait(1.0)
        if consumer is not None:
            consumer.close(autocommit=False)
        self.watching = False


class KeyTombstoneWatcher(TopicTail):
    """Reads the subject-keys topic from its end; reports every tombstone's key, so no process
    keeps sealing with a key the orchestrator shredded (lifecycle_schemas.shredding)."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        client_id: str,
        on_tombstone: Callable[[str], None],
        security: KafkaSecurity | None = None,
    ) -> None:
        def tombstones(record: IncomingRecord) -> None:
            if record.value is None and record.key is not None:
                on_tombstone(record.key.decode("utf-8", "replace"))

        super().__init__(bootstrap_servers, topic, client_id, tombstones, security)


class ActionConsumer:
    """Reads one topic in a background thread; commits after ``handle`` returned for a batch.

    ``handle`` must store the record durably (or dead-letter it) before returning; if it
    raises, the batch is not committed and the record is read again after a pause.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        client_id: str,
        handle: Callable[[IncomingRecord], None],
        on_lag: Callable[[str, int, int], None],
        on_reachable: Callable[[bool], None],
        pause_before_commit_s: float = 0.0,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._security = security.python_client_config() if security is not None else {}
        self._pause_before_commit_s = pause_before_commit_s
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._group_id = group_id
        self._client_id = client_id
        self._handle = handle
        self._on_lag = on_lag
        self._on_reachable = on_reachable
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"consume-{topic}", daemon=True)
        self.assigned = False

    def start(self) -> None:
        """Start consuming in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop after the batch in hand (already committed) and leave the group."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _connect(self) -> KafkaConsumer | None:
        try:
            consumer = KafkaConsumer(
                self._topic,
                bootstrap_servers=self._bootstrap,
                group_id=self._group_id,
                client_id=self._client_id,
                **self._security,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                bootstrap_timeout_ms=5000,
                request_timeout_ms=10000,
                session_timeout_ms=CRASHED_MEMBER_SESSION_TIMEOUT_MS,
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            )
        except (ConsumerError, OSError) as error:
            logger.warning(
                "cannot reach Kafka to consume actions", extra={"error_class": type(error).__name__}
            )
            self._on_reachable(False)
            return None
        self._on_reachable(True)
        return consumer

    def _run(self) -> None:
        consumer: KafkaConsumer | None = None
        next_lag_at = 0.0
        while not self._stop.is_set():
            if consumer is None:
                consumer = self._connect()
                if consumer is None:
                    self._stop.wait(2.0)
                    continue
            try:
                batch = consumer.poll(timeout_ms=500, max_records=200)
                self.assigned = bool(consumer.assignment())
                if batch and not self._handle_batch(consumer, batch):
                    self._stop.wait(1.0)
                    continue
                if time.monotonic() >= next_lag_at:
                    next_lag_at = time.monotonic() + LAG_INTERVAL_S
                    self._report_lag(consumer)
            except ConsumerError as error:
                logger.warning("action consumer error", extra={"error_class": type(error).__name__})
                self._on_reachable(False)
                self._stop.wait(1.0)
        if consumer is not None:
            # Offsets were committed after each stored batch; nothing else to commit.
            consumer.close(autocommit=False)
        self.assigned = False

    def _handle_batch(
        self, consumer: KafkaConsumer, batch: dict[TopicPartition, list[Any]]
    ) -> bool:
        for messages in batch.values():
            for message in messages:
                record = IncomingRecord(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                )
                try:
                    self._handle(record)
                except Exception:
                    logger.exception("storing an action failed; the batch will be read again")
                    # Nothing of this batch is committed: rewind every partition of it. Records
                    # already stored are stored again as no-ops (the inbox is keyed by action id).
                    for rewound, rewound_messages in batch.items():
                        consumer.seek(rewound, rewound_messages[0].offset)
                    return False
        if self._pause_before_commit_s:
            # The test-only fault switch (LIFECYCLE_FAULT_PAUSE_BEFORE_COMMIT_S): stored, not
            # committed, for long enough to be killed here.
            logger.warning("fault switch: pausing before the commit of a stored batch")
            self._stop.wait(self._pause_before_commit_s)
        consumer.commit()
        return True

    def _report_lag(self, consumer: KafkaConsumer) -> None:
        partitions = list(consumer.assignment())
        if not partitions:
            return
        try:
            ends = consumer.end_offsets(partitions)
        except ConsumerError:
            self._on_reachable(False)
            return
        self._on_reachable(True)
        for partition in partitions:
            position = consumer.position(partition)
            self._on_lag(partition.topic, partition.partition, max(0, ends[partition] - position))
