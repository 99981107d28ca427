"""`orchestrator check` and `replay`, without Kafka; and `serve` when Kafka is not there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle_schemas.catalogue import DEPARTMENT_EVENT_TYPES
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.examples import EXAMPLES
from orchestrator.cli import main
from orchestrator.core.playbook import DEFAULT_PLAYBOOK_DIR
from service_kit.settings_errors import BAD_SETTINGS_EXIT_CODE


def test_check_accepts_the_default_playbook(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DEFAULT_PLAYBOOK_DIR)]) == 0
    out = capsys.readouterr().out
    assert "16 plays" in out
    assert "4 process owners" in out


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


def test_serve_without_kafka_says_so_in_one_line_and_exits(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens on port 1
        "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"),
    }
    finished = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    lines = [
        json.loads(line) for line in finished.stdout.splitlines() + finished.stderr.splitlines()
    ]
    last = lines[-1]
    assert (last["message"], last["bootstrap_servers"]) == ("cannot reach Kafka", "127.0.0.1:1")
    assert "Traceback" not in finished.stdout + finished.stderr


def test_serve_with_a_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_TIME_SCALE", "fast")
    assert main(["serve"]) == BAD_SETTINGS_EXIT_CODE
    assert capsys.readouterr().err.splitlines() == [
        "ORCHESTRATOR_TIME_SCALE: Input should be a valid number, unable to parse string as a"
        " number",
        "1 problem(s) in the settings of the orchestrator (docs/configuration.md)",
    ]


def test_serve_with_a_broken_playbook_lists_its_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "playbook"
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, directory)
    owners = directory / "owners.yaml"
    owners.write_text(owners.read_text().replace("handoff: reassignment", "handoff: teleport", 1))
    monkeypatch.setenv("ORCHESTRATOR_PLAYBOOK_DIR", str(directory))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "owners.yaml:" in err
    assert "handoff" in err
    assert err.splitlines()[-1] == f"1 problem(s) in {directory}"
