"""The soak report's maths (lifecycle_admin.soak): quantiles, growth, trend, parsing."""

from __future__ import annotations

import math

import pytest

from lifecycle_admin.soak import (
    bucket_increase,
    edge_window_s,
    error_rate,
    growth_per_minute,
    histogram_quantile,
    input_lag,
    linear_slope_per_minute,
    metric_sum,
    parse_metrics,
    percentile,
    request_buckets,
    window_mean,
)

BUCKETS = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]


def test_histogram_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    assert histogram_quantile(0.5, BUCKETS) == pytest.approx(0.1)
    # rank 70 lies halfway between 50 (le 0.1) and 90 (le 0.5)
    assert histogram_quantile(0.7, BUCKETS) == pytest.approx(0.3)
    assert histogram_quantile(0.99, BUCKETS) == pytest.approx(0.95)


def test_histogram_quantile_of_the_inf_bucket_is_its_lower_bound_and_empty_is_none() -> None:
    assert histogram_quantile(0.99, [(0.1, 1.0), (math.inf, 10.0)]) == pytest.approx(0.1)
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.99, []) is None


def test_bucket_increase_counts_only_what_happened_between_scrapes() -> None:
    before = [(0.1, 10.0), (math.inf, 12.0)]
    after = [(0.1, 15.0), (math.inf, 30.0)]
    assert bucket_increase(before, after) == [(0.1, 5.0), (math.inf, 18.0)]
    assert bucket_increase([], after) == after


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([], 0.99) is None


def test_memory_growth_compares_the_first_and_last_minute() -> None:
    # 10 minutes, a sample every 5 s, growing 2 MiB per minute from 100 MiB.
    points = [(t, 100 + 2 * t / 60) for t in range(0, 601, 5)]
    assert growth_per_minute(points) == pytest.approx(2.0)
    flat = [(t, 100.0 + (t % 10)) for t in range(0, 601, 5)]  # noise, no trend
    assert abs(growth_per_minute(flat) or 0.0) < 0.1


def test_a_short_run_compares_thirds_and_a_single_point_has_no_growth() -> None:
    assert edge_window_s(600) == 60
    assert edge_window_s(60) == 20
    points = [(t, 50 + t / 60) for t in range(0, 61, 5)]  # 1 MiB per minute over one minute
    assert growth_per_minute(points) == pytest.approx(1.0)
    assert growth_per_minute([(0.0, 1.0)]) is None


def test_lag_trend_is_the_least_squares_slope_per_minute() -> None:
    assert linear_slope_per_minute([(0, 10), (60, 20), (120, 30)]) == pytest.approx(10.0)
    assert linear_slope_per_minute([(0, 5), (30, 5), (60, 5)]) == pytest.approx(0.0)
    assert linear_slope_per_minute([(0, 5)]) is None
    assert window_mean([(0, 2), (10, 4), (20, 9)], 0, 10) == 3
    assert window_mean([(0, 2)], 5, 10) is None


def test_error_rate() -> None:
    assert error_rate(5, 200) == 0.025
    assert error_rate(0, 0) == 0.0


def test_parse_metrics_reads_labels_and_sums_the_request_histogram_over_routes() -> None:
    bucket = "lifecycle_http_request_duration_seconds_bucket"
    text = "\n".join(
        [
            "# HELP lifecycle_consumer_lag records behind",
            "# TYPE lifecycle_consumer_lag gauge",
            'lifecycle_consumer_lag{topic="a",partition="0"} 3.0',
            'lifecycle_consumer_lag{topic="a",partition="1"} 4.0',
            bucket + '{le="0.1",method="GET",route="/x"} 2.0',
            bucket + '{le="+Inf",method="GET",route="/x"} 3.0',
            bucket + '{le="0.1",method="POST",route="/y"} 5.0',
            bucket + '{le="+Inf",method="POST",route="/y"} 9.0',
        ]
    )
    samples = parse_metrics(text)
    assert metric_sum(samples, "lifecycle_consumer_lag") == 7.0
    assert input_lag(samples) == 7.0
    changelog = 'lifecycle_consumer_lag{topic="app-customers-changelog",partition="0"} 5.0'
    assert input_lag(parse_metrics(f"{text}\n{changelog}")) == 7.0
    assert request_buckets(samples) == [(0.1, 7.0), (math.inf, 12.0)]
