"""`make soak`: the local stack under a fixed event rate for a set time; is anything creeping?

Starts the whole stack with `lifecycle-admin run-local --no-simulator` (the `make run`
machinery) on free ports with a state directory of its own, posts department events through
the three department services at a fixed rate (an open-loop HTTP load generator: batches of
contract-valid events for a pool of customers), and every few seconds samples, per service:
client-side request count, errors and latency, the server's request histogram, consumer lag
and resident memory. The report (JSON and markdown, `.cache/soak/<timestamp>.{json,md}`) gives
the error rate, p99 latency, memory growth (MiB/min, first against last minute) and the lag
trend. Not in CI: `make soak` (docs/reliability.md, "Soak").
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifecycle_admin.local_stack import repository_root
from lifecycle_admin.stack import SERVICES, StackService
from lifecycle_schemas.codec import RecordDecodeError, decode_record, encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES

DEPARTMENT_SERVICES = {d.value: d for d in Department}
BATCH_EVENTS = 10
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 90.0
# Flat means: memory grows by less than this per service, and the orchestrator's lag at the end
# is at most this many seconds of traffic above its lag at the start.
FLAT_MEMORY_MIB_PER_MIN = 2.0
FLAT_LAG_SECONDS_OF_TRAFFIC = 5.0


# --- the pure maths of the report (tests/unit/deploy/test_soak_report.py) ----------------


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile``: ``buckets`` are (upper bound, cumulative count).

    Linear interpolation inside the bucket holding the rank; the ``+Inf`` bucket answers
    its lower bound. None when the histogram is empty.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def bucket_increase(
    first: Sequence[tuple[float, float]], last: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The histogram's buckets counted between two scrapes."""
    before = dict(first)
    return [(bound, count - before.get(bound, 0.0)) for bound, count in last]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in [0, 1]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def window_mean(points: Sequence[tuple[float, float]], start: float, end: float) -> float | None:
    """The mean value of the (time, value) points with start <= time <= end."""
    inside = [value for at, value in points if start <= at <= end]
    return sum(inside) / len(inside) if inside else None


def edge_window_s(duration_s: float) -> float:
    """The first/last window compared: a minute, or a third of a shorter run."""
    return min(60.0, duration_s / 3)


def growth_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """How fast the value grows: mean of the last window minus mean of the first, per minute
    between the windows' middles (windows: :func:`edge_window_s` of the sampled span)."""
    if len(points) < 2:
        return None
    start, end = points[0][0], points[-1][0]
    window = edge_window_s(end - start)
    if window <= 0:
        return None
    first = window_mean(points, start, start + window)
    last = window_mean(points, end - window, end)
    minutes = (end - start - window) / 60
    if first is None or last is None or minutes <= 0:
        return None
    return (last - first) / minutes


def linear_slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def error_rate(errors: int, requests: int) -> float:
    """Errors per request (0 when nothing was sent)."""
    return errors / requests if requests else 0.0


# --- Prometheus text and /proc --------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition: (name, labels, value)."""
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        samples.append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return samples


def metric_sum(samples: Iterable[tuple[str, dict[str, str], float]], name: str) -> float:
    return sum(value for sample, _, value in samples if sample == name)


def input_lag(samples: Iterable[tuple[str, dict[str, str], float]]) -> float:
    """``lifecycle_consumer_lag`` summed over input topics: faust's table changelogs are left
    out (read for recovery only, never committed, so their series never drain; B2 in
    docs/reliability.md)."""
    return sum(
        value
        for name, labels, value in samples
        if name == "lifecycle_consumer_lag" and not labels.get("topic", "").endswith("-changelog")
    )


def request_buckets(
    samples: Iterable[tuple[str, dict[str, str], float]],
) -> list[tuple[float, float]]:
    """The request-latency histogram summed over routes: (upper bound, cumulative count)."""
    by_bound: dict[float, float] = {}
    for name, labels, value in samples:
        if name == "lifecycle_http_request_duration_seconds_bucket":
            bound = float(labels["le"])
            by_bound[bound] = by_bound.get(bound, 0.0) + value
    return sorted(by_bound.items())


