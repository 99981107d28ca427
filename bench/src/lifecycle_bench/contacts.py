"""Contact requests end to end: a department service asking an orchestrator worker.

The marketing service and one worker run as processes of their own on the benchmark's broker;
the load comes from a third process (``python -m lifecycle_bench.contacts --mode ...``), the
lean client of the ingest benchmark. A request counts as answered only when the worker's
verdict came back (a fallback answer, the orchestrator silent, is counted as refused): the
figure is the round trip through Kafka, identity resolution and the customer's worker.
Issue 16's targets: a single request p99 <= 25 ms at 200 requests/s; a batch of 1,000 p99
<= 250 ms.
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
from pathlib import Path
from typing import Any

from lifecycle_bench.ingest import (
    REQUEST_DEADLINE_S,
    _Client,
    _percentile,
    marketing_service,
    open_loop,
)

# Customers the load cycles through (their caps deny some requests: a verdict all the same).
CUSTOMERS = 2_000
BATCH_CUSTOMERS = 1_000
# Before the clock starts: the worker's first decisions pay its warm-up.
WARM_UP_REQUESTS = 50
FALLBACKS = (b'"orchestrator-timeout"', b'"orchestrator-unreachable"')


def _single_body(number: int, run: str) -> bytes:
    customer = f"bench-{run}-{number % CUSTOMERS}@example.com"
    return json.dumps(
        {"customer": {"email": customer}, "channel": "email", "purpose": "promotional"}
    ).encode()


def _batch_body(number: int, run: str) -> bytes:
    customers = [
        {"email": f"bench-{run}-b{number}-{n}@example.com"} for n in range(BATCH_CUSTOMERS)
    ]
    return json.dumps(
        {"customers": customers, "channel": "email", "purpose": "promotional"}
    ).encode()


async def _single(url: str, key: str, rate: float, seconds: float, run: str) -> dict[str, Any]:
    client = _Client(f"{url}/v1/contact-requests", key, connections=100)
    for number in range(WARM_UP_REQUESTS):
        await client.post_for_body(_single_body(number, f"{run}-warm"))
    total = int(rate * seconds)
    bodies = [_single_body(number, run) for number in range(total)]
    latencies: list[float] = []
    refusals: dict[str, int] = {}

    async def one(number: int) -> None:
        started = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(
                client.post_for_body(bodies[number]), REQUEST_DEADLINE_S
            )
            outcome = "fallback" if any(f in body for f in FALLBACKS) else str(status)
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as error:
            outcome = type(error).__name__
        latencies.append(time.perf_counter() - started)
        if outcome != "200":
            refusals[outcome] = refusals.get(outcome, 0) + 1

    elapsed = await open_loop(total, rate, one)
    client.close()
    return {
        "offered_requests_per_second": rate,
        "achieved_requests_per_second": round(total / elapsed, 1),
        "requests": total,
        "refused": sum(refusals.values()),
        "refusals": refusals,
        "p50_ms": round(_percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


async def _batches(url: str, key: str, count: int, run: str) -> dict[str, Any]:
    client = _Client(f"{url}/v1/contact-requests/batch", key, connections=1)
    latencies: list[float] = []
    refusals: dict[str, int] = {}
    for number in range(count):
        body = _batch_body(number, run)
        started = time.perf_counter()
        status, answer = await asyncio.wait_for(client.post_for_body(body), 60)
        latencies.append(time.perf_counter() - started)
        if status != 200 or any(f in answer for f in FALLBACKS):
            outcome = "fallback" if status == 200 else str(status)
            refusals[outcome] = refusals.get(outcome, 0) + 1
    client.close()
    return {
        "customers_per_batch": BATCH_CUSTOMERS,
        "batches": count,
        "refused": sum(refusals.values()),
        "refusals": refusals,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def _load_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--mode", choices=("single", "batches"), required=True)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args(argv)
    run = os.urandom(4).hex()
    if args.mode == "single":
        result = asyncio.run(_single(args.url, args.key, args.rate, args.seconds, run))
    else:
        result = asyncio.run(_batches(args.url, args.key, args.batches, run))
    print(json.dumps(result))
    return 0


def _drive(url: str, key: str, mode: str, rate: float, seconds: float, batches: int) -> Any:
    load = subprocess.run(
        [sys.executable, "-m", "lifecycle_bench.contacts", "--url", url, "--key", key,
         "--mode", mode, "--rate", str(rate), "--seconds", str(seconds),
         "--batches", str(batches)],
        capture_output=True, text=True, check=False, timeout=seconds * 4 + batches * 60 + 120,
    )  # fmt: skip
    if load.returncode != 0:
        raise RuntimeError(f"the contact-request load generator failed:\n{load.stderr[-3000:]}")
    return json.loads(load.stdout.strip().splitlines()[-1])


def run_contacts(
    bootstrap: str, prefix: str, rate: float, seconds: float, batches: int
) -> dict[str, Any]:
    """A worker and the marketing service on the broker, driven from a third process."""
    from lifecycle_admin.kafka_admin import create_topics
    from lifecycle_bench.orchestrator_run import OrchestratorWorker, wait_until_ready

    create_topics(bootstrap, prefix=prefix)
    with tempfile.TemporaryDirectory(prefix="bench-contacts-") as directory:
        worker = OrchestratorWorker(bootstrap, prefix, Path(directory) / "worker").start()
        try:
            # A slow answer is measured, not cut short by the fallback.
            settings = {"DEPARTMENT_CONTACT_TIMEOUT_S": "10"}
            with marketing_service(bootstrap, prefix, Path(directory), settings) as (_, base, key):
                wait_until_ready([worker], 120)
                return {
                    "single": _drive(base, key, "single", rate, seconds, 0),
                    "batches": _drive(base, key, "batches", rate, 0, batches),
                }
        finally:
            worker.stop()


if __name__ == "__main__":
    raise SystemExit(_load_main(sys.argv[1:]))
