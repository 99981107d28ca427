"""`make run`'s runner (``lifecycle-admin run-local``) in a test: the session's broker, free
ports, a state directory and a topic namespace of the test's own.

The namespace is what keeps two such tests apart on one broker: with the default (unprefixed)
topics, the second stack's orchestrator joined the first one's consumer group, restored its
customers from the changelogs and consumed its leftover events.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lifecycle_admin.local_stack import BROKER_TIMEOUT_S, HEALTH_TIMEOUT_S
from lifecycle_admin.stack import SERVICES
from lifecycle_testing.kafka import KafkaBroker
from lifecycle_testing.paths import REPOSITORY_ROOT
from lifecycle_testing.processes import free_port, wait_for_line
from service_kit.api_keys import OPERATOR_KEY_ID, PLAIN_KEYS_FILE_NAME

# run-local's own bounds: the broker, then each process it starts (every service and
# Prometheus) in turn; one not answering by then is reported DOWN, which the tests assert
# against. Under load, starting Python processes alone took a minute: a shorter wait here failed
# a stack the runner still accepted.
STACK_READY_TIMEOUT_S = BROKER_TIMEOUT_S + HEALTH_TIMEOUT_S * (len(SERVICES) + 1)
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocalStack:
    """A running ``run-local``: where its parts listen and write."""

    ports: Mapping[str, int]  # by each service's port variable, and PROMETHEUS_PORT
    prefix: str
    state_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def url(self, port_variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[port_variable]}"

    @property
    def simulator_log(self) -> Path:
        return self.state_dir / "logs" / "simulator.log"

    @property
    def operator_key(self) -> str:
        """The plain ``local-operator`` key run-local wrote (every orchestrator scope)."""
        plain = self.state_dir / "keys" / PLAIN_KEYS_FILE_NAME
        key: str = json.loads(plain.read_text())["keys"][OPERATOR_KEY_ID]
        return key

    def output(self) -> str:
        """What the runner printed so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def local_stack(
    kafka_broker: KafkaBroker, directory: Path, environment: Mapping[str, str | None]
) -> Iterator[LocalStack]:
    """Start ``run-local`` against the session broker and wait for "stack ready"; Ctrl-C it at
    the end and check it stopped cleanly. ``environment`` adds variables (None removes one)."""
    ports = {service.port_env: free_port() for service in SERVICES}
    ports["PROMETHEUS_PORT"] = free_port()
    prefix = f"run-{uuid.uuid4().hex[:10]}."
    state_dir = directory / "state"
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "LIFECYCLE_TOPIC_PREFIX": prefix,
        "LIFECYCLE_STATE_DIR": str(state_dir),
    }
    for name, value in environment.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    log_path = directory / "run.log"
    with log_path.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "lifecycle_admin", "run-local"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPOSITORY_ROOT,
        )
    try:
        wait_for_line(log_path, "stack ready", runner, STACK_READY_TIMEOUT_S)
        yield LocalStack(ports, prefix, state_dir, log_path, runner)
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            exit_code = runner.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
            raise
    output = log_path.read_text(errors="replace")
    assert exit_code == 0, output
    assert "stopping" in output
