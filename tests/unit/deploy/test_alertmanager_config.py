"""Given deploy/alertmanager's example, the real amtool accepts it and routes every shipped
alert where the production guide says (deploy/README.md, "Runbooks")."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from lifecycle_schemas.departments import Department
from lifecycle_testing.paths import DEPLOY_DIR

CONFIG = DEPLOY_DIR / "alertmanager" / "alertmanager.yml"
RULES = DEPLOY_DIR / "prometheus" / "rules" / "lifecycle.yml"
DEPARTMENTS = [d.value for d in Department]


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("amtool")
    assert tool, "amtool is missing: `make setup` installs Debian's prometheus-alertmanager"
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False)


def receivers_for(labels: dict[str, str]) -> set[str]:
    """The receivers the example sends an alert with ``labels`` to, as amtool routes it."""
    pairs = [f"{name}={value}" for name, value in sorted(labels.items())]
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *pairs)
    assert result.returncode == 0, result.stdout + result.stderr
    return set(result.stdout.strip().split(","))


def shipped_alerts() -> list[dict[str, str]]:
    """The label sets of every shipped alert, one per department for a department's alerts."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts: list[dict[str, str]] = []
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        labels = {"alertname": rule["alert"], **rule["labels"]}
        # A department comes from the rule's labels, from the metric (`by (department, ...)`) or
        # from a label_replace that writes it (`"department", "$1", ...`).
        expr = rule["expr"]
        if "department" in labels or "by (department" in expr or '"department", "$1"' in expr:
            alerts.extend({**labels, "department": d} for d in DEPARTMENTS)
        else:
            alerts.append(labels)
    return alerts


def expected_receivers(labels: dict[str, str]) -> set[str]:
    """The policy deploy/README.md describes: critical pages the platform, a department's alerts
    go to its team (its on-call when critical), the playbook's to their owners, else the chat."""
    critical = labels["severity"] == "critical"
    if "department" in labels:
        team = f"{labels['department']}-{'oncall' if critical else 'team'}"
        return {"platform-oncall", team} if critical else {team}
    if critical:
        return {"platform-oncall"}
    if labels.get("team") == "playbook":
        return {"playbook-owners"}
    return {"platform-chat"}


def test_amtool_accepts_the_example() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_receiver_is_defined_and_every_defined_one_is_used() -> None:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    defined = {receiver["name"] for receiver in config["receivers"]}

    def referenced(route: dict[str, Any]) -> set[str]:
        own = {route["receiver"]} if "receiver" in route else set()
        return own.union(*(referenced(child) for child in route.get("routes", [])))

    assert referenced(config["route"]) == defined


@pytest.mark.parametrize(
    "labels",
    shipped_alerts(),
    ids=lambda labels: "-".join(labels[k] for k in ("alertname", "department") if k in labels),
)
def test_each_shipped_alert_reaches_its_receivers(labels: dict[str, str]) -> None:
    assert labels["severity"] in {"critical", "warning", "info"}
    assert receivers_for(labels) == expected_receivers(labels)


def test_every_department_has_its_team_and_on_call() -> None:
    for department in DEPARTMENTS:
        assert receivers_for({"severity": "warning", "department": department}) == {
            f"{department}-team"
        }
        assert receivers_for({"severity": "critical", "department": department}) == {
            "platform-oncall",
            f"{department}-oncall",
        }
