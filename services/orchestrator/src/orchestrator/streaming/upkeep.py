"""Upkeep on timers and rebalances: deadlines, gauges, and the segment budgets' running totals."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from orchestrator import erasure_marks
from orchestrator.core.effects import add_spend
from orchestrator.core.messages import deadline_check
from orchestrator.core.playbook import Playbook
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.observed import WorkerView
from orchestrator.stored import load_state
from orchestrator.streaming.sending import Sender, utcnow

log = logging.getLogger("orchestrator.streaming")


class SegmentSpend:
    """Each segment's treatment budget spent by this worker's customers (what budgets check).

    Exact with one worker; with several, each spends against the whole budget from its own
    partitions (docs/orchestrator.md). Rebuilt from the table after a rebalance.
    """

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    def add(self, added: Mapping[str, int]) -> None:
        add_spend(self.totals, added)

    def reset(self) -> None:
        self.totals = {}


class Upkeep:
    """Deadline checks, gauges and the rebuild of the worker's indexes after a rebalance."""

    def __init__(
        self,
        customer_values: Callable[[], Iterable[tuple[Any, bytes | None]]],
        sender: Sender,
        commands_topic: str,
        playbook: Playbook,
        metrics: OrchestratorMetrics,
        view: WorkerView,
        spend: SegmentSpend,
        consumer: Callable[[], Any],
        input_topics: frozenset[str],
    ) -> None:
        self.customer_values = customer_values
        self.sender = sender
        self.commands_topic = commands_topic
        self.playbook = playbook
        self.metrics = metrics
        self.view = view
        self.spend = spend
        self.consumer = consumer
        self.input_topics = input_topics
        self.rebuilt = False

    async def check_deadlines(self) -> None:
        """Ask the customers with an overdue action to check their deadlines."""
        if not self.rebuilt:
            self.rebuild_view()
        now = utcnow()
        due = self.view.due(now)
        try:
            pending = [
                await self.sender.send(
                    self.commands_topic,
                    customer_id,
                    deadline_check(customer_id, now).model_dump_json().encode(),
                )
                for customer_id in due
            ]
            if pending:
                await self.sender.send_all(pending)
        except Exception:
            # Not acknowledged: an escalation must not wait for the next rebalance.
            self.view.retry_due(due, now)
            raise

    async def on_rebalanced(
        self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any
    ) -> None:
        """Partitions moved: re-index from the partitions this worker owns now."""
        self.rebuilt = False

    def rebuild_view(self) -> None:
        """Index every customer in this worker's active table partitions."""
        self.view.forget_customers()
        self.spend.reset()
        for key, value in self.customer_values():
            if value and not erasure_marks.is_mark(key):
                state = load_state(value)
                self.view.observe(state)
                self.spend.add(state.segment_spend_minor)
        self.rebuilt = True

    async def refresh_gauges(self) -> None:
        """Customers per stage and segment, and consumer lag."""
        metrics = self.metrics
        metrics.customers.clear()
        for (stage, status), count in self.view.stage_counts().items():
            metrics.customers.labels(stage=stage, status=status).set(count)
        counts = self.view.segment_counts()
        for segment in self.playbook.segments:
            metrics.segment_members.labels(segment=segment.id).set(counts.get(segment.id, 0))
        consumer = self.consumer()
        committed = getattr(consumer, "_committed_offset", {})
        for tp in consumer.assignment():
            if tp.topic not in self.input_topics:
                continue  # table changelogs: read at recovery, never committed (bug B2)
            highwater = consumer.highwater(tp)
            if highwater is not None:
                position = committed.get(tp) or 0
                metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(0, highwater - position)
                )


def keep_running(timer: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A timer body whose failure is logged and retried next tick (a raising timer stops)."""

    async def run() -> None:
        try:
            await timer()
        except Exception:
            log.exception("timer failed", extra={"timer": timer.__name__})

    run.__name__ = run.__qualname__ = timer.__name__
    return run
