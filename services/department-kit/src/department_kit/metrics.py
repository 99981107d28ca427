"""The department service's Prometheus metrics, named as in docs/observability.md.

Each app has its own registry, so several apps (tests) can live in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DepartmentMetrics:
    """Every metric a department service exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
        self.events_published = Counter(
            "lifecycle_events_published_total", "events acknowledged by Kafka", ["type"], registry=r
        )
        self.publish_failures = Counter(
            "lifecycle_event_publish_failures_total",
            "events Kafka did not acknowledge",
            ["reason"],
            registry=r,
        )
        self.events_rejected = Counter(
            "lifecycle_events_rejected_total", "events refused as bad input", ["reason"], registry=r
        )
        self.actions_received = Counter(
            "lifecycle_actions_received_total",
            "actions read from the action topic",
            ["type"],
            registry=r,
        )
        self.actions_delivered = Counter(
            "lifecycle_actions_delivered_total", "actions handed out", ["channel"], registry=r
        )
        self.action_outcomes = Counter(
            "lifecycle_action_outcomes_total", "outcomes published", ["outcome"], registry=r
        )
        self.inbox_actions = Gauge(
            "lifecycle_inbox_actions", "actions in the inbox by status", ["status"], registry=r
        )
        self.webhook_attempts = Counter(
            "lifecycle_webhook_delivery_attempts_total",
            "webhook push attempts",
            ["result"],
            registry=r,
        )

        # Not in the metrics contract: how many live streams are connected (leaks show here).
        self.open_streams = Gauge(
            "lifecycle_action_streams_open", "live action streams connected", registry=r
        )

    def set_reachable(self, reachable: bool) -> None:
        """Record whether the last request to Kafka succeeded."""
        self.kafka_reachable.set(1 if reachable else 0)
