"""What one worker has seen: per-customer indexes for gauges and deadlines, play statistics.

Kept in memory, rebuilt from the customer table after a restart (``rebuild``). Play statistics
count what this worker emitted and received since it started; with several workers Prometheus
sums the counters (see docs/orchestrator.md).
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.core.playbook import PolicySpec
from orchestrator.core.state import CustomerState


@dataclass
class PlayStats:
    emitted: int = 0
    outcomes: Tally[str] = field(default_factory=Tally)
    declines: Tally[tuple[str, str]] = field(default_factory=Tally)

    def decline_rate(self) -> float:
        """Declined outcomes over all outcomes that say yes or no."""
        answered = sum(self.outcomes[k] for k in ("accepted", "declined", "completed", "failed"))
        return self.outcomes["declined"] / answered if answered else 0.0

    def answered(self) -> int:
        return sum(self.outcomes[k] for k in ("accepted", "declined", "completed", "failed"))


@dataclass
class WorkerView:
    """Indexes over the customers this worker applied, keyed by customer id."""

    stages: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    segments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    deadlines: dict[str, datetime] = field(default_factory=dict)
    plays: dict[str, PlayStats] = field(default_factory=dict)
    # Customers share a few stage and segment combinations: each is kept once, shared (a dict
    # and a list per customer were about 300 bytes of a worker's memory per customer).
    _shared: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)

    def observe(self, state: CustomerState) -> None:
        """Index a customer's state after it changed."""
        key = state.customer_id
        if state.alias_of is not None or state.erased:
            self.stages.pop(key, None)
            self.segments.pop(key, None)
        else:
            self.stages[key] = self._share(tuple(sorted(state.stages.items())))
            self.segments[key] = self._share(tuple(state.segments))
        deadline = None if state.erased else state.next_deadline()
        if deadline is None:
            self.deadlines.pop(key, None)
        else:
            self.deadlines[key] = deadline

    def _share(self, value: tuple[Any, ...]) -> Any:
        return self._shared.setdefault(value, value)

    def forget_customers(self) -> None:
        """Drop every customer index (before re-indexing after a rebalance)."""
        self.stages.clear()
        self.segments.clear()
        self.deadlines.clear()

    def due(self, now: datetime) -> list[str]:
        """Customers with an action past its deadline (each returned once until re-indexed)."""
        due = sorted(k for k, at in self.deadlines.items() if at <= now)
        for key in due:
            del self.deadlines[key]
        return due

    def retry_due(self, customer_ids: list[str], at: datetime) -> None:
        """Put back deadlines whose check Kafka did not acknowledge (asked again next tick).

        A customer whose state changed meanwhile keeps its newer deadline."""
        for key in customer_ids:
            self.deadlines.setdefault(key, at)

    def stage_counts(self) -> Tally[tuple[str, str]]:
        return Tally((stage, status) for stages in self.stages.values() for stage, status in stages)

    def segment_counts(self) -> Tally[str]:
        return Tally(s for members in self.segments.values() for s in members)

    def play(self, play_id: str) -> PlayStats:
        return self.plays.setdefault(play_id, PlayStats())

    def flagged(self, play_id: str, policy: PolicySpec) -> bool:
        """Whether a play's decline rate passes the policy's threshold (this worker)."""
        return is_flagged(self.plays.get(play_id), policy)

    def export(self) -> dict[str, Any]:
        """This worker's counts, for another worker to merge (``GET /internal/worker-stats``)."""
        return {
            "segments": dict(self.segment_counts()),
            "plays": {
                play_id: {
                    "emitted": stats.emitted,
                    "outcomes": dict(stats.outcomes),
                    "declines": [[d, r, n] for (d, r), n in stats.declines.items()],
                }
                for play_id, stats in self.plays.items()
            },
        }


def is_flagged(stats: PlayStats | None, policy: PolicySpec) -> bool:
    """Whether a play's decline rate passes the policy's threshold."""
    return bool(
        stats
        and stats.answered() >= policy.decline_flag_min_outcomes
        and stats.decline_rate() >= policy.decline_flag_threshold
    )


def merge_exports(exports: list[dict[str, Any]]) -> tuple[Tally[str], dict[str, PlayStats]]:
    """Sum several workers' exported counts."""
    segments: Tally[str] = Tally()
    plays: dict[str, PlayStats] = {}
    for export in exports:
        segments.update(export.get("segments", {}))
        for play_id, counts in export.get("plays", {}).items():
            stats = plays.setdefault(play_id, PlayStats())
            stats.emitted += int(counts.get("emitted", 0))
            stats.outcomes.update(counts.get("outcomes", {}))
            for department, reason, n in counts.get("declines", []):
                stats.declines[(department, reason)] += int(n)
    return segments, plays


def plays_report(
    play_ids: list[str], plays: dict[str, PlayStats], policy: PolicySpec
) -> list[dict[str, Any]]:
    """The ``GET /v1/plays`` items."""
    report = []
    for play_id in play_ids:
        stats = plays.get(play_id, PlayStats())
        report.append(
            {
                "play_id": play_id,
                "emitted": stats.emitted,
                "accepted": stats.outcomes["accepted"],
                "completed": stats.outcomes["completed"],
                "declined": stats.outcomes["declined"],
                "failed": stats.outcomes["failed"],
                "expired": stats.outcomes["expired"],
                "decline_rate": round(stats.decline_rate(), 4),
                "declines_by_department_and_reason": [
                    {"department": d, "reason": r, "count": n}
                    for (d, r), n in sorted(stats.declines.items())
                ],
                "flagged": is_flagged(stats, policy),
            }
        )
    return report
