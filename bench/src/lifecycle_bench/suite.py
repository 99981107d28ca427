"""One benchmark run: a broker, one preloaded workload, every pipeline repeated, one report."""

from __future__ import annotations

import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifecycle_admin.kafka_admin import create_topics, wait_for_broker
from lifecycle_admin.local_stack import repository_root
from lifecycle_bench.ceiling import TRANSFORMS, PipelineResult, run_passthrough
from lifecycle_bench.contacts import run_contacts
from lifecycle_bench.ingest import run_ingest, stop_process
from lifecycle_bench.latency import run_latency, summarise_latency
from lifecycle_bench.orchestrator_run import run_orchestrator
from lifecycle_bench.peer_protocol import RESULT_PREFIX, PeerSettings
from lifecycle_bench.scale_out import run_workers, summarise_scale_out
from lifecycle_bench.state_size import run_state, summarise_state
from lifecycle_bench.workload import Workload, build_workload, preload
from lifecycle_schemas.topics import TOPICS

PEER_COMMANDS: dict[str, list[str]] = {
    "faust-peer": [
        "-m",
        "lifecycle_bench.faust_peer",
        "worker",
        "-l",
        "warn",
        "--without-web",
    ],
    "quixstreams-peer": ["-m", "lifecycle_bench.quix_peer"],
}
# Per-customer threshold of the peer job: crossed by the busier customers of the workload.
PEER_THRESHOLD = 25


THROUGHPUT_PIPELINES = ("ceiling-json", "ceiling-contracts", "faust-peer", "quixstreams-peer",
                        "orchestrator")  # fmt: skip
# Measurements of their own (not records/s through the shared preloaded topic).
# Hostile HTTP clients the latency is measured under once more (issue 13).
HOSTILE_CLIENTS = 20
OTHER_PIPELINES = ("ingest", "contacts", "latency", "scale-out", "state")
ALL_PIPELINES = THROUGHPUT_PIPELINES + OTHER_PIPELINES


@dataclass(frozen=True)
class BenchOptions:
    records: int = 100_000
    repeats: int = 3
    pipelines: tuple[str, ...] = ALL_PIPELINES
    timeout_s: float = 600.0
    ingest_rate: float = 500.0
    ingest_seconds: float = 10.0
    # Contact requests (issue 16): single requests at this rate, then batches of 1,000.
    contact_rate: float = 200.0
    contact_seconds: float = 10.0
    contact_batches: int = 20
    latency_rates: tuple[float, ...] = (250.0, 1_000.0, 2_500.0)
    latency_seconds: float = 10.0
    # How long outputs are awaited after the offering stops (a backlog is reported, not waited out).
    latency_drain_s: float = 30.0
    scale_out_records: int = 20_000
    state_customers: int = 100_000

    def __post_init__(self) -> None:
        unknown = set(self.pipelines) - set(ALL_PIPELINES)
        if unknown:
            raise ValueError(f"unknown pipelines {sorted(unknown)}; known: {list(ALL_PIPELINES)}")


