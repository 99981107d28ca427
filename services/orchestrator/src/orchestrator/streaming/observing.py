"""Metrics and the worker's indexes after a customer's state changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.outcomes import ActionDeclined, Outcome
from lifecycle_schemas.outputs import (
    ContactDecided,
    CustomerMerged,
    DecisionRecorded,
    HandoffDeadlineMissed,
    Verdict,
)
from orchestrator.core.messages import Decision, HandoffBreached, HandoffTimed, Message, Publish
from orchestrator.core.playbook import Playbook, short_type
from orchestrator.core.state import CustomerState
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.observed import WorkerView


class Observation:
    """Counts what a state change did (events, outcomes, actions, suppressions, merges,
    hand-offs timed and past their SLA)."""

    def __init__(self, metrics: OrchestratorMetrics, view: WorkerView, playbook: Playbook) -> None:
        self.metrics = metrics
        self.view = view
        self.playbook = playbook

    def __call__(
        self, message: Message, after: CustomerState, decisions: list[Decision], now: datetime
    ) -> None:
        metrics = self.metrics
        self.view.observe(after)
        if isinstance(message, DepartmentEvent):
            metrics.events_processed.labels(
                source=message.department.value, type=message.type
            ).inc()
            metrics.event_to_decision.observe(max(0.0, (now - message.time).total_seconds()))
        elif isinstance(message, Outcome):
            self._outcome(message, after)
        for decision in decisions:
            if isinstance(decision, Publish):
                self._published(decision)
            elif isinstance(decision, HandoffTimed):
                metrics.handoff_duration.labels(
                    handoff=decision.handoff,
                    from_department=decision.from_department,
                    to_department=decision.to_department,
                ).observe(decision.seconds)
            elif isinstance(decision, HandoffBreached):
                metrics.handoff_breaches.labels(
                    handoff=decision.handoff,
                    from_department=decision.from_department,
                    to_department=decision.to_department,
                ).inc()

    def _outcome(self, message: Outcome[Any], after: CustomerState) -> None:
        action = after.open_actions.get(message.data.action_id)
        play = action.play_id if action else "unknown"
        outcome = short_type(message.type).removeprefix("outcome.")
        self.metrics.outcomes_received.labels(
            play=play, department=message.data.department.value, outcome=outcome
        ).inc()
        stats = self.view.play(play)
        stats.outcomes[outcome] += 1
        if isinstance(message, ActionDeclined):
            stats.declines[(message.data.department.value, message.data.reason_code.value)] += 1
        self.metrics.play_flagged.labels(play=play).set(
            1 if self.view.flagged(play, self.playbook.policy) else 0
        )

    def _published(self, decision: Publish) -> None:
        metrics = self.metrics
        record = decision.record
        if ".action." in record.type:
            metrics.actions_emitted.labels(
                play=record.data.play_id,
                department=record.data.department.value,
                type=record.type,
            ).inc()
            self.view.play(record.data.play_id).emitted += 1
        elif isinstance(record, DecisionRecorded):
            for candidate in record.data.candidates:
                if candidate.verdict is not Verdict.WON:
                    metrics.candidates_suppressed.labels(reason=candidate.reason_code).inc()
        elif isinstance(record, ContactDecided):
            metrics.contact_requests.labels(
                department=record.data.department.value,
                purpose=record.data.purpose.value,
                decision=record.data.decision.value,
                reason=record.data.reason_code,
            ).inc()
        elif isinstance(record, CustomerMerged):
            metrics.merges.inc()
        elif isinstance(record, HandoffDeadlineMissed):
            metrics.deadlines_missed.labels(
                department=record.data.department.value, play=record.data.play_id
            ).inc()
