"""The orchestrator's Prometheus metrics (names and labels from docs/observability.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from orchestrator.core.handoffs import ORCHESTRATOR, action_handoff
from orchestrator.core.playbook import PlaySpec, SegmentSpec, budget_key
from orchestrator.core.views import major_units
from orchestrator.observed import WorkerView
from service_kit.metrics import ServiceMetrics

# Real seconds. make run's company runs 1,440 times faster (a 4 h SLA is 10 s, a day 60 s);
# production hand-offs take minutes to days (a 4 h SLA is 14,400 s): one set spans both.
HANDOFF_BUCKETS_S = (
    0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600,
    7200, 14400, 28800, 86400, 172800, 345600, 604800, 1209600,
)  # fmt: skip


class OrchestratorMetrics(ServiceMetrics):
    """One registry per process, so tests can build apps side by side."""

    def __init__(self, plays: Iterable[PlaySpec] = ()) -> None:
        super().__init__()
        r = self.registry
        self.events_processed = Counter(
            "lifecycle_events_processed_total",
            "Events applied to customer state",
            ["source", "type"],
            registry=r,
        )
        self.event_to_decision = Histogram(
            "lifecycle_event_to_decision_seconds",
            "Event time to decision",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.actions_emitted = Counter(
            "lifecycle_actions_emitted_total",
            "Actions sent",
            ["play", "department", "type"],
            registry=r,
        )
        self.outcomes_received = Counter(
            "lifecycle_action_outcomes_received_total",
            "Outcomes applied",
            ["play", "department", "outcome"],
            registry=r,
        )
        self.contact_requests = Counter(
            "lifecycle_contact_requests_decided_total",
            "Departments' own contact requests decided, by verdict and reason",
            ["department", "purpose", "decision", "reason"],
            registry=r,
        )
        self.candidates_suppressed = Counter(
            "lifecycle_candidates_suppressed_total",
            "Candidate actions that lost or were suppressed",
            ["reason"],
            registry=r,
        )
        self.playbook_version = Gauge(
            "lifecycle_playbook_version",
            "The playbook version this worker decides under (0: its own files)",
            registry=r,
        )
        self.customers = Gauge(
            "lifecycle_customers", "Customers per lifecycle stage", ["stage", "status"], registry=r
        )
        self.segment_members = Gauge(
            "lifecycle_segment_members", "Members per segment", ["segment"], registry=r
        )
        self.merges = Counter(
            "lifecycle_customer_merges_total", "Customer records merged", registry=r
        )
        self.deadlines_missed = Counter(
            "lifecycle_handoff_deadlines_missed_total",
            "Actions not acknowledged by their deadline",
            ["department", "play"],
            registry=r,
        )
        self.handoff_duration = Histogram(
            "lifecycle_handoff_duration_seconds",
            "Real seconds from a hand-off's start to the receiving department taking it up",
            ["handoff", "from_department", "to_department"],
            registry=r,
            buckets=HANDOFF_BUCKETS_S,
        )
        self.handoff_breaches = Counter(
            "lifecycle_handoff_sla_breaches_total",
            "Hand-offs not taken up within their SLA (an action: its deadline), once each",
            ["handoff", "from_department", "to_department"],
            registry=r,
        )
        self.play_flagged = Gauge(
            "lifecycle_play_flagged",
            "1 when a play's decline rate passes its threshold",
            ["play"],
            registry=r,
        )
        # Each play's series start at 0: a series born at its first increment is already 1, and
        # increase() over it (dashboards, alert rules) shows nothing.
        for play in plays:
            for action in play.actions:
                self.actions_emitted.labels(
                    play=play.id, department=action.department, type=action.record_type
                )
                self.deadlines_missed.labels(department=action.department, play=play.id)
                self.handoff_breaches.labels(
                    handoff=action_handoff(action.record_type),
                    from_department=ORCHESTRATOR,
                    to_department=action.department,
                )

    def watch_worker(
        self,
        view: WorkerView,
        segments: Iterable[SegmentSpec],
        spent: Callable[[], Mapping[str, int]],
    ) -> None:
        """Export figures the worker already keeps in memory, read when Prometheus scrapes
        (nothing more is done per event): declines per play and reason, segment budgets."""
        self.registry.register(WorkerFigures(view, tuple(segments), spent))


class WorkerFigures(Collector):
    """``lifecycle_action_declines_total`` and the segment budget gauges, built per scrape."""

    def __init__(
        self,
        view: WorkerView,
        segments: tuple[SegmentSpec, ...],
        spent: Callable[[], Mapping[str, int]],
    ) -> None:
        self.view = view
        self.segments = segments
        self.spent = spent

    def collect(self) -> Iterator[Any]:
        declines = CounterMetricFamily(
            "lifecycle_action_declines",
            "Declines applied, per play, department and reason code (since the worker started)",
            labels=["play", "department", "reason"],
        )
        # Scraped on the API's thread while the worker changes these: dict() copies at once.
        for play_id, stats in sorted(dict(self.view.plays).items()):
            for (department, reason), count in sorted(dict(stats.declines).items()):
                declines.add_metric([play_id, department, reason], count)
        yield declines
        # Money in major units with the currency in the name (lifecycle_segment_budget_eur):
        # one family per currency a budget is set in.
        budgets: dict[str, GaugeMetricFamily] = {}
        spends: dict[str, GaugeMetricFamily] = {}
        spent_minor = dict(self.spent())
        now = datetime.now(UTC)
        for segment in self.segments:
            if segment.budget is None:
                continue  # only budgeted segments are charged (decide.record_winners)
            currency = segment.budget.currency
            suffix = currency.lower()
            if suffix not in budgets:
                budgets[suffix] = GaugeMetricFamily(
                    f"lifecycle_segment_budget_{suffix}",
                    f"Treatment budget per segment ({currency})",
                    labels=["segment"],
                )
                spends[suffix] = GaugeMetricFamily(
                    f"lifecycle_segment_budget_spent_{suffix}",
                    f"Treatment budget spent on this worker's customers per segment ({currency})",
                    labels=["segment"],
                )
            budgets[suffix].add_metric(
                [segment.id], major_units(segment.budget.amount_minor, currency)
            )
            # A budget that renews shows its current period's spend.
            current = spent_minor.get(budget_key(segment, now), 0)
            spends[suffix].add_metric([segment.id], major_units(current, currency))
        for suffix in sorted(budgets):
            yield budgets[suffix]
            yield spends[suffix]
