"""The dashboard's last hour: a bounded ring of samples of a worker's counters, and what is read
from it (increases per step, rates over a real window, quantiles of a histogram's buckets).

Pure: the adapter (``orchestrator.flow_history``) takes a sample every few seconds and serves
the ring; workers' rings are merged here by summing their samples slot by slot. A sample is a
flat mapping of series name to a cumulative value (a counter since the worker started, or a
gauge such as a segment's budget spent); times are whole seconds, aligned to the step so that
every worker's samples fall in the same slots.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

Sample = tuple[int, dict[str, float]]


class SampleRing:
    """The samples of the last ``span_s`` seconds, one per ``step_s`` slot (the newest wins)."""

    def __init__(self, step_s: int, span_s: int) -> None:
        if step_s <= 0 or span_s < step_s:
            raise ValueError("a ring needs a positive step no longer than its span")
        self.step_s = step_s
        self.span_s = span_s
        self._samples: deque[Sample] = deque(maxlen=span_s // step_s + 1)

    def record(self, at: float, values: Mapping[str, float]) -> None:
        """Keep ``values`` as the sample of the slot ``at`` falls in (a later one replaces
        an earlier one of the same slot; one older than the newest is ignored)."""
        slot = int(at // self.step_s) * self.step_s
        if self._samples and slot < self._samples[-1][0]:
            return
        if self._samples and slot == self._samples[-1][0]:
            self._samples.pop()
        self._samples.append((slot, dict(values)))
        while self._samples and self._samples[0][0] < slot - self.span_s:
            self._samples.popleft()

    def samples(self) -> list[Sample]:
        """Oldest first."""
        return list(self._samples)


def merge(rings: Iterable[Sequence[Sample]]) -> list[Sample]:
    """Several workers' samples summed slot by slot.

    A worker with no sample in a slot (it started later, or its sampler ran late) counts with
    its latest earlier sample, so a counter summed over workers never dips because of a gap;
    before its first sample it counts nothing.
    """
    rings = [sorted(ring) for ring in rings]
    slots = sorted({at for ring in rings for at, _ in ring})
    merged: list[Sample] = []
    positions = [0] * len(rings)
    for slot in slots:
        total: dict[str, float] = {}
        for index, ring in enumerate(rings):
            while positions[index] < len(ring) and ring[positions[index]][0] <= slot:
                positions[index] += 1
            if positions[index] == 0:
                continue
            for name, value in ring[positions[index] - 1][1].items():
                total[name] = total.get(name, 0.0) + value
        merged.append((slot, total))
    return merged


def _increase(before: float, after: float) -> float:
    """A counter's increase; a drop means it restarted from zero (a worker restarted)."""
    return after - before if after >= before else after


def increases(samples: Sequence[Sample], name: str) -> list[tuple[int, float]]:
    """Per slot, how much counter ``name`` grew since the previous sample."""
    return [
        (at, _increase(previous.get(name, 0.0), values.get(name, 0.0)))
        for (_, previous), (at, values) in pairwise(samples)
    ]


def levels(samples: Sequence[Sample], name: str) -> list[tuple[int, float]]:
    """A gauge's value in each sample."""
    return [(at, values.get(name, 0.0)) for at, values in samples]


def window_rate(samples: Sequence[Sample], name: str, window_s: int) -> dict[str, float | None]:
    """Counter ``name`` per minute over the last ``window_s`` seconds of samples: its increase
    between the oldest sample in the window and the newest, over the seconds between them.

    ``None`` with fewer than two samples; ``window_seconds`` says how long the window really
    was (shorter than asked while the ring fills)."""
    if len(samples) < 2:
        return {"per_minute": None, "window_seconds": 0.0, "increase": None}
    newest = samples[-1][0]
    inside = [s for s in samples if s[0] >= newest - window_s]
    if len(inside) < 2:
        inside = list(samples[-2:])
    grown = sum(amount for _, amount in increases(inside, name))
    seconds = float(inside[-1][0] - inside[0][0])
    return {"per_minute": grown / seconds * 60, "window_seconds": seconds, "increase": grown}


def bucket_increases(samples: Sequence[Sample], prefix: str, window_s: int) -> dict[float, float]:
    """A histogram's cumulative bucket counts (series ``<prefix><le>``) gained over the last
    ``window_s`` seconds, by upper bound (``inf`` for ``+Inf``)."""
    if len(samples) < 2:
        return {}
    newest = samples[-1][0]
    inside = [s for s in samples if s[0] >= newest - window_s]
    if len(inside) < 2:
        inside = list(samples[-2:])
    names = {n for _, values in inside for n in values if n.startswith(prefix)}
    return {
        float(name.removeprefix(prefix)): sum(a for _, a in increases(inside, name))
        for name in names
    }


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q`` quantile of cumulative histogram buckets (upper bound -> count at or below),
    interpolated linearly within its bucket as Prometheus' ``histogram_quantile`` does; one
    beyond the last finite bound is that bound. ``None`` without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound
