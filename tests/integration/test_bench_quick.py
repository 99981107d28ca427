"""Given the session broker, a short benchmark run measures every pipeline and writes its report.

Correctness only: the figures are reported, never asserted against targets here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle_bench.cli import QUICK, main
from lifecycle_bench.suite import ALL_PIPELINES, THROUGHPUT_PIPELINES, BenchOptions, run_suite
from lifecycle_testing.kafka import KafkaBroker


# About 2-4 minutes (every pipeline starts its own processes); past the suite's 300 s at load 20.
@pytest.mark.timeout(900)
def test_a_quick_benchmark_measures_every_pipeline_and_writes_json_markdown_and_chart(
    kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    # Contact requests are left to make bench: a worker and a service more to start.
    pipelines = tuple(name for name in ALL_PIPELINES if name != "contacts")
    options = BenchOptions(
        pipelines=pipelines,
        records=1500, repeats=1, timeout_s=120.0, ingest_rate=50.0, ingest_seconds=1.0,
        latency_rates=(20.0,), latency_seconds=1.0, latency_drain_s=60.0,
        scale_out_records=300, state_customers=200,
    )  # fmt: skip
    report = run_suite(options, tmp_path)
    assert set(report["figures"]) == set(THROUGHPUT_PIPELINES)
    for name, figure in report["figures"].items():
        if name == "orchestrator":
            # Timed from the first progress it reports: a few events may land before that.
            assert 0 < figure["runs"][0]["records"] <= 1500
        else:
            assert figure["runs"][0]["records"] == 1500
        assert figure["median_records_per_second"] > 0
    assert report["machine"]["cores"] >= 1
    assert len(report["machine"]["load_average_at_end"]) == 3
    single, batches = report["ingest"]["single_events"], report["ingest"]["batches"]
    assert single["requests"] == 50
    assert single["p99_ms"] >= single["p50_ms"] > 0
    assert batches["events_per_second"] > 0
    assert set(report["ratios_to_ceiling"]) == set(THROUGHPUT_PIPELINES) - {"ceiling-json"}

    # Latency: the fixed rate and half of this run's orchestrator saturation, every event
    # answered (a won deal of a new customer always gets a decision-log record).
    half = round(report["figures"]["orchestrator"]["median_records_per_second"] / 2, 1)
    rates = {rate["offered_events_per_second"]: rate for rate in report["latency"]["rates"]}
    assert set(rates) == {20.0, half}
    for rate in rates.values():
        run = rate["runs"][0]
        assert run["events"] == int(rate["offered_events_per_second"] * 1.0)
        assert rate["events_with_an_output"] == rate["events"]
        assert 0 < rate["events_with_an_action"] <= rate["events"]
        assert rate["timestamp_types"] == ["CreateTime"]
        action = rate["event_to_action"]
        assert action["max_ms"] >= action["p99_ms"] >= action["p95_ms"] >= action["p50_ms"] > 0
    assert report["latency"]["note"] is None

    scale = report["scale_out"]
    for workers in ("one_worker", "two_workers"):
        assert 0 < scale[workers]["runs"][0]["events"] <= 300
    assert scale["ratio"] > 0
    assert scale["partitions"] == 8
    assert scale["fair"] is (scale["cores"] >= 4)

    state = report["state"]
    measured = state["runs"][0]
    assert state["customers"] == 200
    assert state["extrapolated"]
    assert measured["rss_holding_bytes"] > 0
    assert measured["disk_bytes"] > 0
    assert measured["recovery_served_seconds"] >= measured["recovery_ready_seconds"] > 0
    assert measured["disk_after_recovery_bytes"] > 0  # rebuilt from the changelog

    written = sorted(path.suffix for path in tmp_path.iterdir())
    assert written == [".json", ".md", ".png"]
    stored = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert stored["workload"]["records"] == 1500
    summary = next(tmp_path.glob("*.md")).read_text()
    for heading in ("| faust-peer |", "Event-to-action latency", "Scale-out", "State per 100,000"):
        assert heading in summary


def test_pipelines_chooses_what_one_run_measures(
    kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    assert main(["run", "--quick", "--pipelines", "ceiling-json,latency",
                 "--latency-rates", "20", "--latency-seconds", "1",
                 "--records", "500", "--output", str(tmp_path)]) == 0  # fmt: skip
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert report["pipelines"] == ["ceiling-json", "latency"]
    assert set(report["figures"]) == {"ceiling-json"}
    assert not {"ingest", "scale_out", "state"} & set(report)
    # Without the orchestrator's saturation in this run, half of it is skipped, with a note.
    # The one fixed rate, then the same rate again while hostile HTTP clients hit the worker.
    rates = report["latency"]["rates"]
    assert [rate["offered_events_per_second"] for rate in rates] == [20.0, 20.0]
    assert "hostile_answers" not in rates[0]
    assert "hostile HTTP clients" in rates[1]["label"]
    assert rates[1]["hostile_answers"]
    assert "skipped" in report["latency"]["note"]
    assert QUICK.latency_rates == (100.0,)


def test_unknown_pipelines_are_refused() -> None:
    with pytest.raises(SystemExit):
        main(["run", "--pipelines", "ceiling-json,warp-drive"])
    with pytest.raises(ValueError, match="warp-drive"):
        BenchOptions(pipelines=("warp-drive",))
