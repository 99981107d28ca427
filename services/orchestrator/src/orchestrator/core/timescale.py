"""Customer time: the wall clock, or a simulated company's faster clock.

Events carry real times. Against a simulated company running ``time_scale`` times faster than
the wall clock (``ORCHESTRATOR_TIME_SCALE``), a real minute is a simulated day at 1440, so
"days since the complaint" must count simulated days or a 30-day window never closes during a
run. Every time-window fact goes through a :class:`Calendar`; at scale 1 it is the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Calendar:
    """How much of the customers' time passes per real second."""

    time_scale: float = 1.0

    def elapsed(self, since: datetime, now: datetime) -> timedelta:
        """The customers' time between two real moments."""
        if self.time_scale == 1:
            return now - since
        return (now - since) * self.time_scale

    def days_between(self, since: datetime, now: datetime) -> int:
        """Whole customer days from ``since`` to ``now`` (negative when ``now`` is earlier)."""
        return self.elapsed(since, now).days


WALL_CLOCK = Calendar()
