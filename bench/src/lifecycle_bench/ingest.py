"""Ingest through one department service process: single events at a fixed rate, and batches.

The service runs as its own process against the benchmark's broker; the load comes from a
second process (`python -m lifecycle_bench.ingest --mode ...`), a lean asyncio HTTP client, so
the two do not share an event loop or a GIL. Every request must be answered 202: a figure
built on refused requests would be meaningless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.examples import EXAMPLES

EVENT_TYPE = "com.customerlifecycle.marketing.web.page-visited.v1"
BATCH_SIZE = 100
BATCH_CONCURRENCY = 8
# Connections of the single-event load (httpx's default pool size, used before).
SINGLE_CONNECTIONS = 100
# An idle connection older than this is not reused (well inside uvicorn's 5 s keep-alive).
KEEP_ALIVE_REUSE_S = 2.0


REQUEST_DEADLINE_S = 10.0


_ID_MARK = "00000000-0000-4000-8000-00000000beef"


def _event_template() -> bytes:
    """The example event, stamped now, with a mark where each copy's id goes."""
    example = EXAMPLES[EVENT_TYPE]
    record = example.model_copy(
        update={"id": _ID_MARK, "correlationid": _ID_MARK, "time": datetime.now(UTC)}
    )
    return record.model_dump_json(exclude_none=True).encode()


