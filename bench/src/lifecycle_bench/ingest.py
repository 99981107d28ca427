"""Ingest through one department service process: single events at a fixed rate, and batches.

The service runs as its own process against the benchmark's broker; the load comes from a
second process (`python -m lifecycle_bench.ingest --load ...`), an asyncio httpx client, so
the two do not share an event loop or a GIL. Every request must be answered 202: a figure
built on refused requests would be meaningless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.examples import EXAMPLES

EVENT_TYPE = "com.customerlifecycle.marketing.web.page-visited.v1"
BATCH_SIZE = 100
BATCH_CONCURRENCY = 8


REQUEST_DEADLINE_S = 10.0


def _event(run: str, number: int) -> bytes:
    example = EXAMPLES[EVENT_TYPE]
    event_id = stable_id("bench-ingest", run, number)
    record = example.model_copy(
        update={"id": event_id, "correlationid": event_id, "time": datetime.now(UTC)}
    )
    return record.model_dump_json(exclude_none=True).encode()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _single_events(
    url: str, key: str, rate: float, seconds: float, run: str
) -> dict[str, Any]:
    latencies: list[float] = []
    refused = 0
    total = int(rate * seconds)
    async with httpx.AsyncClient(timeout=10) as client:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        async def one(number: int) -> None:
            nonlocal refused
            started = time.perf_counter()
            try:
                # A hard bound per request, waiting for a pooled connection included: a service
                # that falls behind is reported as refusing, not left to stall the benchmark.
                response = await asyncio.wait_for(
                    client.post(url, content=_event(run, number), headers=headers),
                    REQUEST_DEADLINE_S,
                )
                accepted = response.status_code == 202
            except (httpx.HTTPError, TimeoutError):
                accepted = False  # a timeout or a dropped connection counts against the service
            latencies.append(time.perf_counter() - started)
            if not accepted:
                refused += 1

        started = time.perf_counter()
        tasks = []
        for number in range(total):
            # Open-loop pacing: request n leaves at n / rate, whatever the answers do.
            delay = started + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(number)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {
        "offered_requests_per_second": rate,
        "achieved_requests_per_second": round(total / elapsed, 1),
        "requests": total,
        "refused": refused,
        "p50_ms": round(_percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


async def _batches(url: str, key: str, seconds: float, run: str) -> dict[str, Any]:
    latencies: list[float] = []
    refused = 0
    sent = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))
    async with httpx.AsyncClient(timeout=30) as client:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        async def sender() -> None:
            nonlocal refused, sent
            while time.perf_counter() < deadline:
                body = (
                    b"[" + b",".join(_event(run, next(counter)) for _ in range(BATCH_SIZE)) + b"]"
                )
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    accepted = response.status_code == 202
                except httpx.HTTPError:
                    accepted = False
                latencies.append(time.perf_counter() - started)
                if accepted:
                    sent += BATCH_SIZE
                else:
                    refused += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(BATCH_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return {
        "batch_size": BATCH_SIZE,
        "concurrency": BATCH_CONCURRENCY,
        "events_per_second": round(sent / elapsed, 1),
        "requests": len(latencies),
        "refused": refused,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
    }


def _load_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    run = os.urandom(4).hex()
    single = asyncio.run(_single_events(args.url, args.key, args.rate, args.seconds, run))
    batches = asyncio.run(_batches(args.url, args.key, args.seconds, run))
    print(json.dumps({"single_events": single, "batches": batches}))
    return 0


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


def run_ingest(bootstrap: str, prefix: str, rate: float, seconds: float) -> dict[str, Any]:
    """Start the marketing service on the broker and drive it from a second process."""
    from department_kit.api_keys import write_development_keys
    from lifecycle_admin.kafka_admin import create_topics
    from lifecycle_bench.orchestrator_run import free_port

    create_topics(bootstrap, prefix=prefix)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory:
        hashed = write_development_keys(Path(directory) / "keys")
        plain = json.loads((hashed.parent / "department-api-keys.plain.json").read_text())
        key = plain["keys"]["local-marketing"]
        environment = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LIFECYCLE_TOPIC_PREFIX": prefix,
            "MARKETING_PORT": str(port),
            "DEPARTMENT_DATA_DIR": str(Path(directory) / "data"),
            "DEPARTMENT_API_KEYS_FILE": str(hashed),
        }
        service = subprocess.Popen(
            [sys.executable, "-m", "marketing_service.cli", "serve"],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(f"{base}/readyz", service, 60)
            load = subprocess.run(
                [sys.executable, "-m", "lifecycle_bench.ingest", "--url", f"{base}/v1/events",
                 "--key", key, "--rate", str(rate), "--seconds", str(seconds)],
                capture_output=True, text=True, check=False, timeout=seconds * 4 + 120,
            )  # fmt: skip
            if load.returncode != 0:
                raise RuntimeError(f"the ingest load generator failed:\n{load.stderr[-3000:]}")
        finally:
            service.terminate()
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
    result: dict[str, Any] = json.loads(load.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    raise SystemExit(_load_main(sys.argv[1:]))
