"""Given the session broker, `make run`'s runner brings the stack up, traffic flows from the
simulator through the department services into Prometheus, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from lifecycle_admin.stack import SERVICES
from lifecycle_testing.kafka import KafkaBroker
from lifecycle_testing.paths import REPOSITORY_ROOT
from lifecycle_testing.processes import free_port, poll_json, wait_for_line

STACK_READY_TIMEOUT_S = 60.0


def test_local_run_serves_live_traffic_then_stops_on_ctrl_c(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    ports = {service.port_env: str(free_port()) for service in SERVICES}
    prometheus_port = free_port()
    log_path = tmp_path / "run.log"
    environment = {
        **os.environ,
        **ports,
        "PROMETHEUS_PORT": str(prometheus_port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "LIFECYCLE_STATE_DIR": str(tmp_path / "state"),
        # A small, fast company so every department has sent events within seconds.
        "LIFECYCLE_SIMULATOR_ARGS": "--customers 300 --days-per-minute 60 --rate 300",
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
        output = wait_for_line(log_path, "stack ready", runner, STACK_READY_TIMEOUT_S)
        assert f"kafka       {kafka_broker.bootstrap_servers}" in output
        assert "DOWN" not in output
        for service in SERVICES:
            if service.is_installed():
                assert f"http://127.0.0.1:{ports[service.port_env]}  [up  ]" in output

        prometheus = f"http://127.0.0.1:{prometheus_port}"
        rules = poll_json(
            f"{prometheus}/api/v1/rules", lambda body: bool(body["data"]["groups"]), 30
        )
        loaded = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
        assert {"ServiceDown", "KafkaBrokerDown", "ConsumerLagGrowing"} <= loaded
        targets = poll_json(
            f"{prometheus}/api/v1/targets",
            lambda body: len(body["data"]["activeTargets"]) == len(SERVICES) + 1,
            30,
        )
        scrape_urls = {t["scrapeUrl"] for t in targets["data"]["activeTargets"]}
        for service in SERVICES:
            assert f"http://127.0.0.1:{ports[service.port_env]}/metrics" in scrape_urls
        poll_json(
            f"{prometheus}/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D",
            lambda body: [r["value"][1] for r in body["data"]["result"]] == ["1"],
            30,
        )
        # The simulator's events reach Kafka through every department service, and Prometheus
        # sees them in the services' own metrics.
        published = poll_json(
            f"{prometheus}/api/v1/query?query="
            + quote("sum by (job) (lifecycle_events_published_total)"),
            lambda body: (
                {r["metric"]["job"] for r in body["data"]["result"]}
                >= {"marketing", "sales", "service-desk"}
            ),
            90,
        )
        assert all(float(r["value"][1]) > 0 for r in published["data"]["result"])
        simulator_log = (tmp_path / "state" / "logs" / "simulator.log").read_text()
        assert "rejected 0" in simulator_log
    finally:
        runner.send_signal(signal.SIGINT)
        exit_code = runner.wait(timeout=60)
    assert exit_code == 0, log_path.read_text()
    assert "stopping" in log_path.read_text()
