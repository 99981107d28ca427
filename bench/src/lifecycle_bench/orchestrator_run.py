"""Real orchestrator workers (`python -m orchestrator.cli serve`) for the benchmark.

The worker is a black box: started as it is in production, read through its `/readyz`,
`/metrics` and `/v1/customers/{id}`, its process's `/proc/<pid>/status` and its data directory.

The saturation pipeline writes the department events to their topics before the worker starts,
so it meets a full backlog; throughput is timed from the first event it reports processed to
the last (its own `lifecycle_events_processed_total`), which leaves start-up out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from lifecycle_bench.ceiling import PipelineResult
from lifecycle_bench.workload import Workload, preload_by_topic
from lifecycle_schemas.catalogue import department_of
from lifecycle_schemas.codec import decode_event
from lifecycle_schemas.topics import events_topic_for
from service_kit.api_keys import hash_key, new_key

_PROCESSED = re.compile(r"^lifecycle_events_processed_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
POLL_S = 0.25
START_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_status(url: str, timeout_s: float = 5.0) -> int | None:
    """The HTTP status of a GET (None when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (local)
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def processed_events(metrics_url: str) -> float | None:
    """The worker's `lifecycle_events_processed_total` over all labels (None if unreachable)."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:  # noqa: S310 (local)
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    return sum(float(value) for value in _PROCESSED.findall(text))


def directory_bytes(path: Path) -> int:
    """Bytes of every file under `path` (RocksDB's SST files, WAL and logs)."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


class OrchestratorWorker:
    """One worker process on a topic namespace, with its own port and data directory."""

    def __init__(self, bootstrap: str, prefix: str, data_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir.parent / f"{data_dir.name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.api_key = new_key()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app_id(self) -> str:
        """The worker's faust app id: its consumer group (as orchestrator.settings names it)."""
        return f"{self.prefix}lifecycle-orchestrator"

    def start(self) -> OrchestratorWorker:
        """Start the process (without waiting for it to be ready)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environment = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "LIFECYCLE_TOPIC_PREFIX": self.prefix,
            "ORCHESTRATOR_PORT": str(self.port),
            "ORCHESTRATOR_DATA_DIR": str(self.data_dir),
            "ORCHESTRATOR_LOG_LEVEL": "WARNING",
            # The bench's own reader key, and no rate limit worth the name (it polls freely).
            "LIFECYCLE_API_KEYS": json.dumps(
                {
                    "keys": [
                        {
                            "id": "bench",
                            "scopes": ["customers:read", "reports:read"],
                            "sha256": hash_key(self.api_key),
                        }
                    ]
                }
            ),
            "ORCHESTRATOR_RATE_LIMIT": "100000/second",
        }
        self.started_at = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "serve"],
                env=environment, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def check_running(self) -> None:
        """Raise with the tail of the worker's log if its process has exited."""
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise RuntimeError(f"the orchestrator exited with {code}:\n{self.log_tail()}")

    def ready(self) -> bool:
        """`/readyz` answers 200 (its tables are recovered)."""
        self.check_running()
        return http_status(f"{self.url}/readyz", timeout_s=2) == 200

    def processed(self) -> float | None:
        return processed_events(f"{self.url}/metrics")

    def get_json(self, path: str) -> tuple[int | None, Any]:
        """GET a path of its API: (status, JSON body or None)."""
        try:
            request = urllib.request.Request(  # noqa: S310 (a local URL)
                f"{self.url}{path}", headers={"Authorization": f"Bearer {self.api_key}"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, None
        except (urllib.error.URLError, OSError, ValueError):
            return None, None

    def resident_bytes(self) -> int:
        """The process's resident memory now (VmRSS of /proc/<pid>/status)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
        if match is None:
            raise RuntimeError("no VmRSS in /proc/<pid>/status")
        return int(match.group(1)) * 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (utime + stime of /proc/<pid>/stat)."""
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        # Fields after the command (which may hold spaces) start after its closing parenthesis.
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (a graceful stop: faust flushes and commits), killed after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def wait_until_ready(workers: Sequence[OrchestratorWorker], timeout_s: float) -> float:
    """Poll every worker's `/readyz` until all answer 200; return the seconds it took."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(worker.ready() for worker in workers):
            return time.perf_counter() - started
        time.sleep(POLL_S)  # polling readiness, with a deadline
    tails = "\n".join(worker.log_tail() for worker in workers)
    raise RuntimeError(f"the orchestrator was not ready within {timeout_s}s:\n{tails}")


def wait_for_stable_group(bootstrap: str, group: str, members: int, timeout_s: float) -> None:
    """Poll the broker until the worker group is Stable with `members` members, each assigned."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="lifecycle-bench")
    deadline = time.monotonic() + timeout_s
    description: Any = None
    try:
        while time.monotonic() < deadline:
            description = admin.describe_groups([group]).get(group, {})
            assigned = [m for m in description.get("members", []) if m.get("member_assignment")]
            if description.get("group_state") == "Stable" and len(assigned) == members:
                return
            time.sleep(POLL_S)  # polling the group's state, with a deadline
    finally:
        admin.close()
    raise RuntimeError(f"group {group} not stable with {members} members: {description!r}")


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
    with tempfile.TemporaryDirectory(prefix="bench-orchestrator-") as directory:
        worker = OrchestratorWorker(bootstrap, prefix, Path(directory) / "data").start()
        try:
            return time_backlog("orchestrator", [worker], len(workload.records), timeout_s)
        finally:
            worker.stop()


def time_backlog(
    name: str, workers: Sequence[OrchestratorWorker], expected: int, timeout_s: float
) -> PipelineResult:
    """Poll the workers' summed processed counters until `expected`; time first to last."""
    deadline = time.monotonic() + timeout_s
    first_at: float | None = None
    first_count = 0.0
    first_cpu = 0.0
    processed = 0.0
    while time.monotonic() < deadline:
        for worker in workers:
            worker.check_running()
        counts = [worker.processed() for worker in workers]
        processed = sum(count or 0.0 for count in counts)
        now = time.perf_counter()
        if processed:
            cpu = sum(worker.cpu_seconds() for worker in workers)
            if first_at is None:
                first_at, first_count, first_cpu = now, processed, cpu
            if processed >= expected:
                # Timed from the first poll that saw progress: the events before it are left out.
                return PipelineResult(
                    name, int(processed - first_count), now - first_at, cpu - first_cpu
                )
        time.sleep(POLL_S)  # polling the workers' metrics, with a deadline
    tails = "\n".join(worker.log_tail() for worker in workers)
    raise RuntimeError(
        f"{name}: {processed:.0f} of {expected} events processed in {timeout_s}s\n{tails}"
    )


def remove_data(worker: OrchestratorWorker) -> None:
    """Delete a stopped worker's data directory (its RocksDB state)."""
    shutil.rmtree(worker.data_dir, ignore_errors=True)