def resident_mib(pid: int) -> float | None:
    """Resident memory of a process (VmRSS from /proc), MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    """The direct children of a process (from /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# --- load ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def event_templates(department: Department) -> list[dict[str, Any]]:
    """The contract examples of a department's events, as JSON documents (erasure left out:
    it would stop every later action for the customer)."""
    prefix = f"com.customerlifecycle.{department.value.replace('-', '')}."
    return [
        json.loads(encode_record(example))
        for record_type, example in sorted(EXAMPLES.items())
        if record_type.startswith(prefix) and "erasure" not in record_type
    ]


def customer_ref(department: Department, customer: int) -> dict[str, str]:
    """The department's identifiers of pool customer ``customer`` (e-mail shared: one person)."""
    system_id = {
        Department.MARKETING: ("marketing_contact_id", f"soak-hs-{customer}"),
        Department.SALES: ("crm_account_id", f"soak-crm-{customer}"),
        Department.SERVICE_DESK: ("helpdesk_requester_id", f"soak-zd-{customer}"),
    }[department]
    return {system_id[0]: system_id[1], "email": f"soak-{customer}@example.com"}


def fresh_event(template: dict[str, Any], department: Department, customer: int) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(template))
    event_id = str(uuid.uuid4())
    ref = customer_ref(department, customer)
    document.update(id=event_id, correlationid=event_id, time=datetime.now(UTC).isoformat())
    document.pop("causationid", None)
    document["data"]["customer"] = ref
    kind = next(iter(ref))
    document["subject"] = f"{kind}:{ref[kind]}"
    return document


def valid_templates(department: Department) -> list[dict[str, Any]]:
    """The templates whose fresh events the contracts accept now (checked before the run)."""
    kept = []
    for template in event_templates(department):
        try:
            raw = json.dumps(fresh_event(template, department, 0)).encode()
            decode_record(raw, now=datetime.now(UTC))
        except RecordDecodeError:
            continue
        kept.append(template)
    return kept


@dataclass
class ServiceTally:
    """Client-side counts of one service since the last sample."""

    requests: int = 0
    errors: int = 0
    latencies_s: list[float] = field(default_factory=list)
    # Answers by status code, or the exception's class when none came.
    outcomes: dict[str, int] = field(default_factory=dict)


_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class LoadGenerator:
    """Posts batches of events at a fixed rate, round robin over the department services
    (open loop: a slow answer does not slow the schedule; late sends are counted)."""

    def __init__(
        self, urls: dict[Department, str], keys: dict[Department, str], rate: float, customers: int
    ) -> None:
        self.urls = urls
        self.keys = keys
        self.interval_s = BATCH_EVENTS / rate
        self.customers = customers
        self.templates = {d: valid_templates(d) for d in urls}
        self.lock = threading.Lock()
        self.tallies = {d: ServiceTally() for d in urls}
        self.totals = {d: ServiceTally() for d in urls}
        self.late = 0
        self.sent_events = 0
        self.reconnects = 0
        self.measured_since = time.monotonic()
        self._stop = threading.Event()
        self._local = threading.local()

    def reset_totals(self) -> None:
        """Start the run's totals again (after the warm-up)."""
        with self.lock:
            self.totals = {d: ServiceTally() for d in self.urls}
            self.sent_events = 0
            self.late = 0
            self.reconnects = 0
            self.measured_since = time.monotonic()

    def take_tallies(self) -> dict[Department, ServiceTally]:
        with self.lock:
            taken, self.tallies = self.tallies, {d: ServiceTally() for d in self.urls}
            return taken

    def _connection(self, department: Department) -> http.client.HTTPConnection:
        connections: dict[Department, http.client.HTTPConnection] = getattr(
            self._local, "connections", {}
        )
        self._local.connections = connections
        if department not in connections:
            host, port = self.urls[department].removeprefix("http://").split(":")
            connections[department] = http.client.HTTPConnection(host, int(port), timeout=30)
        return connections[department]

    def _post(self, department: Department, sequence: int) -> None:
        templates = self.templates[department]
        body = json.dumps(
            [
                fresh_event(
                    templates[(sequence + i) % len(templates)],
                    department,
                    (sequence * BATCH_EVENTS + i) % self.customers,
                )
                for i in range(BATCH_EVENTS)
            ]
        ).encode()
        headers = {
            "Authorization": f"Bearer {self.keys[department]}",
            "Content-Type": "application/json",
        }
        started = time.perf_counter()
        outcome = "no answer"
        for attempt in (1, 2):
            connection = self._connection(department)
            try:
                connection.request("POST", "/v1/events", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                outcome = str(response.status)
                break
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                outcome = type(error).__name__
                # A kept-alive connection the server closed while idle: send again on a new
                # one (the same event ids, so the service accepts them at most once).
                if attempt == 1 and isinstance(error, _STALE_CONNECTION):
                    with self.lock:
                        self.reconnects += 1
                    continue
                break
        elapsed = time.perf_counter() - started
        ok = outcome == "202"
        with self.lock:
            for tally in (self.tallies[department], self.totals[department]):
                tally.requests += 1
                tally.errors += 0 if ok else 1
                tally.latencies_s.append(elapsed)
                tally.outcomes[outcome] = tally.outcomes.get(outcome, 0) + 1
            self.sent_events += BATCH_EVENTS if ok else 0

    def run(self, duration_s: float) -> None:
        """Send for ``duration_s`` seconds (blocks)."""
        departments = [d for d in self.urls if self.templates[d]]
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="soak-load") as pool:
            started = time.monotonic()
            sequence = 0
            while not self._stop.is_set():
                due = started + sequence * self.interval_s
                if due - started >= duration_s:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)  # the schedule's pace, not a synchronisation
                elif delay < -1.0:
                    self.late += 1
                pool.submit(self._post, departments[sequence % len(departments)], sequence)
                sequence += 1

    def stop(self) -> None:
        self._stop.set()


