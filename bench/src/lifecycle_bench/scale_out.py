"""Scale-out: one versus two orchestrator workers sharing one app id over the same topics.

Each configuration gets its own topic namespace (8 partitions per topic, as the registry says).
The workers start on an empty namespace (same `LIFECYCLE_TOPIC_PREFIX`, so the same faust app id
and consumer group; different ports and data directories); once every worker answers `/readyz`
and the broker reports the group Stable with every worker assigned partitions, the workload is
written to the department topics and timed through by summing the workers'
`lifecycle_events_processed_total`, from the first progress seen to the last event. Writing the
backlog after the group settles keeps the second worker's join (a rebalance) out of the timing.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_bench.ceiling import PipelineResult
from lifecycle_bench.orchestrator_run import (
    START_TIMEOUT_S,
    OrchestratorWorker,
    department_topics,
    time_backlog,
    wait_for_stable_group,
    wait_until_ready,
)
from lifecycle_bench.workload import Workload, preload_by_topic
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import events_topic_for

# Below this many cores, two workers plus the broker (and the benchmark) share too few cores for
# the ratio to show what a second worker adds.
FAIR_CORES = 4


def run_workers(
    bootstrap: str, prefix: str, workload: Workload, workers: int, timeout_s: float
) -> PipelineResult:
    """Start `workers` workers on a fresh namespace, then time them through the workload."""
    create_topics(bootstrap, prefix=prefix)
    records = department_topics(workload, prefix)
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as directory:
        started = [
            OrchestratorWorker(bootstrap, prefix, Path(directory) / f"data-{n}").start()
            for n in range(workers)
        ]
        try:
            wait_until_ready(started, START_TIMEOUT_S)
            wait_for_stable_group(bootstrap, started[0].app_id, workers, START_TIMEOUT_S)
            wait_until_ready(started, START_TIMEOUT_S)  # ready again after the last rebalance
            preload_by_topic(bootstrap, records)
            name = f"orchestrator-{workers}-worker{'s' if workers > 1 else ''}"
            return time_backlog(name, started, len(workload.records), timeout_s)
        finally:
            for worker in started:
                worker.stop()


def fairness_note(cores: int) -> str | None:
    """Why the ratio understates scale-out on this machine (None when the cores allow it)."""
    if cores >= FAIR_CORES:
        return None
    return (
        f"not a fair test: {cores} cores shared by two workers, the broker and the benchmark "
        "itself; the ratio says what a second worker adds here, not how far the design scales "
        "on cores of its own"
    )


def summarise_scale_out(one: list[PipelineResult], two: list[PipelineResult]) -> dict[str, Any]:
    """Median throughput of each configuration, the spread, and the ratio two / one."""
    cores = os.cpu_count() or 1

    def figures(runs: list[PipelineResult]) -> dict[str, Any]:
        rates = [run.records_per_second for run in runs]
        return {
            "median_events_per_second": round(statistics.median(rates), 1),
            "min_events_per_second": round(min(rates), 1),
            "max_events_per_second": round(max(rates), 1),
            "runs": [
                {"events": r.records, "seconds": round(r.seconds, 3),
                 "events_per_second": round(r.records_per_second, 1)}
                for r in runs
            ],
        }  # fmt: skip

    ratios = [
        b.records_per_second / a.records_per_second
        for a, b in zip(one, two, strict=True)
        if a.records_per_second > 0
    ]
    return {
        "partitions": events_topic_for(Department.SALES).partitions,
        "cores": cores,
        "one_worker": figures(one),
        "two_workers": figures(two),
        "ratio": round(
            statistics.median(r.records_per_second for r in two)
            / statistics.median(r.records_per_second for r in one),
            3,
        ),
        "ratio_per_repeat": [round(r, 3) for r in ratios],
        "fair": fairness_note(cores) is None,
        "note": fairness_note(cores),
    }