def _event(template: bytes, run: str, number: int) -> bytes:
    # A byte replace, not a model dump per event: the generator's CPU is the service's too.
    return template.replace(_ID_MARK.encode(), stable_id("bench-ingest", run, number).encode())


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class _Client:
    """A lean HTTP/1.1 keep-alive client: a pool of up to ``connections`` connections.

    httpx spent about 2.7 ms of CPU per request, more than the service it drove, and the two
    share 2 cores here: at 300-500 requests/s the load generator, not the service, set the
    knee (docs/benchmarks.md, "Ingest"). This writes a prepared request and reads the status,
    the headers and a Content-Length or chunked body; nothing else.
    """

    def __init__(self, url: str, key: str, connections: int) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 80
        self._head = (
            f"POST {parsed.path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        ).encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(connections)

    async def post(self, body: bytes) -> int:
        """POST ``body``; the status code. A failed or cancelled request drops its connection."""
        status, _ = await self.post_for_body(body)
        return status

    async def post_for_body(self, body: bytes) -> tuple[int, bytes]:
        """POST ``body``; the status code and the answer's body."""
        async with self._slots:
            reader, writer = await self._connection()
            try:
                writer.write(self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                answer = await self._response(reader)
            except BaseException:
                writer.close()
                raise
            self._idle.append((reader, writer, time.monotonic()))
            return answer

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer, last_used = self._idle.pop()
            # The server closes a connection idle for its keep-alive timeout (uvicorn: 5 s); a
            # request sent as it does so would be lost and counted against the service.
            if time.monotonic() - last_used < KEEP_ALIVE_REUSE_S:
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self._host, self._port)

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("the service closed the connection")
        status = int(status_line.split()[1])
        length = 0
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if not chunked:
            return status, await reader.readexactly(length)
        chunks: list[bytes] = []
        while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
            chunks.append((await reader.readexactly(size + 2))[:-2])
        await reader.readline()  # the empty trailer
        return status, b"".join(chunks)

    def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()


async def open_loop(
    total: int, rate: float, one: Callable[[int], Coroutine[Any, Any, None]]
) -> float:
    """Run ``one(0)`` .. ``one(total - 1)``, request n leaving at n / rate whatever the answers
    do (open-loop pacing); the seconds from the first request's start to the last answer."""
    started = time.perf_counter()
    tasks = []
    for number in range(total):
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(number)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


async def _single_events(
    url: str, key: str, rate: float, seconds: float, run: str
) -> dict[str, Any]:
    latencies: list[float] = []
    refused = 0
    # What each refused request got: a status code or the exception's class.
    refusals: dict[str, int] = {}
    total = int(rate * seconds)
    # Built before the clock starts: the offering should cost the generator little CPU.
    template = _event_template()
    bodies = [_event(template, run, number) for number in range(total)]
    client = _Client(url, key, connections=SINGLE_CONNECTIONS)

    async def one(number: int) -> None:
        nonlocal refused
        started = time.perf_counter()
        try:
            # A hard bound per request, waiting for a pooled connection included: a service
            # that falls behind is reported as refusing, not left to stall the benchmark.
            status = await asyncio.wait_for(client.post(bodies[number]), REQUEST_DEADLINE_S)
            outcome = str(status)
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as error:
            outcome = type(error).__name__  # a timeout or a dropped connection counts too
        latencies.append(time.perf_counter() - started)
        if outcome != "202":
            refused += 1
            refusals[outcome] = refusals.get(outcome, 0) + 1

    elapsed = await open_loop(total, rate, one)
    client.close()
    return {
        "offered_requests_per_second": rate,
        "achieved_requests_per_second": round(total / elapsed, 1),
        "requests": total,
        "refused": refused,
        "refusals": refusals,
        "p50_ms": round(_percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


async def _batches(url: str, key: str, seconds: float, run: str) -> dict[str, Any]:
    latencies: list[float] = []
    refused = 0
    # What each refused request got: a status code or the exception's class.
    refusals: dict[str, int] = {}
    sent = 0
    counter = iter(range(10**9))
    client = _Client(url, key, connections=BATCH_CONCURRENCY)
    template = _event_template()
    deadline = time.perf_counter() + seconds

    async def sender() -> None:
        nonlocal refused, sent
        while time.perf_counter() < deadline:
            body = (
                b"["
                + b",".join(_event(template, run, next(counter)) for _ in range(BATCH_SIZE))
                + b"]"
            )
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(client.post(body), 30)
                outcome = str(status)
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as error:
                outcome = type(error).__name__
            latencies.append(time.perf_counter() - started)
            if outcome == "202":
                sent += BATCH_SIZE
            else:
                refused += 1
                refusals[outcome] = refusals.get(outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(BATCH_CONCURRENCY)))
    elapsed = time.perf_counter() - started
    client.close()
    return {
        "batch_size": BATCH_SIZE,
        "concurrency": BATCH_CONCURRENCY,
        "events_per_second": round(sent / elapsed, 1),
        "requests": len(latencies),
        "refused": refused,
        "refusals": refusals,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
    }


def _load_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--mode", choices=("single", "batches"), required=True)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    run = os.urandom(4).hex()
    if args.mode == "single":
        result = asyncio.run(_single_events(args.url, args.key, args.rate, args.seconds, run))
    else:
        result = asyncio.run(_batches(args.url, args.key, args.seconds, run))
    print(json.dumps(result))
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime field 14 and stime field 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drive(
    service: subprocess.Popen[bytes], url: str, key: str, mode: str, rate: float, seconds: float
) -> dict[str, Any]:
    """One load in its own process; the service's CPU time over it, per request and per event."""
    before = cpu_seconds(service.pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = subprocess.run(
        [sys.executable, "-m", "lifecycle_bench.ingest", "--url", url, "--key", key,
         "--mode", mode, "--rate", str(rate), "--seconds", str(seconds)],
        capture_output=True, text=True, check=False, timeout=seconds * 4 + 120,
    )  # fmt: skip
    used = cpu_seconds(service.pid) - before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The load generator shares the cores: when it is busy, so is the figure's bottleneck.
    generator = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    if load.returncode != 0:
        raise RuntimeError(f"the ingest load generator failed:\n{load.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(load.stdout.strip().splitlines()[-1])
    events = result["requests"] * (BATCH_SIZE if mode == "batches" else 1)
    result["service_cpu_seconds"] = round(used, 2)
    result["service_cpu_ms_per_request"] = round(1000 * used / max(1, result["requests"]), 3)
    result["service_cpu_ms_per_event"] = round(1000 * used / max(1, events), 3)
    result["load_generator_cpu_seconds"] = round(generator, 2)
    return result


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the department service exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local)
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # polling readiness, with a deadline
    raise RuntimeError("the department service did not become ready")


@contextmanager
def marketing_service(
    bootstrap: str, prefix: str, directory: Path, settings: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """The marketing service as a process of its own on the broker, ready: the process, its
    base URL and the plain development key of local-marketing; stopped on leaving."""
    from lifecycle_bench.orchestrator_run import free_port
    from service_kit.api_keys import write_development_keys

    port = free_port()
    hashed = write_development_keys(directory / "keys")
    plain = json.loads((hashed.parent / "department-api-keys.plain.json").read_text())
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LIFECYCLE_TOPIC_PREFIX": prefix,
        "MARKETING_PORT": str(port),
        "DEPARTMENT_DATA_DIR": str(directory / "data"),
        "LIFECYCLE_API_KEYS_FILE": str(hashed),
        # The bench measures throughput: one key sends far past a department's limit.
        "DEPARTMENT_RATE_LIMIT": "1000000/second",
        **settings,
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "marketing_service.cli", "serve"],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/readyz", service, 60)
        yield service, base, plain["keys"]["local-marketing"]
    finally:
        stop_process(service)


def stop_process(process: subprocess.Popen[Any], grace_s: float = 30.0) -> None:
    """SIGTERM, and SIGKILL when it has not exited after ``grace_s``."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()


def run_ingest(bootstrap: str, prefix: str, rate: float, seconds: float) -> dict[str, Any]:
    """Start the marketing service on the broker and drive it from a second process."""
    from lifecycle_admin.kafka_admin import create_topics

    create_topics(bootstrap, prefix=prefix)
    with (
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory,
        marketing_service(bootstrap, prefix, Path(directory), {}) as (service, base, key),
    ):
        url = f"{base}/v1/events"
        return {
            "single_events": _drive(service, url, key, "single", rate, seconds),
            "batches": _drive(service, url, key, "batches", rate, seconds),
        }


if __name__ == "__main__":
    raise SystemExit(_load_main(sys.argv[1:]))
