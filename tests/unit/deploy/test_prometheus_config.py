"""Given deploy/prometheus, the real promtool accepts the config and every alert rule fires."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from lifecycle_admin.local_stack import local_prometheus_config
from lifecycle_admin.stack import SERVICES
from lifecycle_testing.paths import DEPLOY_DIR

PROMETHEUS_DIR = DEPLOY_DIR / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make setup` installs Debian's prometheus package"
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, check=False, cwd=PROMETHEUS_DIR
    )


def test_alert_rules_are_valid() -> None:
    rule_files = sorted(str(p) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert rule_files
    result = _promtool("check", "rules", *rule_files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_on_their_conditions() -> None:
    tests = sorted(str(p) for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    result = _promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_rule_has_a_test_that_fires_it() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "lifecycle.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested: set[str] = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["exp_alerts"]:
                    tested.add(check["alertname"])
    assert alerts == tested


def test_every_alert_rule_has_a_severity_a_summary_a_description_and_a_runbook() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "lifecycle.yml").read_text())
    for rule in (r for group in rules["groups"] for r in group["rules"] if "alert" in r):
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"], rule["alert"]
        assert annotations["description"], rule["alert"]
        assert annotations["runbook_url"] == f"deploy/README.md#{rule['alert'].lower()}"


def test_scrape_config_is_valid_and_covers_every_service() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    for service in SERVICES:
        assert targets[service.name] == [f"{service.name}:{service.port}"]


def test_local_run_config_points_every_job_at_this_machine(tmp_path: Path) -> None:
    config = local_prometheus_config(DEPLOY_DIR.parent)
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            assert all(t.startswith("127.0.0.1:") for t in static["targets"])
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
