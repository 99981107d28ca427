"""What a candidate playbook would change: the same events replayed under two playbooks.

Pure: events in, tallies out (``orchestrator playbook diff`` reads the events from the topics
and prints the rows). Each playbook gets an engine of its own (:class:`LocalEngine`, the whole
topology in memory), so both see the same customers from the same empty start: the difference
is the playbooks' alone.

Per play: actions sent (candidates that won), suppressions (candidates that lost, were
suppressed or held out) and the budget spent on its actions (the cost of each action sent).
Per segment: the same counts for the decisions about the segment's members (the customer's
segments after the event), and the budget spent on the segment (what arbitration checks, summed
over its periods).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lifecycle_schemas.outputs import DecisionRecorded, Verdict
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import Playbook, short_type


@dataclass
class Tally:
    """Counts of one replay, by play id and by segment id."""

    actions: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    spend_minor: Counter[str] = field(default_factory=Counter)
    segment_actions: Counter[str] = field(default_factory=Counter)
    segment_suppressed: Counter[str] = field(default_factory=Counter)
    segment_spend_minor: Counter[str] = field(default_factory=Counter)
    events: int = 0


def replay(playbook: Playbook, events: Iterable[Any]) -> Tally:
    """Every department event (in order) through a fresh engine under ``playbook``."""
    engine = LocalEngine(playbook)
    costs = {
        (play.id, action.record_type): action.cost_minor
        for play in playbook.plays
        for action in play.actions
    }
    tally = Tally()
    for event in events:
        tally.events += 1
        for record in published(engine.submit_event(event, event.time)):
            if not isinstance(record, DecisionRecorded):
                continue
            state = engine.customers.get(record.data.customer_id)
            segments = state.segments if state is not None else []
            for candidate in record.data.candidates:
                won = candidate.verdict is Verdict.WON
                counts = tally.actions if won else tally.suppressed
                by_segment = tally.segment_actions if won else tally.segment_suppressed
                counts[candidate.play_id] += 1
                by_segment.update(segments)
                if won:
                    cost = costs.get((candidate.play_id, candidate.action_type), 0)
                    tally.spend_minor[candidate.play_id] += cost
    for key, spent in engine.segment_spend_minor.items():
        tally.segment_spend_minor[key.split("@", 1)[0]] += spent
    return tally


@dataclass(frozen=True)
class Change:
    """One row: a play or a segment, each measure before and after."""

    kind: str  # "play" or "segment"
    name: str
    actions: tuple[int, int]
    suppressed: tuple[int, int]
    spend_minor: tuple[int, int]

    @property
    def changed(self) -> bool:
        return any(a != b for a, b in (self.actions, self.suppressed, self.spend_minor))


def compare(active: Tally, candidate: Tally) -> list[Change]:
    """A row per play and per segment either replay counted anything for."""
    rows: list[Change] = []
    rows += _rows(
        "play",
        (active.actions, candidate.actions),
        (active.suppressed, candidate.suppressed),
        (active.spend_minor, candidate.spend_minor),
    )
    rows += _rows(
        "segment",
        (active.segment_actions, candidate.segment_actions),
        (active.segment_suppressed, candidate.segment_suppressed),
        (active.segment_spend_minor, candidate.segment_spend_minor),
    )
    return rows


def render(rows: list[Change], only_changed: bool = False) -> list[str]:
    """The rows as aligned text lines (money in major units)."""

    def cell(pair: tuple[int, int], money: bool = False) -> str:
        before, after = (x / 100 for x in pair) if money else pair
        delta = after - before
        if money:
            return f"{before:,.2f} -> {after:,.2f} ({delta:+,.2f})"
        return f"{before} -> {after} ({delta:+d})"

    lines = [f"{'':8} {'name':34} {'actions':20} {'suppressed':20} budget spend"]
    for row in rows:
        if only_changed and not row.changed:
            continue
        lines.append(
            f"{row.kind:8} {row.name:34} {cell(row.actions):20} {cell(row.suppressed):20} "
            f"{cell(row.spend_minor, money=True)}" + ("" if row.changed else "  (no change)")
        )
    return lines


def event_short_types(events: Iterable[Any]) -> Counter[str]:
    """How many events of each type were replayed (for the report's header)."""
    return Counter(short_type(event.type) for event in events)


def _rows(
    kind: str,
    actions: tuple[Mapping[str, int], Mapping[str, int]],
    suppressed: tuple[Mapping[str, int], Mapping[str, int]],
    spend: tuple[Mapping[str, int], Mapping[str, int]],
) -> list[Change]:
    """A row per name either side counted any of the three measures for (0 where it did not)."""
    names = sorted(set().union(*actions, *suppressed, *spend))
    return [
        Change(
            kind,
            name,
            (actions[0].get(name, 0), actions[1].get(name, 0)),
            (suppressed[0].get(name, 0), suppressed[1].get(name, 0)),
            (spend[0].get(name, 0), spend[1].get(name, 0)),
        )
        for name in names
    ]
