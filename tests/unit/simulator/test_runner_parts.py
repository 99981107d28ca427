"""Given the runner's pure parts, rate limiting and key loading behave."""

from __future__ import annotations

import json
from pathlib import Path

from company_simulator.runner import BATCH_SIZE, TokenBucket, load_api_keys
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
