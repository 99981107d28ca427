"""Given the session broker, a short benchmark run measures every pipeline and writes its report.

Correctness only: the figures are reported, never asserted against targets here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle_bench.suite import BenchOptions, run_suite
from lifecycle_testing.kafka import KafkaBroker


def test_a_quick_benchmark_measures_every_pipeline_and_writes_json_markdown_and_chart(
    kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    options = BenchOptions(
        records=1500, repeats=1, timeout_s=120.0, ingest_rate=50.0, ingest_seconds=1.0
    )
    report = run_suite(options, tmp_path)
    assert set(report["figures"]) == set(options.pipelines)
    for name, figure in report["figures"].items():
        if name == "orchestrator":
            # Timed from the first progress it reports: a few events may land before that.
            assert 0 < figure["runs"][0]["records"] <= 1500
        else:
            assert figure["runs"][0]["records"] == 1500
        assert figure["median_records_per_second"] > 0
    assert report["machine"]["cores"] >= 1
    single, batches = report["ingest"]["single_events"], report["ingest"]["batches"]
    assert single["requests"] == 50
    assert single["p99_ms"] >= single["p50_ms"] > 0
    assert batches["events_per_second"] > 0
    assert set(report["ratios_to_ceiling"]) == set(options.pipelines) - {"ceiling-json"}
    written = sorted(path.suffix for path in tmp_path.iterdir())
    assert written == [".json", ".md", ".png"]
    stored = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert stored["workload"]["records"] == 1500
    assert "| faust-peer |" in next(tmp_path.glob("*.md")).read_text()
