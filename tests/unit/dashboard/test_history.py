"""The dashboard's last hour: the sample ring, rates over a real window, merged workers,
histogram quantiles, and one sample read from a Prometheus registry."""

from __future__ import annotations

import asyncio
import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from orchestrator.core import history
from orchestrator.flow_history import Sampler, flow_sample, history_report


def test_the_ring_keeps_one_sample_per_slot_and_only_its_span() -> None:
    ring = history.SampleRing(step_s=10, span_s=60)
    ring.record(1003.0, {"a": 1})
    ring.record(1007.9, {"a": 2})  # the same slot: the newer sample wins
    ring.record(1012.0, {"a": 3})
    ring.record(1001.0, {"a": 9})  # older than the newest: ignored
    assert ring.samples() == [(1000, {"a": 2}), (1010, {"a": 3})]
    for at in range(1020, 1200, 10):
        ring.record(at, {"a": at})
    kept = [at for at, _ in ring.samples()]
    assert kept == list(range(1130, 1200, 10))  # an hour's worth here: 60 s and the slot itself
    with pytest.raises(ValueError, match="positive step"):
        history.SampleRing(step_s=0, span_s=60)


def test_a_rate_is_the_increase_over_the_window_not_over_the_last_two_polls() -> None:
    # The case: 1,006 then 1,018 over a minute, but nothing in the last few seconds.
    samples = [(0, {"e": 1006.0}), (30, {"e": 1012.0}), (60, {"e": 1018.0}), (63, {"e": 1018.0})]
    rate = history.window_rate(samples, "e", window_s=300)
    assert rate == {
        "per_minute": pytest.approx(12 / 63 * 60),
        "window_seconds": 63.0,
        "increase": 12,
    }
    # A window shorter than the samples: only its part counts.
    assert history.window_rate(samples, "e", window_s=33)["increase"] == 6.0
    # A window with a single sample in it: the last two samples.
    assert history.window_rate(samples, "e", window_s=1)["window_seconds"] == 3.0
    assert history.window_rate(samples[:1], "e", 300)["per_minute"] is None


def test_a_restarted_worker_s_counter_counts_from_zero_not_as_a_drop() -> None:
    samples = [(0, {"e": 100.0}), (10, {"e": 110.0}), (20, {"e": 4.0}), (30, {"e": 9.0})]
    assert history.increases(samples, "e") == [(10, 10.0), (20, 4.0), (30, 5.0)]
    assert history.window_rate(samples, "e", 300)["increase"] == 19.0


def test_workers_merge_slot_by_slot_and_a_gap_keeps_the_last_value() -> None:
    first = [(0, {"e": 1.0}), (10, {"e": 2.0}), (20, {"e": 5.0})]
    second = [(10, {"e": 10.0}), (30, {"e": 30.0})]  # started later, missed slot 20
    assert history.merge([first, second]) == [
        (0, {"e": 1.0}),
        (10, {"e": 12.0}),
        (20, {"e": 15.0}),
        (30, {"e": 35.0}),
    ]
    assert history.merge([]) == []


def test_quantiles_interpolate_within_a_bucket_as_prometheus_does() -> None:
    buckets = {1.0: 10.0, 5.0: 30.0, 10.0: 40.0, math.inf: 40.0}
    assert history.quantile(0.5, buckets) == pytest.approx(3.0)  # rank 20: 1 + 4 * 10/20
    assert history.quantile(0.25, buckets) == pytest.approx(1.0)
    assert history.quantile(0.9, buckets) == pytest.approx(8.0)  # rank 36: 5 + 5 * 6/10
    beyond = {1.0: 1.0, math.inf: 10.0}
    assert history.quantile(0.9, beyond) == 1.0  # past the last finite bound: that bound
    assert history.quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    assert history.quantile(0.5, {}) is None


def test_a_sample_reads_the_series_from_the_registry_and_the_report_sums_workers() -> None:
    registry = CollectorRegistry()
    events = Counter("lifecycle_events_processed_total", "x", ["source", "type"], registry=registry)
    actions = Counter(
        "lifecycle_actions_emitted_total", "x", ["play", "department", "type"], registry=registry
    )
    outcomes = Counter(
        "lifecycle_action_outcomes_received_total",
        "x",
        ["play", "department", "outcome"],
        registry=registry,
    )
    acknowledged = Histogram(
        "lifecycle_handoff_duration_seconds",
        "x",
        ["handoff", "from_department", "to_department"],
        registry=registry,
        buckets=(1, 10, 100),
    )
    before = flow_sample(registry)
    events.labels(source="sales", type="a").inc(6)
    events.labels(source="marketing", type="b").inc(2)
    actions.labels(play="p", department="sales", type="t").inc(3)
    outcomes.labels(play="p", department="sales", outcome="declined").inc()
    outcomes.labels(play="p", department="sales", outcome="accepted").inc(2)
    for seconds in (2, 3, 50):
        acknowledged.labels(
            handoff="lead-to-sales", from_department="marketing", to_department="sales"
        ).observe(seconds)
    after = flow_sample(registry)
    assert (after["events_in"], after["events_in:sales"], after["declines"]) == (8, 6, 1)
    assert after["ack:sales:10.0"] == 2
    after["conflicting_contacts"] = 1.0
    before["conflicting_contacts"] = 0.0
    # Two workers with the same counters: the report sums them.
    ring = [(1000, before), (1060, after)]
    report = history_report([ring, ring])
    assert report["workers"] == 2
    assert report["series"]["events_in"] == [(1060, 16.0)]
    assert report["rates"]["events_in"]["per_minute"] == pytest.approx(16.0)
    assert report["hour"]["conflicting_contacts"] == 2.0
    sales = report["departments"]["sales"]
    assert (sales["actions_out"], sales["declines"], sales["acknowledged"]) == (6, 2, 6)
    # Rank 3 of 6, in (1, 10] which holds 4: 1 + 9 * 3/4.
    assert sales["acknowledge_p50_seconds"] == pytest.approx(7.75)


def test_a_slow_conflict_scan_holds_no_sample_up() -> None:
    asyncio.run(slow_conflict_scan())


async def slow_conflict_scan() -> None:
    registry = CollectorRegistry()
    events = Counter("lifecycle_events_processed_total", "x", ["source", "type"], registry=registry)
    events.labels(source="sales", type="a").inc(4)
    scans: list[asyncio.Event] = []

    async def never_done() -> float:  # a worker too busy to finish the scan
        scans.append(asyncio.Event())
        await scans[-1].wait()
        return 7.0

    sampler = Sampler(registry, never_done)
    await asyncio.wait_for(sampler.sample(), timeout=5)
    await asyncio.wait_for(sampler.sample(), timeout=5)
    [(_, values)] = sampler.ring.samples()[-1:]
    assert (values["events_in"], values["conflicting_contacts"]) == (4.0, 0.0)
    await asyncio.sleep(0)
    assert len(scans) == 1  # one scan at a time
    scans[0].set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await sampler.sample()
    assert sampler.ring.samples()[-1][1]["conflicting_contacts"] == 7.0
