"""`lifecycle-bench event-cost`: the worker's own code per event, in one process, without Kafka.

The orchestrator pipeline's workload (the simulated company's department events) goes through
the worker's real agents (`IdentityAgent`, `CustomerAgent` with the real core, codec, stored
value, observation and metrics), with dicts for the tables and a producer that hands every
record addressed to the orchestrator's own topics back to the agent that reads it (as Kafka
would). What it leaves out is Kafka and faust: the fetch, the stream iteration, the producer's
batching and sockets, RocksDB and the changelog writes.

Meant for decisions on a shared machine, where wall-clock throughput and process CPU time move
with the load: run it under `valgrind --tool=cachegrind --cache-sim=no` twice, with
`--stop-after-warmup` and without, and divide the difference of the instruction counts by the
events counted. Without valgrind it prints the process CPU time per event (load-sensitive).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle_bench.workload import Workload, build_workload
from lifecycle_schemas.codec import decode_event
from lifecycle_schemas.topics import TOPICS, events_topic_for
from orchestrator.core.effects import OrchestratorTopics
from orchestrator.core.playbook import load_playbook
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.observed import WorkerView
from orchestrator.shredding import NoShredder
from orchestrator.streaming.customer_agent import CustomerAgent
from orchestrator.streaming.identity_agent import IdentityAgent
from orchestrator.streaming.observing import Observation
from orchestrator.streaming.sending import Sender
from orchestrator.streaming.upkeep import SegmentSpend

# faust commits about every 2.8 s: in `make bench`'s orchestrator run (20,000 events of 501
# customers at about 600 events/s) a customer's outputs stay in its outbox for about 3.4 of
# its events. The replay keeps the same: a source offset counts as committed this many
# records per customer after it was read.
COMMIT_LAG_PER_CUSTOMER = 3.4


@dataclass(frozen=True)
class _Source:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class _Event:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    message: _Source


@dataclass(frozen=True)
class _Partition:
    topic: str
    partition: int


class _AllLocal:
    """One worker owning every partition (the bench's single worker)."""

    def is_local(self, key: str) -> bool:
        return True

    @contextmanager
    def on_partition_of(self, key: str) -> Iterator[None]:
        yield


@dataclass
class _LoopbackProducer:
    """Records to the orchestrator's own topics queued for their agents; the others counted."""

    internal: frozenset[str]
    queue: deque[tuple[str, bytes | None, bytes | None, dict[str, bytes]]] = field(
        default_factory=deque
    )
    produced: Counter[str] = field(default_factory=Counter)
    produced_bytes: Counter[str] = field(default_factory=Counter)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[None]:
        self.produced[topic] += 1
        self.produced_bytes[topic] += len(value or b"")
        if topic in self.internal:
            self.queue.append((topic, key, value, dict(headers or [])))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class _App:
    producer: _LoopbackProducer


class InProcessWorker:
    """The worker's agents wired to dicts and a loopback producer."""

    def __init__(self, customers: int, kept_values: int | None = None) -> None:
        self.commit_lag = round(COMMIT_LAG_PER_CUSTOMER * customers)
        self.topics = topics = OrchestratorTopics.in_namespace("")
        playbook = load_playbook()
        self.producer = _LoopbackProducer(frozenset([topics.identity, *topics.customer_topics]))
        app = _App(self.producer)
        metrics = OrchestratorMetrics(playbook.plays)
        sender = Sender(app, metrics, TOPICS.dead_letter.name)
        self.identities: dict[bytes, bytes] = {}
        self.customers = _CountedTable()
        self.offsets: Counter[str] = Counter()
        self.committed: dict[Any, int | None] = {}
        self.identity_agent = IdentityAgent(
            self.identities, sender, NoShredder(), topics, partitions=_AllLocal()
        )
        self.customer_agent = CustomerAgent(
            self.customers,
            sender,
            NoShredder(),
            topics,
            playbook,
            SegmentSpend(),
            Observation(metrics, WorkerView(), playbook),
            lambda: self.committed,
            # None: the worker's default (not named here, so older code can be measured too).
            **({} if kept_values is None else {"kept_values": kept_values}),
        )
        self.consumed: Counter[str] = Counter()

    def _event(
        self, topic: str, key: bytes | None, value: bytes | None, headers: dict[str, bytes]
    ) -> _Event:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        self.consumed[topic] += 1
        self.committed[_Partition(topic, 0)] = max(0, offset - self.commit_lag)
        return _Event(key, value, headers, _Source(topic, 0, offset, key, value))

    async def department_event(self, topic: str, key: bytes, value: bytes) -> None:
        """One department record, and every record it causes on the orchestrator's topics."""
        # The loop turns between records, as a worker's does: callbacks of acknowledged
        # sends (the outbox's acknowledgements) run here.
        await asyncio.sleep(0)
        await self.identity_agent.resolve_department_event(self._event(topic, key, value, {}))
        queue = self.producer.queue
        while queue:
            topic, key_, value_, headers = queue.popleft()
            event = self._event(topic, key_, value_, headers)
            if topic == self.topics.identity:
                await self.identity_agent.settle_identity_message(event)
            else:
                await self.customer_agent.apply_customer_message(event)


def _department_topic(value: bytes) -> str:
    return events_topic_for(decode_event(value, now=None).department).name


class _CountedTable(dict[bytes, bytes]):
    """A table that counts its writes and their bytes (what the changelog would carry)."""

    writes = 0
    written_bytes = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        self.written_bytes += len(value)
        super().__setitem__(key, value)


async def _replay(
    worker: InProcessWorker, records: list[tuple[str, bytes, bytes]], warmup: int, stop: bool
) -> tuple[int, float]:
    for topic, key, value in records[:warmup]:
        await worker.department_event(topic, key, value)
    if stop:
        return 0, 0.0
    started = time.process_time()
    for topic, key, value in records[warmup:]:
        await worker.department_event(topic, key, value)
    return len(records) - warmup, time.process_time() - started


def _workload(count: int, saved: Path | None) -> Workload:
    """The workload, read from ``saved`` if that file exists, else built (and saved there)."""
    if saved is not None and saved.exists():
        return Workload(
            tuple((bytes.fromhex(k), bytes.fromhex(v)) for k, v in json.loads(saved.read_text()))
        )
    workload = build_workload(count)
    if saved is not None:
        saved.write_text(json.dumps([(k.hex(), v.hex()) for k, v in workload.records]))
    return workload


def run_event_cost(
    events: int,
    warmup: int,
    stop_after_warmup: bool,
    saved: Path | None = None,
    kept_values: int | None = None,
) -> dict[str, Any]:
    """Replay ``warmup + events`` workload events through the agents; figures per event.

    ``saved``: a file to keep the workload in between runs (building it is most of a short
    run's start-up: the simulated company)."""
    workload = _workload(warmup + events, saved)
    records = [(_department_topic(value), key, value) for key, value in workload.records]
    worker = InProcessWorker(workload.customers, kept_values)
    counted, cpu_s = asyncio.run(_replay(worker, records, warmup, stop_after_warmup))
    sizes = sorted(len(value) for value in worker.customers.values())
    total = warmup + (0 if stop_after_warmup else events)
    return {
        "events_counted": counted,
        "cpu_ms_per_event": round(1000 * cpu_s / counted, 3) if counted else None,
        "produced_per_event": {
            topic: round(n / total, 3) for topic, n in sorted(worker.producer.produced.items())
        },
        "consumed_per_event": {
            topic: round(n / total, 3) for topic, n in sorted(worker.consumed.items())
        },
        "customers": len(sizes),
        "stored_bytes_median": sizes[len(sizes) // 2] if sizes else 0,
        "stored_bytes_max": sizes[-1] if sizes else 0,
        "customer_writes_per_event": round(worker.customers.writes / max(1, total), 3),
        "stored_bytes_written_per_event": round(worker.customers.written_bytes / max(1, total)),
        "output_bytes_per_event": round(worker.producer.produced_bytes.total() / max(1, total)),
    }
