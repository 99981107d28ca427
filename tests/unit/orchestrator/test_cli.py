"""`orchestrator check` and `orchestrator replay`, without Kafka."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lifecycle_schemas.catalogue import DEPARTMENT_EVENT_TYPES
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.examples import EXAMPLES
from orchestrator.cli import main
from orchestrator.core.playbook import DEFAULT_PLAYBOOK_DIR


def test_check_accepts_the_default_playbook(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DEFAULT_PLAYBOOK_DIR)]) == 0
    assert "15 plays" in capsys.readouterr().out


def test_check_reports_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "playbook"
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, directory)
    owners = directory / "owners.yaml"
    owners.write_text(owners.read_text().replace("handoff: reassignment", "handoff: teleport", 1))
    assert main(["check", str(directory)]) == 1
    assert "owners.yaml:6: rules[0].handoff: Input should be" in capsys.readouterr().err


def test_check_dry_runs_actions_against_the_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "playbook"
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, directory)
    plays = directory / "plays.yaml"
    plays.write_text(
        plays.read_text().replace(
            "parameters: {topic: hot-lead}", "parameters: {topic: Hot Lead!}", 1
        )
    )
    assert main(["check", str(directory)]) == 1
    assert "play hot-lead: the play built an invalid action" in capsys.readouterr().err


def test_replay_prints_what_would_be_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = sorted(
        (r for t, r in EXAMPLES.items() if t in DEPARTMENT_EVENT_TYPES), key=lambda r: r.time
    )
    recorded = tmp_path / "events.jsonl"
    recorded.write_text("\n".join(encode_record(e).decode() for e in events) + "\n")
    assert main(["replay", "--plays", str(DEFAULT_PLAYBOOK_DIR), "--events", str(recorded)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    types = {line["decision"].get("type") for line in lines}
    assert "com.customerlifecycle.action.servicedesk.start-onboarding.v1" in types
    assert "com.customerlifecycle.action.servicedesk.prioritise-case.v1" in types
    assert not any(t and t.endswith("customer.profile.v1") for t in types)
    # Replaying is deterministic: the same file gives the same output.
    main(["replay", "--plays", str(DEFAULT_PLAYBOOK_DIR), "--events", str(recorded)])
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert again == lines


def test_replay_names_a_bad_record(tmp_path: Path) -> None:
    recorded = tmp_path / "events.jsonl"
    recorded.write_text('{"specversion": "1.0"}\n')
    with pytest.raises(SystemExit, match="record 1"):
        main(["replay", "--plays", str(DEFAULT_PLAYBOOK_DIR), "--events", str(recorded)])
