"""The metrics every service exports (docs/observability.md, "Every service").

Each service's metrics class extends :class:`ServiceMetrics` with its own; each instance has its
own registry, so several apps (tests) can live in one process. Every registry carries the
process (``process_*``: CPU, memory, open files, start time) and platform (``python_info``,
``python_gc_*``) metrics of the process it runs in.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

# No ``<counter>_created`` / ``<histogram>_created`` series: one per labelled counter doubled
# the series count, and Prometheus reads a counter's start from its first sample anyway.
# prometheus_client's switch is process-wide; every service imports this module before it
# makes a metric.
disable_created_metrics()  # type: ignore[no-untyped-call]


class ServiceMetrics:
    """Kafka reachability, consumer lag, dead letters and HTTP requests."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.kafka_reachable = Gauge(
            "lifecycle_kafka_reachable", "1 while the last request to Kafka succeeded", registry=r
        )
        self.consumer_lag = Gauge(
            "lifecycle_consumer_lag",
            "records between the group's position and the log end",
            ["topic", "partition"],
            registry=r,
        )
        self.dead_letter_records = Counter(
            "lifecycle_dead_letter_records_total",
            "records sent to the dead-letter topic",
            ["topic", "reason"],
            registry=r,
        )
        self.http_requests = Counter(
            "lifecycle_http_requests_total",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "lifecycle_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            registry=r,
        )

    def set_reachable(self, reachable: bool) -> None:
        """Record whether the last request to Kafka succeeded."""
        self.kafka_reachable.set(1 if reachable else 0)
