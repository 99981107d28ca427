"""Event-to-action latency at fixed offered rates, through one real orchestrator worker.

A second process (`python -m lifecycle_bench.latency ...`) offers won deals of new customers
open-loop at a fixed rate onto the sales events topic (acks=all), stamping each CloudEvent's
`time` just before it hands the record to the producer, and reads the action topics and the
decision log. An output is matched to its event by its `causationid` (the orchestrator sets it to
the triggering event's id); its latency is the output record's broker timestamp minus the
event's `time`. The topics keep the producer's timestamp (CreateTime, the broker default; the
type seen is reported), which aiokafka stamps when the worker hands the record to its producer.

A worker that cannot keep up with a rate builds a backlog, and the latency then measures the
queue, not the worker: each run reports the rate it achieved and the backlog left when the
offering stopped, and is flagged `kept_up: false`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_bench.hostile import hostile_clients
from lifecycle_bench.orchestrator_run import (
    POLL_S,
    START_TIMEOUT_S,
    OrchestratorWorker,
    processed_events,
    wait_until_ready,
)
from lifecycle_bench.workload import NewCustomerEvents
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import TOPICS, actions_topic_for

# Offering ticks: every tick sends what is due by then (open loop, whatever the worker does).
TICK_S = 0.005
# A worker "keeps up" when, as the offering stops, its backlog is under this many seconds of it.
KEPT_UP_BACKLOG_S = 1.0
WARM_UP_RATE = 50.0
WARM_UP_SECONDS = 1.0
TIMESTAMP_TYPES = {0: "CreateTime", 1: "LogAppendTime"}


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latency_summary(latencies_ms: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max in milliseconds (None when nothing was measured)."""
    if not latencies_ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(percentile(latencies_ms, 0.50), 1),
        "p95_ms": round(percentile(latencies_ms, 0.95), 1),
        "p99_ms": round(percentile(latencies_ms, 0.99), 1),
        "max_ms": round(max(latencies_ms), 1),
    }


@dataclass
class Offering:
    """What one offered run sent and what came back for it."""

    sent_ms: dict[str, float] = field(default_factory=dict)
    first_action_ms: dict[str, float] = field(default_factory=dict)
    decision_ms: dict[str, float] = field(default_factory=dict)
    timestamp_types: set[str] = field(default_factory=set)

    def note_output(self, topic_is_decision_log: bool, value: bytes, timestamp_ms: int) -> None:
        cause = json.loads(value).get("causationid")
        sent = self.sent_ms.get(cause) if isinstance(cause, str) else None
        if sent is None:
            return  # not one of this run's events (a warm-up's, a deadline check's)
        latency = timestamp_ms - sent
        if topic_is_decision_log:
            self.decision_ms.setdefault(cause, latency)
        else:
            # The first action the event produced: an event may win several.
            self.first_action_ms[cause] = min(latency, self.first_action_ms.get(cause, latency))

    def answered(self) -> int:
        return len(self.decision_ms.keys() | self.first_action_ms.keys())