# --- the stack -----------------------------------------------------------------------------


@dataclass
class Stack:
    """`lifecycle-admin run-local --no-simulator` on free ports with its own state directory."""

    state_dir: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "run-local.log"

    def url(self, service: StackService) -> str:
        return f"http://127.0.0.1:{self.ports[service.name]}"

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"},
            "LIFECYCLE_STATE_DIR": str(self.state_dir),
            # The broker's own directory: a `make run` broker is neither reused nor stopped.
            "KAFKA_LOCAL_DIR": str(self.state_dir / "kafka"),
            "KAFKA_PORT": str(free_port()),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "PROMETHEUS_PORT": str(free_port()),
            **{s.port_env: str(self.ports[s.name]) for s in SERVICES},
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lifecycle_admin", "run-local", "--no-simulator"],
            env=env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=repository_root(),
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "stack ready" not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{self.log_path.read_text()}")
            time.sleep(0.5)
        for service in SERVICES:
            self.wait_ready(service, deadline)

    def wait_ready(self, service: StackService, deadline: float) -> None:
        while True:
            try:
                status, _ = http_get(f"{self.url(service)}/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service.name} not ready:\n{self.log_path.read_text()}")
            time.sleep(0.5)

    def service_pids(self) -> dict[str, int]:
        """The pid of each service (children of the runner, told apart by their module)."""
        pids: dict[str, int] = {}
        if self.process is None:
            return pids
        for child in children_of(self.process.pid):
            line = command_line(child)
            for service in SERVICES:
                if f"-m {service.module} " in f"{line} ":
                    pids[service.name] = child
        broker_pid = self.state_dir / "kafka" / "kafka.pid"
        if broker_pid.exists():
            pids["kafka"] = int(broker_pid.read_text().strip())
        return pids

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # the runner stops everything in order
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def http_get(url: str) -> tuple[int, str]:
    host, _, path = url.removeprefix("http://").partition("/")
    name, port = host.split(":")
    connection = http.client.HTTPConnection(name, int(port), timeout=10)
    try:
        connection.request("GET", "/" + path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def plain_keys(state_dir: Path) -> dict[Department, str]:
    """The development keys run-local wrote (plain file), by department."""
    plain = json.loads((state_dir / "keys" / "department-api-keys.plain.json").read_text())
    return {d: plain["keys"][f"local-{d.value}"] for d in Department}


# --- sampling and the report ---------------------------------------------------------------


@dataclass
class Sample:
    """One look at every service, ``at`` seconds after the load started."""

    at: float
    rss_mib: dict[str, float]
    lag: dict[str, float]
    requests: dict[str, int]
    errors: dict[str, int]
    p99_ms: dict[str, float | None]
    server_p99_ms: dict[str, float | None]


def take_sample(
    stack: Stack,
    load: LoadGenerator,
    at: float,
    previous_buckets: dict[str, list[tuple[float, float]]],
) -> Sample:
    sample = Sample(at, {}, {}, {}, {}, {}, {})
    for name, pid in stack.service_pids().items():
        rss = resident_mib(pid)
        if rss is not None:
            sample.rss_mib[name] = round(rss, 1)
    for service in SERVICES:
        try:
            _, text = http_get(f"{stack.url(service)}/metrics")
        except OSError:
            continue
        samples = parse_metrics(text)
        sample.lag[service.name] = input_lag(samples)
        buckets = request_buckets(samples)
        increase = bucket_increase(previous_buckets.get(service.name, []), buckets)
        p99 = histogram_quantile(0.99, increase)
        sample.server_p99_ms[service.name] = None if p99 is None else round(p99 * 1000, 1)
        previous_buckets[service.name] = buckets
    for department, tally in load.take_tallies().items():
        sample.requests[department.value] = tally.requests
        sample.errors[department.value] = tally.errors
        p99 = percentile(tally.latencies_s, 0.99)
        sample.p99_ms[department.value] = None if p99 is None else round(p99 * 1000, 1)
    return sample


def summarise(
    samples: list[Sample],
    load: LoadGenerator,
    rate: float,
    duration_s: float,
    first_buckets: dict[str, list[tuple[float, float]]],
    last_buckets: dict[str, list[tuple[float, float]]],
) -> dict[str, Any]:
    """The report: per service error rate, p99, memory growth, lag trend; and the verdict."""
    services: dict[str, dict[str, Any]] = {}
    names = sorted({n for s in samples for n in s.rss_mib} | {n for s in samples for n in s.lag})
    for name in names:
        memory = [(s.at, s.rss_mib[name]) for s in samples if name in s.rss_mib]
        lag = [(s.at, s.lag[name]) for s in samples if name in s.lag]
        entry: dict[str, Any] = {
            "rss_first_mib": memory[0][1] if memory else None,
            "rss_last_mib": memory[-1][1] if memory else None,
            "memory_growth_mib_per_min": _round(growth_per_minute(memory)),
        }
        if lag:
            window = edge_window_s(lag[-1][0] - lag[0][0])
            entry.update(
                lag_first_window_mean=_round(window_mean(lag, lag[0][0], lag[0][0] + window)),
                lag_last_window_mean=_round(window_mean(lag, lag[-1][0] - window, lag[-1][0])),
                lag_max=max(v for _, v in lag),
                lag_slope_per_min=_round(linear_slope_per_minute(lag)),
            )
        if name in last_buckets:
            p99 = histogram_quantile(
                0.99, bucket_increase(first_buckets.get(name, []), last_buckets[name])
            )
            entry["server_p99_ms"] = None if p99 is None else round(p99 * 1000, 1)
        department = DEPARTMENT_SERVICES.get(name)
        if department is not None and department in load.totals:
            total = load.totals[department]
            entry.update(
                requests=total.requests,
                errors=total.errors,
                error_rate=round(error_rate(total.errors, total.requests), 5),
                client_p99_ms=_ms(percentile(total.latencies_s, 0.99)),
                client_p50_ms=_ms(percentile(total.latencies_s, 0.5)),
                outcomes=dict(sorted(total.outcomes.items())),
            )
        services[name] = entry
    growths = [
        e["memory_growth_mib_per_min"]
        for n, e in services.items()
        if n != "kafka" and e["memory_growth_mib_per_min"] is not None
    ]
    orchestrator = services.get("orchestrator", {})
    lag_start = orchestrator.get("lag_first_window_mean") or 0.0
    lag_end = orchestrator.get("lag_last_window_mean")
    requests = sum(t.requests for t in load.totals.values())
    errors = sum(t.errors for t in load.totals.values())
    return {
        "target_rate_events_per_s": rate,
        "duration_s": duration_s,
        "events_accepted": load.sent_events,
        "achieved_rate_events_per_s": round(
            load.sent_events / max(time.monotonic() - load.measured_since, 1e-9), 1
        ),
        "late_sends": load.late,
        "reconnects": load.reconnects,
        "requests": requests,
        "error_rate": round(error_rate(errors, requests), 5),
        "memory_flat": bool(growths) and max(growths) < FLAT_MEMORY_MIB_PER_MIN,
        "lag_flat": lag_end is not None
        and lag_end - lag_start <= rate * FLAT_LAG_SECONDS_OF_TRAFFIC,
        "services": services,
        "samples": [asdict(s) for s in samples],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Soak {report['started_at']}",
        "",
        f"- target {report['target_rate_events_per_s']:g} events/s for "
        f"{report['duration_s']:g} s; accepted {report['events_accepted']} events "
        f"({report['achieved_rate_events_per_s']:g}/s), {report['late_sends']} late sends, "
        f"{report['reconnects']} requests sent again on a new connection",
        f"- request error rate {report['error_rate']:.3%} of {report['requests']} requests",
        f"- memory flat: {report['memory_flat']} (every service under "
        f"{FLAT_MEMORY_MIB_PER_MIN} MiB/min; the broker's JVM is reported, not judged); "
        f"lag flat: {report['lag_flat']} (orchestrator lag "
        f"grew by under {FLAT_LAG_SECONDS_OF_TRAFFIC:g} s of traffic)",
        "",
        "| service | requests | error rate | client p50 / p99 ms | server p99 ms "
        "| RSS first → last MiB | growth MiB/min | lag first → last window | lag max "
        "| lag slope /min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in report["services"].items():
        lines.append(
            f"| {name} | {e.get('requests', '')} | {_fmt(e.get('error_rate'), '.3%')} | "
            f"{_fmt(e.get('client_p50_ms'))} / {_fmt(e.get('client_p99_ms'))} | "
            f"{_fmt(e.get('server_p99_ms'))} | {_fmt(e['rss_first_mib'])} → "
            f"{_fmt(e['rss_last_mib'])} | {_fmt(e['memory_growth_mib_per_min'])} | "
            f"{_fmt(e.get('lag_first_window_mean'))} → {_fmt(e.get('lag_last_window_mean'))} | "
            f"{_fmt(e.get('lag_max'))} | {_fmt(e.get('lag_slope_per_min'))} |"
        )
    failures = {
        name: {k: v for k, v in e.get("outcomes", {}).items() if k != "202"}
        for name, e in report["services"].items()
    }
    for name, kinds in failures.items():
        if kinds:
            lines.append(f"- {name}: failed requests by answer: {kinds}")
    return "\n".join(lines) + "\n"


def _fmt(value: Any, spec: str = "g") -> str:
    return "" if value is None else format(value, spec)


def run_soak(
    rate: float,
    duration_s: float,
    interval_s: float,
    customers: int,
    out: Path,
    warmup_s: float = 0.0,
) -> int:
    """Start the stack, load it, sample it, stop it, write the report; 0 when flat.

    The load runs ``warmup_s`` longer than ``duration_s``; samples of the warm-up (caches,
    JIT, first customers) are kept in the report but left out of its figures.
    """
    started_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stack = Stack(out / f"{started_at}-state", {s.name: free_port() for s in SERVICES})
    print(f"soak: starting the stack (state {stack.state_dir})", flush=True)
    try:
        stack.start()
        urls = {
            DEPARTMENT_SERVICES[s.name]: stack.url(s)
            for s in SERVICES
            if s.name in DEPARTMENT_SERVICES
        }
        load = LoadGenerator(urls, plain_keys(stack.state_dir), rate, customers)
        buckets: dict[str, list[tuple[float, float]]] = {}
        take_sample(stack, load, 0.0, buckets)  # the baseline of the server histograms
        first_buckets = dict(buckets)
        print(
            f"soak: {rate:g} events/s for {warmup_s:g} s of warm-up and {duration_s:g} s "
            f"measured, a sample every {interval_s:g} s"
        )
        loader = threading.Thread(target=load.run, args=(warmup_s + duration_s,), name="soak-load")
        begin = time.monotonic()
        loader.start()
        samples: list[Sample] = []
        while loader.is_alive():
            loader.join(interval_s)
            elapsed = time.monotonic() - begin
            sample = take_sample(stack, load, round(elapsed - warmup_s, 1), buckets)
            samples.append(sample)
            if sample.at <= 0:
                first_buckets = dict(buckets)  # the measured part starts here
                load.reset_totals()
            print(
                f"  t={sample.at:6.1f}s lag={sample.lag.get('orchestrator', 0):.0f} "
                f"rss={sample.rss_mib} errors={sum(sample.errors.values())}",
                flush=True,
            )
        measured = [s for s in samples if s.at > 0]
        report = summarise(measured, load, rate, duration_s, first_buckets, buckets)
        report["warmup_s"] = warmup_s
        report["warmup_samples"] = [asdict(s) for s in samples if s.at <= 0]
    finally:
        stack.stop()
        # The broker's log segments are large and of no use after the run; its logs stay.
        shutil.rmtree(stack.state_dir / "kafka" / "data", ignore_errors=True)
    report["started_at"] = started_at
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{started_at}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{started_at}.md").write_text(markdown(report))
    print(markdown(report))
    print(f"soak: report {out / started_at}.{{json,md}}")
    return 0 if report["memory_flat"] and report["lag_flat"] else 1


def main(args: argparse.Namespace) -> int:
    out = args.out or repository_root() / ".cache" / "soak"
    return run_soak(args.rate, args.duration, args.interval, args.customers, out, args.warmup)