@dataclass
class Figure:
    """Repeated measurements of one pipeline."""

    pipeline: str
    runs: list[PipelineResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        rates = [run.records_per_second for run in self.runs]
        return {
            "median_records_per_second": round(statistics.median(rates), 1),
            "min_records_per_second": round(min(rates), 1),
            "max_records_per_second": round(max(rates), 1),
            "runs": [
                {"records": r.records, "seconds": round(r.seconds, 3),
                 "records_per_second": round(r.records_per_second, 1),
                 **({} if r.cpu_seconds is None else {
                     "cpu_seconds": round(r.cpu_seconds, 3),
                     "cpu_ms_per_record": round(1000 * r.cpu_seconds / max(1, r.records), 3)})}
                for r in self.runs
            ],
        }  # fmt: skip


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on."""
    memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cores": os.cpu_count(),
        "memory_bytes": memory_bytes,
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work shares this machine: the load averages say how much, when.
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


class BrokerForBench:
    """The benchmark's own broker (or KAFKA_BOOTSTRAP_SERVERS), stopped afterwards."""

    def __init__(self) -> None:
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")

    def __enter__(self) -> BrokerForBench:
        if self.bootstrap:
            wait_for_broker(self.bootstrap, 30)
            return self
        self._directory = tempfile.TemporaryDirectory(prefix="bench-kafka-")
        script = repository_root() / "deploy" / "local" / "kafka"
        started = subprocess.run(
            [str(script), "start", "--free-ports", "--dir", self._directory.name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(f"the benchmark broker did not start:\n{started.stderr}")
        self.bootstrap = started.stdout.strip().splitlines()[-1]
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._directory is not None:
            script = repository_root() / "deploy" / "local" / "kafka"
            subprocess.run([str(script), "stop", "--dir", self._directory.name], check=False)
            self._directory.cleanup()


def run_peer(name: str, settings: PeerSettings, timeout_s: float) -> PipelineResult:
    """Start a peer job in its own process and wait (with a deadline) for its result line."""
    process = subprocess.Popen(
        [sys.executable, *PEER_COMMANDS[name]],
        env={**os.environ, **settings.environment()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)  # the process closed its output

    threading.Thread(target=read_output, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    output: list[str] = []
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                break
            output.append(line)
            # Frameworks may route stdout through their logger: find the marker in the line.
            if RESULT_PREFIX in line:
                result = json.loads(line.split(RESULT_PREFIX, 1)[1].strip())
                return PipelineResult(name, int(result["records"]), float(result["seconds"]))
    finally:
        stop_process(process)
    tail = "".join(output[-30:])
    raise RuntimeError(f"{name} reported no result (exit {process.returncode}):\n{tail}")


def run_suite(options: BenchOptions, output_dir: Path) -> dict[str, Any]:
    """Measure the chosen pipelines, write JSON, markdown and a chart; return the report."""
    from lifecycle_bench.report import write_report

    started_at = datetime.now(UTC)
    throughput = [name for name in options.pipelines if name in THROUGHPUT_PIPELINES]
    workload = build_workload(options.records) if throughput else None
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(),
        "machine": machine_facts(),
        "pipelines": list(options.pipelines),
        "options": {"repeats": options.repeats, "peer_threshold": PEER_THRESHOLD},
    }
    if workload is not None:
        report["workload"] = {
            "records": len(workload.records),
            "customers": workload.customers,
            "bytes": workload.total_bytes,
            "source": "the simulated company's department events, encoded as published",
        }
    # Wall-clock seconds of each measurement, start-ups included (the quick run's budget).
    durations: dict[str, float] = {}
    with BrokerForBench() as broker:
        prefix = f"bench-{uuid.uuid4().hex[:8]}."
        bootstrap = broker.bootstrap
        # Each step returns the report entries it measured.
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "throughput": lambda: run_throughput(bootstrap, prefix, workload, throughput, options),
            "ingest": lambda: {"ingest": run_ingest(bootstrap, f"{prefix}ingest.",
                                                    options.ingest_rate, options.ingest_seconds)},
            "contacts": lambda: {"contacts": run_contacts(bootstrap, f"{prefix}contacts.",
                                                          options.contact_rate,
                                                          options.contact_seconds,
                                                          options.contact_batches)},
            "latency": lambda: {"latency": measure_latency(bootstrap, f"{prefix}latency.", options,
                                                           report.get("figures", {}))},
            "scale-out": lambda: {"scale_out": measure_scale_out(bootstrap, prefix, options)},
            "state": lambda: {"state": measure_state(bootstrap, prefix, options)},
        }  # fmt: skip
        chosen = (["throughput"] if throughput else []) + [
            name for name in OTHER_PIPELINES if name in options.pipelines
        ]
        failures: dict[str, str] = {}
        for name in chosen:
            started = time.perf_counter()
            try:
                report.update(steps[name]())
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                # One measurement that cannot finish (a service that falls behind and never
                # answers) is reported as failed; the others still run and the report is written.
                failures[name] = str(error)[-2000:]
            durations[name] = round(time.perf_counter() - started, 1)
    if failures:
        report["failed"] = failures
    report["durations_seconds"] = durations
    report["machine"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    write_report(report, output_dir, started_at)
    return report


def run_throughput(
    bootstrap: str,
    prefix: str,
    workload: Workload | None,
    pipelines: list[str],
    options: BenchOptions,
) -> dict[str, Any]:
    """Records/s of each pipeline over the same preloaded workload, `repeats` times: the
    report's `figures`, `ratios_to_ceiling` and `preload_seconds`."""
    assert workload is not None
    figures = {name: Figure(name) for name in pipelines}
    create_topics(bootstrap, prefix=prefix)
    if "orchestrator" in pipelines:
        for repeat in range(options.repeats):
            # Created before the preload, so their partition leaders are settled when written.
            create_topics(bootstrap, prefix=f"{prefix}o{repeat}.")
    source = TOPICS.events_by_customer.name_in(prefix)
    sink = TOPICS.decision_log.name_in(prefix)
    preload_seconds = round(preload(bootstrap, source, workload), 3)
    with tempfile.TemporaryDirectory(prefix="bench-state-") as state:
        for repeat in range(options.repeats):
            for name in pipelines:
                group = f"{prefix}{name}-{repeat}"
                if name == "orchestrator":
                    # A namespace of its own: its department topics get the same workload.
                    result = run_orchestrator(bootstrap, f"{prefix}o{repeat}.", workload,
                                              options.timeout_s)  # fmt: skip
                elif name in TRANSFORMS:
                    result = run_passthrough(name, bootstrap, source, sink, group,
                                             len(workload.records), options.timeout_s)  # fmt: skip
                else:
                    settings = PeerSettings(
                        bootstrap=bootstrap, source=source, sink=sink, group_id=group,
                        expected=len(workload.records), threshold=PEER_THRESHOLD,
                        state_dir=str(Path(state) / group),
                    )  # fmt: skip
                    result = run_peer(name, settings, options.timeout_s)
                figures[name].runs.append(result)
                print(f"  {name:<20} run {repeat + 1}: {result.records_per_second:,.0f} records/s",
                      flush=True)  # fmt: skip
    summaries = {name: figure.summary() for name, figure in figures.items()}
    return {
        "figures": summaries,
        "ratios_to_ceiling": ratios(summaries),
        "preload_seconds": preload_seconds,
    }


def measure_latency(
    bootstrap: str, prefix: str, options: BenchOptions, figures: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The fixed rates, plus half of this run's orchestrator saturation when it was measured."""
    labels = {rate: f"{rate:,.0f} events/s" for rate in options.latency_rates}
    note = None
    saturation = figures.get("orchestrator", {}).get("median_records_per_second")
    if saturation:
        half = round(saturation / 2, 1)
        labels.setdefault(half, f"{half:,.0f} events/s (half of {saturation:,.0f}, saturation)")
    else:
        note = "half of saturation skipped: the orchestrator pipeline did not run in this run"
    runs = run_latency(bootstrap, prefix, list(labels), options.latency_seconds,
                       options.repeats, options.latency_drain_s, options.timeout_s)  # fmt: skip
    rates = [summarise_latency(rate, runs[rate], labels[rate]) for rate in sorted(labels)]
    # The lowest rate again, while hostile clients hit the worker's API (issue 13): the HTTP
    # server is off the worker's loop, so the stream should not notice them.
    lowest = min(labels)
    hostile = run_latency(bootstrap, f"{prefix}hostile.", [lowest], options.latency_seconds,
                          options.repeats, options.latency_drain_s, options.timeout_s,
                          hostile=HOSTILE_CLIENTS)  # fmt: skip
    label = f"{labels[lowest]} with {HOSTILE_CLIENTS} hostile HTTP clients"
    summary = summarise_latency(lowest, hostile[lowest], label)
    summary["hostile_answers"] = _merged_counts(r["hostile_answers"] for r in hostile[lowest])
    rates.append(summary)
    return {
        "workload": "one won deal per new customer (sales events topic), time stamped at send",
        "offered_seconds": options.latency_seconds,
        "rates": rates,
        "note": note,
    }


def _merged_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for count in counts:
        for status, n in count.items():
            merged[status] = merged.get(status, 0) + n
    return merged


def measure_state(bootstrap: str, prefix: str, options: BenchOptions) -> dict[str, Any]:
    """Memory, disk and recovery with `state_customers` customers, `repeats` times."""
    runs = [
        run_state(bootstrap, f"{prefix}state{repeat}.", options.state_customers, options.timeout_s)
        for repeat in range(options.repeats)
    ]
    return summarise_state(runs)


def measure_scale_out(bootstrap: str, prefix: str, options: BenchOptions) -> dict[str, Any]:
    """One worker, then two, over the same workload on fresh namespaces, `repeats` times."""
    workload = build_workload(options.scale_out_records)
    one: list[PipelineResult] = []
    two: list[PipelineResult] = []
    for repeat in range(options.repeats):
        for workers, runs in ((1, one), (2, two)):
            namespace = f"{prefix}w{workers}r{repeat}."
            result = run_workers(bootstrap, namespace, workload, workers, options.timeout_s)
            runs.append(result)
            print(f"  {result.pipeline:<20} run {repeat + 1}: "
                  f"{result.records_per_second:,.0f} events/s", flush=True)  # fmt: skip
    summary = summarise_scale_out(one, two)
    summary["workload_records"] = len(workload.records)
    return summary


def ratios(figures: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each pipeline's median as a share of the raw JSON ceiling's median."""
    ceiling = figures.get("ceiling-json", {}).get("median_records_per_second")
    if not ceiling:
        return {}
    return {
        name: round(figure["median_records_per_second"] / ceiling, 3)
        for name, figure in figures.items()
        if name != "ceiling-json"
    }