async def _offer(
    bootstrap: str,
    prefix: str,
    metrics_url: str,
    rate: float,
    seconds: float,
    drain_s: float,
    run_tag: str,
) -> dict[str, Any]:
    events = NewCustomerEvents(run_tag)
    source = events.topic_spec.name_in(prefix)
    decision_log = TOPICS.decision_log.name_in(prefix)
    output_specs = [actions_topic_for(d) for d in Department] + [TOPICS.decision_log]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await consumer.start()
    await producer.start()
    offering = Offering()
    try:
        partitions = [
            TopicPartition(spec.name_in(prefix), p)
            for spec in output_specs
            for p in range(spec.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)  # resolved now: older outputs are skipped
        stop_consuming = asyncio.Event()

        async def consume() -> None:
            while not stop_consuming.is_set():
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                for tp, records in batches.items():
                    for record in records:
                        offering.timestamp_types.add(
                            TIMESTAMP_TYPES.get(record.timestamp_type, "unknown")
                        )
                        offering.note_output(
                            tp.topic == decision_log, record.value or b"{}", record.timestamp
                        )

        consuming = asyncio.create_task(consume())
        processed_before = await asyncio.to_thread(processed_events, metrics_url) or 0.0
        total = int(rate * seconds)
        acks: list[asyncio.Future[Any]] = []
        started = time.perf_counter()
        while len(acks) < total:
            due = min(total, int((time.perf_counter() - started) * rate) + 1)
            while len(acks) < due:
                number = len(acks)
                stamped = datetime.now(UTC)
                key, value = events.record(number, stamped)
                offering.sent_ms[events.event_id(number)] = stamped.timestamp() * 1000
                acks.append(await producer.send(source, key=key, value=value))
            await asyncio.sleep(TICK_S)  # pacing the open-loop offering
        offered_s = time.perf_counter() - started
        processed_at_end = await asyncio.to_thread(processed_events, metrics_url) or 0.0
        await asyncio.gather(*acks)
        drain_deadline = time.monotonic() + drain_s
        while offering.answered() < total and time.monotonic() < drain_deadline:
            await asyncio.sleep(0.05)  # polling the outputs consumed, with a deadline
        drained_s = time.perf_counter() - started - offered_s
        stop_consuming.set()
        await consuming
    finally:
        await producer.stop()
        await consumer.stop()
    processed = processed_at_end - processed_before
    backlog = max(0, total - int(processed))
    return {
        "offered_events_per_second": rate,
        "offered_seconds": round(offered_s, 2),
        "events": total,
        "achieved_events_per_second": round(processed / offered_s, 1),
        "backlog_when_offering_stopped": backlog,
        "kept_up": backlog <= rate * KEPT_UP_BACKLOG_S and offering.answered() == total,
        "events_with_an_output": offering.answered(),
        "events_with_an_action": len(offering.first_action_ms),
        "drain_seconds": round(drained_s, 2),
        "timestamp_types": sorted(offering.timestamp_types),
        "event_to_action": latency_summary(list(offering.first_action_ms.values())),
        "event_to_decision_log": latency_summary(list(offering.decision_ms.values())),
    }


def _offer_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--metrics-url", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--drain-seconds", type=float, required=True)
    parser.add_argument("--run-tag", required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(
        _offer(args.bootstrap, args.prefix, args.metrics_url, args.rate, args.seconds,
               args.drain_seconds, args.run_tag)
    )  # fmt: skip
    print(json.dumps(result))
    return 0


def offer(
    worker: OrchestratorWorker, rate: float, seconds: float, drain_s: float
) -> dict[str, Any]:
    """Offer `rate` events/s for `seconds` from a second process; its measured result."""
    load = subprocess.run(
        [sys.executable, "-m", "lifecycle_bench.latency", "--bootstrap", worker.bootstrap,
         "--prefix", worker.prefix, "--metrics-url", f"{worker.url}/metrics",
         "--rate", str(rate), "--seconds", str(seconds), "--drain-seconds", str(drain_s),
         "--run-tag", uuid.uuid4().hex[:10]],
        capture_output=True, text=True, check=False, timeout=seconds + drain_s + 120,
    )  # fmt: skip
    if load.returncode != 0:
        raise RuntimeError(f"the latency load generator failed:\n{load.stderr[-3000:]}")
    worker.check_running()
    result: dict[str, Any] = json.loads(load.stdout.strip().splitlines()[-1])
    return result


def wait_for_processed(worker: OrchestratorWorker, events: int, timeout_s: float) -> None:
    """Poll the worker's processed counter until it has applied `events` events."""
    deadline = time.monotonic() + timeout_s
    while (worker.processed() or 0.0) < events:
        worker.check_running()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not work off its backlog within {timeout_s}s")
        time.sleep(POLL_S)  # polling the worker's metrics, with a deadline


def run_latency(
    bootstrap: str,
    prefix: str,
    rates: list[float],
    seconds: float,
    repeats: int,
    drain_s: float,
    timeout_s: float,
    hostile: int = 0,
) -> dict[float, list[dict[str, Any]]]:
    """One worker on its own namespace; every rate offered `repeats` times, lowest first;
    with `hostile` > 0, that many hostile HTTP clients hit the worker's API meanwhile
    (lifecycle_bench.hostile; their answers by status go into each run's result)."""
    create_topics(bootstrap, prefix=prefix)
    runs: dict[float, list[dict[str, Any]]] = {rate: [] for rate in rates}
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as directory:
        worker = OrchestratorWorker(bootstrap, prefix, Path(directory) / "data").start()
        try:
            wait_until_ready([worker], START_TIMEOUT_S)
            # Warm-up, not reported: the first events meet cold caches and fresh connections.
            offered = offer(worker, WARM_UP_RATE, WARM_UP_SECONDS, drain_s)["events"]
            for _ in range(repeats):
                for rate in sorted(rates):
                    # A rate the worker fell behind on leaves a backlog: let it finish first, or
                    # the next rate would measure the queue it left.
                    wait_for_processed(worker, offered, timeout_s)
                    with hostile_clients(worker.url, hostile) as answers:
                        result = offer(worker, rate, seconds, drain_s)
                    if hostile:
                        result["hostile_clients"] = hostile
                        result["hostile_answers"] = {str(k): n for k, n in answers.items()}
                    offered += result["events"]
                    runs[rate].append(result)
                    action = result["event_to_action"]
                    print(f"  latency at {rate:,.0f}/s: p99 {action['p99_ms']} ms, "
                          f"achieved {result['achieved_events_per_second']:,.0f}/s, "
                          f"kept up: {result['kept_up']}", flush=True)  # fmt: skip
        finally:
            worker.stop()
    return runs


def summarise_latency(rate: float, runs: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """Median over the repeats of each percentile, with min and max, for one offered rate."""
    summary: dict[str, Any] = {
        "offered_events_per_second": rate,
        "label": label,
        "repeats": len(runs),
        "kept_up": all(run["kept_up"] for run in runs),
        "median_achieved_events_per_second": statistics.median(
            run["achieved_events_per_second"] for run in runs
        ),
        "max_backlog_when_offering_stopped": max(
            run["backlog_when_offering_stopped"] for run in runs
        ),
        "events": sum(run["events"] for run in runs),
        "events_with_an_output": sum(run["events_with_an_output"] for run in runs),
        "events_with_an_action": sum(run["events_with_an_action"] for run in runs),
        "timestamp_types": sorted({t for run in runs for t in run["timestamp_types"]}),
        "runs": runs,
    }
    for output in ("event_to_action", "event_to_decision_log"):
        figures: dict[str, Any] = {}
        for name in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            values = [run[output][name] for run in runs if run[output][name] is not None]
            figures[name] = round(statistics.median(values), 1) if values else None
            figures[f"{name}_min"] = min(values) if values else None
            figures[f"{name}_max"] = max(values) if values else None
        summary[output] = figures
    return summary


if __name__ == "__main__":
    raise SystemExit(_offer_main(sys.argv[1:]))
