"""How the benchmark talks to a peer job running in its own process.

The parent passes the run's settings in the environment; the job prints one line
``BENCH_RESULT {"records": N, "seconds": S}`` once it has processed every record, timed from
its first record to its last (so framework start-up is not counted).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True)
class PeerSettings:
    bootstrap: str
    source: str
    sink: str
    group_id: str
    expected: int
    threshold: int
    state_dir: str

    @staticmethod
    def from_environment() -> PeerSettings:
        """The settings the parent put in this process's environment."""
        return PeerSettings(
            bootstrap=os.environ["BENCH_BOOTSTRAP"],
            source=os.environ["BENCH_SOURCE"],
            sink=os.environ["BENCH_SINK"],
            group_id=os.environ["BENCH_GROUP"],
            expected=int(os.environ["BENCH_EXPECTED"]),
            threshold=int(os.environ["BENCH_THRESHOLD"]),
            state_dir=os.environ["BENCH_STATE_DIR"],
        )

    def environment(self) -> dict[str, str]:
        """This run's settings as environment variables for the peer's process."""
        return {
            "BENCH_BOOTSTRAP": self.bootstrap,
            "BENCH_SOURCE": self.source,
            "BENCH_SINK": self.sink,
            "BENCH_GROUP": self.group_id,
            "BENCH_EXPECTED": str(self.expected),
            "BENCH_THRESHOLD": str(self.threshold),
            "BENCH_STATE_DIR": self.state_dir,
        }


class ProgressClock:
    """Counts processed records and reports once the last one is done."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.first_at: float | None = None
        self.reported = False

    def tick(self) -> bool:
        """Count one record; True when this was the last."""
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.count += 1
        if self.count >= self.expected and not self.reported:
            self.reported = True
            seconds = time.perf_counter() - self.first_at
            line = json.dumps({"records": self.count, "seconds": seconds})
            sys.stdout.write(f"{RESULT_PREFIX}{line}\n")
            sys.stdout.flush()
            return True
        return False
