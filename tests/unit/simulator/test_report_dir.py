"""`simulate --report-dir`: summaries by mode, with a siloed twin of the same seed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from company_simulator.cli import main, siloed_twin, summarise
from company_simulator.world import Mode

START = datetime(2026, 1, 5, tzinfo=UTC)


def siloed_summary(customers: int, seed: int, days: int) -> dict[str, object]:
    twin = siloed_twin(customers, seed, START)
    twin.advance(START + timedelta(days=days))
    return summarise(twin.tally, None, Mode.SILOED, customers)


def test_siloed_twin_is_reproducible_for_a_seed_and_has_conflicting_contacts() -> None:
    first = siloed_summary(600, 7, 40)
    assert first == siloed_summary(600, 7, 40)
    assert first["mode"] == "siloed"
    assert isinstance(first["conflicting_contacts"], int)
    assert first["conflicting_contacts"] > 0


def test_offline_coordinated_run_writes_baseline_and_its_own_summary(tmp_path: Path) -> None:
    code = main(
        ["--offline", "--customers", "200", "--sim-days", "20", "--report-dir", str(tmp_path)]
    )
    assert code == 0
    siloed = json.loads((tmp_path / "siloed.json").read_text())
    coordinated = json.loads((tmp_path / "coordinated.json").read_text())
    assert siloed["mode"] == "siloed"
    assert coordinated["mode"] == "coordinated"
    assert siloed["customers"] == coordinated["customers"] == 200
    assert not list(tmp_path.glob("*.partial"))
