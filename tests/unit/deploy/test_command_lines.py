"""Every command as an operator runs it: ``--version``, ``serve --help`` listing every setting,
a bad setting as one line and exit status 2, and ``lifecycle-admin keys create``. One of each
runs as a subprocess of its console script (the entry points, exit statuses and streams as a
shell sees them); the others call the same ``main`` in this process, a second each saved."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest
from pydantic import BaseModel

from department_kit.settings import settings_class
from lifecycle_schemas.departments import Department
from orchestrator.settings import OrchestratorSettings
from service_kit.api_keys import Scope, load_keys
from service_kit.command_line import settings_of
from service_kit.kafka_security import KafkaSecurity
from service_kit.server import HttpServerSettings
from service_kit.settings_errors import BAD_SETTINGS_EXIT_CODE

BIN = Path(sys.executable).parent
# Console script -> its distribution.
COMMANDS = {
    "marketing": "marketing-service",
    "sales": "sales-service",
    "service-desk": "service-desk-service",
    "orchestrator": "orchestrator",
    "lifecycle-admin": "lifecycle-admin",
    "simulate": "company-simulator",
    "lifecycle-bench": "lifecycle-bench",
}


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def entry_point(command: str) -> Callable[[list[str]], object]:
    """The ``main`` a console script runs (as its ``entry_points`` metadata names it)."""
    [script] = [s for s in entry_points(group="console_scripts") if s.name == command]
    main: Callable[[list[str]], object] = script.load()
    return main


def test_the_console_script_tells_its_version() -> None:
    finished = run("sales", "--version")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == f"sales {version('sales-service')}\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_tells_its_version(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        entry_point(command)(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"{command} {version(COMMANDS[command])}\n"


SERVE_SETTINGS: dict[str, tuple[type[BaseModel], ...]] = {
    "sales": (settings_class(Department.SALES), KafkaSecurity, HttpServerSettings),
    "orchestrator": (OrchestratorSettings, KafkaSecurity, HttpServerSettings),
}


def serve_help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        entry_point(command)(["serve", "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(SERVE_SETTINGS))
def test_serve_help_lists_every_setting_with_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    helped = serve_help(command, capsys)
    lines = helped.splitlines()
    settings = [s for model in SERVE_SETTINGS[command] for s in settings_of(model)]
    assert len(settings) >= 25
    for setting in settings:
        assert f"  {setting.variable}  [default: {setting.default}]" in lines, setting.variable
        meaning_start = " ".join(setting.meaning.split()[:4])
        assert meaning_start in " ".join(helped.split()), setting.variable


def test_sales_help_shows_its_own_port_and_no_other_department(
    capsys: pytest.CaptureFixture[str],
) -> None:
    helped = serve_help("sales", capsys)
    assert "  SALES_PORT  [default: 8102]" in helped
    assert "  SALES_WEBHOOK_SECRET  [default: unset]" in helped
    assert "MARKETING_" not in helped


@pytest.mark.parametrize(
    "model",
    [
        *(settings_class(department) for department in Department),
        OrchestratorSettings,
        KafkaSecurity,
        HttpServerSettings,
    ],
)
def test_every_setting_says_what_it_means(model: type[BaseModel]) -> None:
    settings = settings_of(model)
    assert len(settings) >= 4
    assert [s.variable for s in settings if len(s.meaning) < 8] == []


def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_2() -> None:
    finished = run("sales", "serve", env={"SALES_PORT": "abc"})
    assert finished.returncode == BAD_SETTINGS_EXIT_CODE
    assert finished.stdout == ""
    problem, where = finished.stderr.splitlines()
    assert problem == (
        "SALES_PORT: Input should be a valid integer, unable to parse string as an integer"
    )
    assert where.endswith("(docs/configuration.md)")


def test_every_department_and_the_orchestrator_name_the_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from department_kit.cli import main
    from department_kit.department import DepartmentSpec
    from marketing_service.department import SPEC as MARKETING
    from service_desk_service.department import SPEC as SERVICE_DESK

    specs: list[DepartmentSpec] = [MARKETING, SERVICE_DESK]
    for spec in specs:
        variable = f"{spec.department.value.upper().replace('-', '_')}_PORT"
        monkeypatch.setenv(variable, "70000")
        assert main(spec, ["serve"]) == BAD_SETTINGS_EXIT_CODE
        assert capsys.readouterr().err.startswith(f"{variable}: Input should be less than")
    monkeypatch.setenv("ORCHESTRATOR_SESSION_TTL_S", "-7")
    assert entry_point("orchestrator")(["serve"]) == BAD_SETTINGS_EXIT_CODE
    problem = capsys.readouterr().err.splitlines()[0]
    assert problem.startswith("ORCHESTRATOR_SESSION_TTL_S: Input should be greater than")
    assert "-7" not in problem  # a rejected value may be a secret


def test_keys_create_prints_the_key_once_and_stores_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys_file = tmp_path / "keys" / "api-keys.json"
    created = run(
        "lifecycle-admin",
        "keys",
        "create",
        "--department",
        "sales",
        "--scopes",
        "events:write,actions:read",
        env={"LIFECYCLE_API_KEYS_FILE": str(keys_file)},
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("lk_sales_")
    assert len(created.stdout.splitlines()) == 1
    assert key not in keys_file.read_text()
    assert key not in created.stderr

    admin = entry_point("lifecycle-admin")
    analyst = ["keys", "create", "--scopes", "reports:read", "--id", "analyst"]
    assert admin([*analyst, "--file", str(keys_file)]) == 0
    analyst_key = capsys.readouterr().out.strip()

    ring = load_keys(keys_file, None)
    entry = ring.identify(key)
    assert entry is not None
    assert (entry.department, entry.scopes) == (
        Department.SALES,
        frozenset({Scope.EVENTS_WRITE, Scope.ACTIONS_READ}),
    )
    analyst_entry = ring.identify(analyst_key)
    assert analyst_entry is not None
    assert (analyst_entry.id, analyst_entry.department, analyst_entry.scopes) == (
        "analyst",
        None,
        frozenset({Scope.REPORTS_READ}),
    )
    assert ring.identify(key + "x") is None


def test_keys_create_refuses_what_no_service_would_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = entry_point("lifecycle-admin")
    keys_file = tmp_path / "api-keys.json"
    keys_file.write_text(json.dumps({"keys": []}))
    keys_file.chmod(0o640)
    create = ["keys", "create", "--file", str(keys_file), "--scopes"]

    assert admin([*create, "events:write"]) == 1
    printed = capsys.readouterr()
    assert "need a department" in printed.err
    assert printed.out == ""
    with pytest.raises(SystemExit) as exited:
        admin([*create, "everything"])
    assert exited.value.code == 2
    assert "unknown scope everything" in capsys.readouterr().err
    assert json.loads(keys_file.read_text()) == {"keys": []}

    assert admin([*create, "admin", "--id", "ops"]) == 0
    assert admin([*create, "admin", "--id", "ops"]) == 1
    assert "already has a key with the id 'ops'" in capsys.readouterr().err
    assert len(json.loads(keys_file.read_text())["keys"]) == 1
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o640  # the file keeps its mode


def test_keys_create_names_the_segments_a_segment_managers_key_may_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = entry_point("lifecycle-admin")
    keys_file = tmp_path / "api-keys.json"
    create = ["keys", "create", "--file", str(keys_file), "--scopes"]
    assert admin([*create, "reports:read", "--segments", "new-lead"]) == 1
    assert "segments:write" in capsys.readouterr().err
    manager = [*create, "segments:write", "--segments", "new-lead,onboarding", "--id", "dg"]
    assert admin(manager) == 0
    key = capsys.readouterr().out.strip()
    (entry,) = load_keys(keys_file, None).entries
    assert (entry.id, entry.segments) == ("dg", frozenset({"new-lead", "onboarding"}))
    assert load_keys(keys_file, None).identify(key) == entry
