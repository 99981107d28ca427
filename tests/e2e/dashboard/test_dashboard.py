"""Given `make run`'s stack with a 10 % control group, the dashboard shows live data in every view
in headless Chromium (Debian's, driven by Playwright), the proof-of-value report splits treated from
control with intervals, and the siloed run of the same seed has conflicting contacts.

Screenshots go to ``test-artifacts/dashboard/`` (and the README's to ``docs/images/``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from lifecycle_admin.stack import SERVICES
from lifecycle_testing.kafka import KafkaBroker
from lifecycle_testing.paths import REPOSITORY_ROOT
from lifecycle_testing.processes import free_port, poll_json, wait_for_line
from orchestrator.core.playbook import DEFAULT_PLAYBOOK_DIR

STACK_READY_TIMEOUT_S = 60.0
LIVE_DATA_TIMEOUT_S = 120.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPOSITORY_ROOT / "test-artifacts" / "dashboard"
README_SCREENSHOT = REPOSITORY_ROOT / "docs" / "images" / "dashboard.png"
VIEWS = ("flow", "funnel", "customer", "plays", "proof")


def playbook_with_control_group(directory: Path, share: float) -> Path:
    """A copy of the default playbook with the control group switched on."""
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, directory)
    policy = directory / "policy.yaml"
    lines = [
        line
        for line in policy.read_text().splitlines()
        if not line.startswith("control_group_share:")
    ]
    policy.write_text("\n".join([*lines, f"control_group_share: {share}"]) + "\n")
    return directory


def both_groups_and_a_siloed_twin(body: dict[str, Any]) -> bool:
    groups = body["groups"]
    return (
        groups["treated"]["customers"] > 0
        and groups["control"]["customers"] > 0
        and "coordinated" in body["simulation"]
        # The siloed twin reaches its first promotion during an urgent case within 60 days.
        and body["simulation"].get("siloed", {}).get("conflicting_contacts", 0) > 0
    )


def test_dashboard_shows_live_data_in_every_view(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    ports = {service.port_env: str(free_port()) for service in SERVICES}
    simulation = tmp_path / "simulation"
    log_path = tmp_path / "run.log"
    environment = {
        **os.environ,
        **ports,
        "PROMETHEUS_PORT": str(free_port()),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "LIFECYCLE_STATE_DIR": str(tmp_path / "state"),
        "LIFECYCLE_SIMULATOR_ARGS": "--customers 300 --days-per-minute 90 --rate 300 --sim-days 60",
        "ORCHESTRATOR_PLAYBOOK_DIR": str(playbook_with_control_group(tmp_path / "playbook", 0.1)),
        "ORCHESTRATOR_SIMULATION_DIR": str(simulation),
        "SIMULATOR_REPORT_DIR": str(simulation),
    }
    with log_path.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "lifecycle_admin", "run-local"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPOSITORY_ROOT,
        )
    try:
        wait_for_line(log_path, "stack ready", runner, STACK_READY_TIMEOUT_S)
        base = f"http://127.0.0.1:{ports['ORCHESTRATOR_PORT']}"
        report = poll_json(
            f"{base}/v1/reports/proof-of-value", both_groups_and_a_siloed_twin, LIVE_DATA_TIMEOUT_S
        )
        for group in ("treated", "control"):
            measures = report["groups"][group]
            rate = measures["conversion_rate"]
            assert rate["n"] == measures["customers"]
            assert 0.0 <= rate["low"] <= rate["value"] <= rate["high"] <= 1.0
            handoff = measures["handoff_hours"]
            assert set(handoff) == {"median", "low", "high", "p90", "n"}
            assert isinstance(measures["missed_deadlines"], int)

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{base}/dashboard")
                page.locator("#recent button").first.wait_for(timeout=LIVE_DATA_TIMEOUT_S * 1000)
                page.locator("#recent button").first.click()
                for view in VIEWS:
                    page.locator(f"section#{view}.live").wait_for(
                        timeout=LIVE_DATA_TIMEOUT_S * 1000
                    )
                # Rates per minute need two samples of the counters; every department's events
                # reach the orchestrator within seconds of each other.
                page.wait_for_function(
                    "document.getElementById('flow-events').textContent !== '\u2013'"
                    " && document.querySelectorAll('#flow-rows tr').length >= 3",
                    timeout=LIVE_DATA_TIMEOUT_S * 1000,
                )
                assert page.locator("#segment-rows tr").count() > 0
                # Budget spent per segment: the core charges every sent action's cost.
                page.wait_for_function(
                    "[...document.querySelectorAll('#segment-rows td[data-spent-minor]')]"
                    ".some(td => Number(td.dataset.spentMinor) > 0)",
                    timeout=LIVE_DATA_TIMEOUT_S * 1000,
                )
                assert page.locator("#play-rows tr").count() > 0
                assert page.locator("#proof-charts svg").count() == 6
                assert page.locator("#sim-charts svg").count() == 5
                assert page.locator("#customer-id").inner_text()
                assert page.locator("#customer-card .why li").count() > 0
                for view in VIEWS:
                    page.locator(f"section#{view}").screenshot(path=ARTIFACTS / f"{view}.png")
                page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
                README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=README_SCREENSHOT, full_page=True)
            finally:
                browser.close()
    finally:
        runner.send_signal(signal.SIGINT)
        exit_code = runner.wait(timeout=60)
    assert exit_code == 0, log_path.read_text()
