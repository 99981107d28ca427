"""Playbook files: validation with file, line and field; durations; the LTV worked example."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.core.ltv import predicted_lifetime_value_minor, retention_probability
from orchestrator.core.playbook import (
    DEFAULT_PLAYBOOK_DIR,
    PlaybookError,
    load_playbook,
    parse_duration,
)
from orchestrator.core.state import CustomerState
from orchestrator.core.timescale import WALL_CLOCK


def copy_playbook(tmp_path: Path) -> Path:
    target = tmp_path / "playbook"
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, target)
    return target


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(directory)
    return [str(p) for p in caught.value.problems]


def test_default_playbook_is_valid() -> None:
    playbook = load_playbook()
    assert {p.id for p in playbook.plays} >= {
        "urgent-case-high-value",
        "hot-lead",
        "deal-won-onboarding",
        "complaint-retention",
        "detractor-retention",
        "renewal-healthy",
        "consent-withdrawn",
        "erasure-marketing",
    }
    assert {s.id for s in playbook.segments} >= {
        "value-platinum",
        "value-gold",
        "value-silver",
        "new-lead",
        "active-opportunity",
        "onboarding",
        "loyal",
        "at-risk",
        "churned",
        "key-account-fischer-logistik",
    }


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "segments.yaml",
            "when: customer.ltv >= 100000.0 && !customer.churned",
            "when: customer.ltv >= && 1",
            "segments.yaml:{line}: segments[0].when: invalid CEL",
        ),
        (
            "plays.yaml",
            "trigger: {event: servicedesk.case.opened}",
            "trigger: {event: servicedesk.case.exploded}",
            "plays.yaml:{line}: plays[0].trigger: Value error, unknown event type",
        ),
        (
            "plays.yaml",
            "type: servicedesk.prioritise-case",
            "type: servicedesk.fix-everything",
            "plays.yaml:{line}: plays[0].actions[0]: Value error, unknown action type",
        ),
        (
            "plays.yaml",
            "priority: urgent\n",
            "priority: whenever\n",
            "plays.yaml:{line}: plays[0].actions[0].priority: Input should be",
        ),
        (
            "plays.yaml",
            "trigger: {segment_entered: at-risk}",
            "trigger: {segment_entered: vip}",
            "unknown segment 'vip'",
        ),
        (
            "policy.yaml",
            "window: 7d",
            "window: a week",
            "policy.yaml:{line}: frequency_caps[0].window",
        ),
        (
            "owners.yaml",
            "when: customer.churned",
            "when: shopper.churned",
            "owners.yaml:{line}: rules[0].when: unknown variables ['shopper']",
        ),
        (
            "segments.yaml",
            "  - id: value-gold",
            "  - id: value-platinum",
            "segments.yaml:{line}: segments[1].id: duplicate id 'value-platinum'",
        ),
    ],
)
def test_invalid_playbook_names_file_line_and_field(
    tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    directory = copy_playbook(tmp_path)
    # The problem names the line that was broken (the first place ``old`` stood).
    original = (directory / file).read_text()
    line = original.count("\n", 0, original.index(old)) + 1
    replace_in(directory / file, old, new)
    expected = expected.format(line=line)
    assert any(expected in problem for problem in problems_of(directory)), problems_of(directory)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    directory = copy_playbook(tmp_path)
    (directory / "owners.yaml").unlink()
    assert problems_of(directory) == ["owners.yaml: (file): file is missing"]


def test_broken_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    directory = copy_playbook(tmp_path)
    (directory / "policy.yaml").write_text("contact_kinds:\n  a: [\n")
    assert problems_of(directory)[0].startswith("policy.yaml:3: (file): not YAML")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("4h", 14400), ("7d", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "7", "1w", "-1d", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_ltv_worked_example() -> None:
    # docs/orchestrator.md: EUR 12,000 in a year, r = 0.8, EUR 10,000 pipeline -> EUR 35,000.
    state = CustomerState(
        customer_id="c-1",
        currency="EUR",
        revenue_to_date_minor=1_200_000,
        purchases=1,
        first_purchase_at=NOW - timedelta(days=365),
        open_opportunities={"opp-1": 1_000_000},
    )
    assert predicted_lifetime_value_minor(state, NOW, WALL_CLOCK) == 3_500_000


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, 0.8),
        ({"complaints": [NOW - timedelta(days=10)]}, 0.65),
        ({"complaints": [NOW - timedelta(days=200)]}, 0.8),
        ({"open_cases": {"c": "P1"}}, 0.7),
        ({"open_cases": {"c": "P3"}}, 0.8),
        ({"last_nps": 3}, 0.7),
        ({"last_nps": 10}, 0.85),
        ({"churned_at": NOW}, 0.0),
    ],
)
def test_retention_probability_moves_with_health(
    changes: dict[str, object], expected: float
) -> None:
    state = CustomerState.model_validate({"customer_id": "c-1", **changes})
    assert retention_probability(state, NOW, WALL_CLOCK) == pytest.approx(expected)


def test_ltv_of_a_prospect_is_its_weighted_pipeline() -> None:
    state = CustomerState(
        customer_id="c-1", currency="EUR", open_opportunities={"a": 100_000, "b": 50_000}
    )
    assert predicted_lifetime_value_minor(state, NOW, WALL_CLOCK) == 45_000


def test_ltv_spreads_revenue_over_the_years() -> None:
    state = CustomerState(
        customer_id="c-1",
        currency="EUR",
        revenue_to_date_minor=2_400_000,
        purchases=2,
        first_purchase_at=NOW - timedelta(days=730),
    )
    assert predicted_lifetime_value_minor(state, NOW, WALL_CLOCK) == 3_200_000
