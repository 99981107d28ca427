"""Given the runner's pure parts, rate limiting, key loading and the clock mapping behave."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from company_simulator.runner import BATCH_SIZE, SimulatedClock, TokenBucket, load_api_keys
from company_simulator.world import action_deadline
from lifecycle_schemas.departments import Department


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_token_bucket_grants_at_most_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50.0, clock)
    assert bucket.take(500) == BATCH_SIZE  # one burst
    assert bucket.take(10) == 0
    clock.now += 1.0
    assert bucket.take(500) == 50
    clock.now += 100.0
    assert bucket.take(500) == BATCH_SIZE  # bursts never exceed one batch


def test_keys_are_read_from_the_file_make_run_writes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {
        "local-marketing": "k1", "local-sales": "k2", "local-service-desk": "k3",
    }}))  # fmt: skip
    assert load_api_keys(str(path)) == {
        Department.MARKETING: "k1",
        Department.SALES: "k2",
        Department.SERVICE_DESK: "k3",
    }


def test_a_real_deadline_maps_onto_the_simulated_clock() -> None:
    # make run: one simulated day per real minute, the orchestrator's 4h deadline is 10 s.
    real_start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    simulated_start = datetime(2026, 11, 23, 12, 0, 3, tzinfo=UTC)
    clock = SimulatedClock(real_start, simulated_start, speed=1440.0)
    emitted = real_start + timedelta(seconds=30)
    real_deadline = emitted + timedelta(seconds=10)
    assert clock.simulated(emitted) == simulated_start + timedelta(hours=12)
    assert clock.simulated(real_deadline) - clock.simulated(emitted) == timedelta(hours=4)
    assert clock.real(clock.simulated(real_deadline)) == real_deadline


def test_the_deadline_is_read_from_an_inbox_item() -> None:
    item = {"action_id": "a1", "deadline": "2026-11-23T12:00:10Z"}
    assert action_deadline(item) == datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)
    nested = {"record": {"data": {"deadline": "2026-11-23T12:00:10"}}}  # naive: taken as UTC
    assert action_deadline(nested) == datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)
    assert action_deadline({"action_id": "a2"}) is None
