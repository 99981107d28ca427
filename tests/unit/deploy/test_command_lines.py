"""Every command as an operator runs it (a subprocess of its console script): ``--version``,
``serve --help`` listing every setting, a bad setting as one line and exit status 2, and
``lifecycle-admin keys create``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from importlib.metadata import version
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


def test_every_command_tells_its_version() -> None:
    # Started together: each is a fresh interpreter importing its package.
    started = {
        name: subprocess.Popen(
            [str(BIN / name), "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in COMMANDS
    }
    for name, process in started.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, (name, err.decode())
        assert out.decode().strip() == f"{name} {version(COMMANDS[name])}"


SERVE_SETTINGS: dict[str, tuple[type[BaseModel], ...]] = {
    "sales": (settings_class(Department.SALES), KafkaSecurity, HttpServerSettings),
    "orchestrator": (OrchestratorSettings, KafkaSecurity, HttpServerSettings),
}


@pytest.mark.parametrize("command", sorted(SERVE_SETTINGS))
def test_serve_help_lists_every_setting_with_its_default(command: str) -> None:
    finished = run(command, "serve", "--help")
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    settings = [s for model in SERVE_SETTINGS[command] for s in settings_of(model)]
    assert len(settings) >= 25
    for setting in settings:
        assert f"  {setting.variable}  [default: {setting.default}]" in lines, setting.variable
        meaning_start = " ".join(setting.meaning.split()[:4])
        assert meaning_start in " ".join(finished.stdout.split()), setting.variable


def test_sales_help_shows_its_own_port_and_no_other_department() -> None:
    helped = run("sales", "serve", "--help").stdout
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


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("sales", "SALES_PORT", "abc"),
        ("orchestrator", "ORCHESTRATOR_SESSION_TTL_S", "3"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_2(
    command: str, variable: str, value: str
) -> None:
    finished = run(command, "serve", env={variable: value})
    assert finished.returncode == BAD_SETTINGS_EXIT_CODE
    assert finished.stdout == ""
    problem, where = finished.stderr.splitlines()
    assert problem.startswith(f"{variable}: ")
    assert value not in problem  # a rejected value may be a secret
    assert where.endswith("(docs/configuration.md)")


def test_every_department_names_its_own_port(
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


def test_keys_create_prints_the_key_once_and_stores_its_hash(tmp_path: Path) -> None:
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

    operator = run(
        "lifecycle-admin",
        "keys",
        "create",
        "--scopes",
        "reports:read",
        "--id",
        "analyst",
        "--file",
        str(keys_file),
    )
    assert operator.returncode == 0, operator.stderr

    ring = load_keys(keys_file, None)
    entry = ring.identify(key)
    assert entry is not None
    assert (entry.department, entry.scopes) == (
        Department.SALES,
        frozenset({Scope.EVENTS_WRITE, Scope.ACTIONS_READ}),
    )
    analyst = ring.identify(operator.stdout.strip())
    assert analyst is not None
    assert (analyst.id, analyst.department, analyst.scopes) == (
        "analyst",
        None,
        frozenset({Scope.REPORTS_READ}),
    )
    assert ring.identify(key + "x") is None


def test_keys_create_refuses_what_no_service_would_accept(tmp_path: Path) -> None:
    keys_file = tmp_path / "api-keys.json"
    keys_file.write_text(json.dumps({"keys": []}))
    keys_file.chmod(0o640)
    refused = [
        run(
            "lifecycle-admin",
            "keys",
            "create",
            "--scopes",
            "events:write",
            "--file",
            str(keys_file),
        ),
        run(
            "lifecycle-admin", "keys", "create", "--scopes", "everything", "--file", str(keys_file)
        ),
    ]
    assert [r.returncode for r in refused] == [1, 2]
    assert "need a department" in refused[0].stderr
    assert "unknown scope everything" in refused[1].stderr
    assert json.loads(keys_file.read_text()) == {"keys": []}
    assert [r.stdout for r in refused] == ["", ""]

    args = ("keys", "create", "--scopes", "admin", "--id", "ops", "--file", str(keys_file))
    assert run("lifecycle-admin", *args).returncode == 0
    again = run("lifecycle-admin", *args)
    assert again.returncode == 1
    assert "already has a key with the id 'ops'" in again.stderr
    assert len(json.loads(keys_file.read_text())["keys"]) == 1
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o640  # the file keeps its mode
