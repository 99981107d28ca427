"""The orchestrator at saturation: one real worker over preloaded department events.

The department events are written to their department topics before the worker starts, so it
meets a full backlog; throughput is timed from the first event it reports processed to the
last (its own `lifecycle_events_processed_total`), which leaves start-up out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

from lifecycle_bench.ceiling import PipelineResult
from lifecycle_bench.workload import Workload, preload_by_topic
from lifecycle_schemas.catalogue import department_of
from lifecycle_schemas.codec import decode_event
from lifecycle_schemas.topics import events_topic_for

_PROCESSED = re.compile(r"^lifecycle_events_processed_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
POLL_S = 0.25


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _processed(metrics_url: str) -> float | None:
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:  # noqa: S310 (local)
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    return sum(float(value) for value in _PROCESSED.findall(text))


def department_topics(workload: Workload, prefix: str) -> dict[str, list[tuple[bytes, bytes]]]:
    """The workload split onto the department topics it arrives on in production."""
    by_topic: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    for key, value in workload.records:
        department = department_of(decode_event(value, now=None).type)
        assert department is not None
        by_topic[events_topic_for(department).name_in(prefix)].append((key, value))
    return dict(by_topic)


def run_orchestrator(
    bootstrap: str, prefix: str, workload: Workload, timeout_s: float
) -> PipelineResult:
    """Preload the department topics, start one worker, time it through the backlog."""
    preload_by_topic(bootstrap, department_topics(workload, prefix))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-orchestrator-") as data_dir:
        environment = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LIFECYCLE_TOPIC_PREFIX": prefix,
            "ORCHESTRATOR_PORT": str(port),
            "ORCHESTRATOR_DATA_DIR": data_dir,
            "ORCHESTRATOR_LOG_LEVEL": "WARNING",
        }
        log_path = Path(data_dir) / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "serve"],
                env=environment, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            return _time_backlog(
                f"http://127.0.0.1:{port}/metrics", len(workload.records), worker, timeout_s
            )
        except RuntimeError as error:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{error}\nworker log:\n{tail}") from error
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _time_backlog(
    metrics_url: str, expected: int, worker: subprocess.Popen[bytes], timeout_s: float
) -> PipelineResult:
    deadline = time.monotonic() + timeout_s
    first_at: float | None = None
    first_count = 0.0
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the orchestrator exited with {worker.returncode}")
        processed = _processed(metrics_url)
        now = time.perf_counter()
        if processed:
            if first_at is None:
                first_at, first_count = now, processed
            if processed >= expected:
                # Timed from the first poll that saw progress: the events before it are left out.
                records = int(processed - first_count)
                return PipelineResult("orchestrator", records, now - first_at)
        time.sleep(POLL_S)  # polling the worker's metrics, with a deadline
    raise RuntimeError(f"the orchestrator did not process {expected} events in {timeout_s}s")
