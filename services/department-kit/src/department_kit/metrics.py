"""The department service's Prometheus metrics, named as in docs/observability.md.

Each app has its own registry, so several apps (tests) can live in one process.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from service_kit.metrics import ServiceMetrics


class DepartmentMetrics(ServiceMetrics):
    """Every metric a department service exports: the shared ones and its own."""

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
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
        self.event_claims_held = Counter(
            "lifecycle_event_claims_held_total",
            "batches that found an event id being published by another request (asked again)",
            registry=r,
        )
        self.contact_answers = Counter(
            "lifecycle_contact_requests_total",
            "contact requests answered, by verdict and reason (the orchestrator's or a fallback)",
            ["purpose", "decision", "reason"],
            registry=r,
        )
        self.contact_fallbacks = Counter(
            "lifecycle_contact_request_fallbacks_total",
            "contact requests answered without the orchestrator (fail-open or fail-closed)",
            ["purpose", "decision", "cause"],
            registry=r,
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
        # Inbox aging (alert InboxActionsAging): 0 while nothing is open.
        self.inbox_oldest_open_age = Gauge(
            "lifecycle_inbox_oldest_open_action_age_seconds",
            "seconds since the oldest open action (not taken up, not expired) was received",
            registry=r,
        )
        self.webhook_attempts = Counter(
            "lifecycle_webhook_delivery_attempts_total",
            "webhook push attempts",
            ["result"],
            registry=r,
        )
        # Both results exist from the start, so the first failure is a step from 0 that
        # rate() sees (alert WebhookDeliveriesFailing).
        for result in ("delivered", "failed"):
            self.webhook_attempts.labels(result=result)

        self.subject_keys_created = Counter(
            "lifecycle_subject_keys_created_total",
            "crypto-shredding keys written to the keys topic (LIFECYCLE_SHREDDING)",
            registry=r,
        )

        # Not in the metrics contract: how many live streams are connected (leaks show here).
        self.open_streams = Gauge(
            "lifecycle_action_streams_open", "live action streams connected", registry=r
        )
