"""State: memory and disk of a worker holding N customers, and its recovery from the changelog.

On a namespace of its own, one worker starts empty; its resident memory (VmRSS) is read once it
is ready. One won deal per new customer (unique CRM id and e-mail) is then written to the sales
events topic and the worker is timed through it; after the last event its resident memory and
the size of its data directory (RocksDB) are read again. Recovery: the worker is stopped, its data
directory deleted, and a fresh worker started on the same app id; the time from its process start
until `/readyz` answers 200 and until a sample of the customers is served by `/v1/customers/{id}`
(looked up by CRM id, so through both tables) is what a lost disk costs.

Figures are reported per 100,000 customers; a run with fewer customers scales them (memory and
disk linearly, recovery as the empty worker's start-up plus the replay time scaled) and says so.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_bench.orchestrator_run import (
    POLL_S,
    START_TIMEOUT_S,
    OrchestratorWorker,
    directory_bytes,
    remove_data,
    time_backlog,
    wait_until_ready,
)
from lifecycle_bench.workload import NewCustomerEvents, preload_by_topic

PER = 100_000
SAMPLE = 25


def _served(worker: OrchestratorWorker, events: NewCustomerEvents, numbers: list[int]) -> bool:
    return all(
        worker.get_json(f"/v1/customers/crm_account_id:{events.crm_account_id(n)}")[0] == 200
        for n in numbers
    )


def run_state(bootstrap: str, prefix: str, customers: int, timeout_s: float) -> dict[str, Any]:
    """One measurement of memory, disk and recovery for `customers` customers."""
    create_topics(bootstrap, prefix=prefix)
    events = NewCustomerEvents(uuid.uuid4().hex[:10])
    records = events.records(customers, datetime.now(UTC))
    # Not security: a reproducible sample of customers to look up.
    sample = random.Random(customers).sample(range(customers), min(SAMPLE, customers))  # noqa: S311
    with tempfile.TemporaryDirectory(prefix="bench-state-") as directory:
        data_dir = Path(directory) / "data"
        worker = OrchestratorWorker(bootstrap, prefix, data_dir).start()
        try:
            empty_start_s = wait_until_ready([worker], START_TIMEOUT_S)
            rss_at_start = worker.resident_bytes()
            preload_by_topic(bootstrap, {events.topic_spec.name_in(prefix): records})
            throughput = time_backlog("state", [worker], customers, timeout_s)
            applied_at = time.perf_counter()
            # The last identifiers' claims are settled on the identity topic after their events
            # were applied (a backlog of new customers queues them): poll until they are.
            deadline = time.monotonic() + timeout_s
            while not _served(worker, events, sample):
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker does not serve the customers it processed")
                time.sleep(POLL_S)  # polling the API, with a deadline
            settled_s = time.perf_counter() - applied_at
            rss_holding = worker.resident_bytes()
        finally:
            worker.stop()
        disk = directory_bytes(data_dir)
        remove_data(worker)
        fresh = OrchestratorWorker(bootstrap, prefix, data_dir).start()
        try:
            wait_until_ready([fresh], timeout_s)
            ready_s = time.perf_counter() - fresh.started_at
            deadline = time.monotonic() + timeout_s
            while not _served(fresh, events, sample):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the sample was not served within {timeout_s}s")
                time.sleep(POLL_S)  # polling the API, with a deadline
            served_s = time.perf_counter() - fresh.started_at
            rss_recovered = fresh.resident_bytes()
        finally:
            fresh.stop()
        disk_recovered = directory_bytes(data_dir)
    return {
        "customers": customers,
        "events_per_second": round(throughput.records_per_second, 1),
        "worker_cpu_ms_per_event": (
            None
            if throughput.cpu_seconds is None
            else round(1000 * throughput.cpu_seconds / max(1, throughput.records), 3)
        ),
        "settled_after_applied_seconds": round(settled_s, 2),
        "rss_at_start_bytes": rss_at_start,
        "rss_holding_bytes": rss_holding,
        "rss_after_recovery_bytes": rss_recovered,
        "rss_per_customer_bytes": round((rss_holding - rss_at_start) / customers, 1),
        "disk_bytes": disk,
        "disk_after_recovery_bytes": disk_recovered,
        "empty_start_seconds": round(empty_start_s, 2),
        "recovery_ready_seconds": round(ready_s, 2),
        "recovery_served_seconds": round(served_s, 2),
    }


def summarise_state(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per 100,000 customers: median over the repeats with min and max; extrapolated if fewer."""
    customers: int = runs[0]["customers"]
    scale = PER / customers

    def spread(values: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(values), 2),
            "min": round(min(values), 2),
            "max": round(max(values), 2),
        }

    def recovery_per_100k(run: dict[str, Any]) -> float:
        start = float(run["empty_start_seconds"])
        replay = max(0.0, float(run["recovery_served_seconds"]) - start)
        return start + replay * scale

    note = None
    if customers != PER and any(
        run["recovery_served_seconds"] <= run["empty_start_seconds"] for run in runs
    ):
        note = (
            "the replay took less time than the noise in a worker's start-up, so the "
            "recovery extrapolated to 100,000 customers means little: measure with more customers"
        )
    return {
        "customers": customers,
        "extrapolated": customers != PER,
        "repeats": len(runs),
        "rss_bytes_per_customer": spread([run["rss_per_customer_bytes"] for run in runs]),
        "rss_mib_per_100k": spread(
            [(run["rss_holding_bytes"] - run["rss_at_start_bytes"]) * scale / 2**20 for run in runs]
        ),
        "disk_mib_per_100k": spread([run["disk_bytes"] * scale / 2**20 for run in runs]),
        "recovery_seconds_measured": spread([run["recovery_served_seconds"] for run in runs]),
        "recovery_seconds_per_100k": spread([recovery_per_100k(run) for run in runs]),
        "note": note,
        "runs": runs,
    }
