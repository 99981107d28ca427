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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifecycle_admin.kafka_admin import create_topics, wait_for_broker
from lifecycle_admin.local_stack import repository_root
from lifecycle_bench.ceiling import TRANSFORMS, PipelineResult, run_passthrough
from lifecycle_bench.ingest import run_ingest
from lifecycle_bench.orchestrator_run import run_orchestrator
from lifecycle_bench.peer_protocol import RESULT_PREFIX, PeerSettings
from lifecycle_bench.workload import build_workload, preload
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


@dataclass(frozen=True)
class BenchOptions:
    records: int = 100_000
    repeats: int = 3
    pipelines: tuple[str, ...] = ("ceiling-json", "ceiling-contracts", "faust-peer",
                                  "quixstreams-peer", "orchestrator")  # fmt: skip
    timeout_s: float = 600.0
    ingest_rate: float = 500.0
    ingest_seconds: float = 10.0


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
                 "records_per_second": round(r.records_per_second, 1)}
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
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    tail = "".join(output[-30:])
    raise RuntimeError(f"{name} reported no result (exit {process.returncode}):\n{tail}")


def run_suite(options: BenchOptions, output_dir: Path) -> dict[str, Any]:
    """Measure every pipeline, write JSON, markdown and a chart; return the report."""
    from lifecycle_bench.report import write_report

    started_at = datetime.now(UTC)
    workload = build_workload(options.records)
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(),
        "machine": machine_facts(),
        "workload": {
            "records": len(workload.records),
            "customers": workload.customers,
            "bytes": workload.total_bytes,
            "source": "the simulated company's department events, encoded as published",
        },
        "options": {"repeats": options.repeats, "peer_threshold": PEER_THRESHOLD},
    }
    figures = {name: Figure(name) for name in options.pipelines}
    with BrokerForBench() as broker, tempfile.TemporaryDirectory(prefix="bench-state-") as state:
        prefix = f"bench-{uuid.uuid4().hex[:8]}."
        create_topics(broker.bootstrap, prefix=prefix)
        create_topics(broker.bootstrap, prefix=f"{prefix}ingest.")
        for repeat in range(options.repeats):
            if "orchestrator" in options.pipelines:
                create_topics(broker.bootstrap, prefix=f"{prefix}o{repeat}.")
        source = TOPICS.events_by_customer.name_in(prefix)
        sink = TOPICS.decision_log.name_in(prefix)
        report["preload_seconds"] = round(preload(broker.bootstrap, source, workload), 3)
        for repeat in range(options.repeats):
            for name in options.pipelines:
                group = f"{prefix}{name}-{repeat}"
                if name == "orchestrator":
                    # A namespace of its own: its department topics get the same workload.
                    result = run_orchestrator(broker.bootstrap, f"{prefix}o{repeat}.",
                                              workload, options.timeout_s)  # fmt: skip
                elif name in TRANSFORMS:
                    result = run_passthrough(name, broker.bootstrap, source, sink, group,
                                             len(workload.records), options.timeout_s)  # fmt: skip
                else:
                    settings = PeerSettings(
                        bootstrap=broker.bootstrap, source=source, sink=sink, group_id=group,
                        expected=len(workload.records), threshold=PEER_THRESHOLD,
                        state_dir=str(Path(state) / group),
                    )  # fmt: skip
                    result = run_peer(name, settings, options.timeout_s)
                figures[name].runs.append(result)
                print(f"  {name:<20} run {repeat + 1}: {result.records_per_second:,.0f} records/s",
                      flush=True)  # fmt: skip
        if options.ingest_seconds > 0:
            report["ingest"] = run_ingest(broker.bootstrap, f"{prefix}ingest.",
                                          options.ingest_rate, options.ingest_seconds)  # fmt: skip
    report["figures"] = {name: figure.summary() for name, figure in figures.items()}
    report["ratios_to_ceiling"] = ratios(report["figures"])
    report["not_yet_measured"] = [
        "event-to-action latency at fixed offered rates",
        "one versus two orchestrator workers",
        "resident memory and RocksDB disk per 100,000 customers; recovery time",
    ]
    write_report(report, output_dir, started_at)
    return report


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
