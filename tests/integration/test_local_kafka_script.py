"""Given the session broker, deploy/local/kafka is idempotent and tells the truth about state."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lifecycle_testing.kafka import KafkaBroker
from lifecycle_testing.paths import KAFKA_SCRIPT


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_SCRIPT), *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_start_on_a_running_broker_returns_its_address_and_starts_nothing(
    kafka_broker: KafkaBroker,
) -> None:
    if kafka_broker.data_dir is None:
        # An external cluster: the script must hand back that cluster, not start a broker.
        again = _script("start")
        assert again.returncode == 0
        assert again.stdout.strip().splitlines()[-1] == os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    pid_before = (kafka_broker.data_dir / "kafka.pid").read_text()
    again = _script("start", "--free-ports", "--dir", str(kafka_broker.data_dir))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == kafka_broker.bootstrap_servers
    assert (kafka_broker.data_dir / "kafka.pid").read_text() == pid_before
    status = _script("status", "--dir", str(kafka_broker.data_dir))
    assert status.returncode == 0
    assert f"bootstrap={kafka_broker.bootstrap_servers}" in status.stdout


def test_status_and_stop_of_a_broker_that_never_ran(tmp_path: Path) -> None:
    env_free = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    status = subprocess.run(
        [str(KAFKA_SCRIPT), "status", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env=env_free,
    )
    assert status.returncode == 3
    assert "stopped" in status.stdout
    stop = subprocess.run(
        [str(KAFKA_SCRIPT), "stop", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env=env_free,
    )
    assert stop.returncode == 0
    assert "not running" in stop.stderr
