"""Orchestrator workers as real processes (``python -m orchestrator.cli serve``) for the test tiers.

One implementation for every suite that runs workers (integration, chaos); each suite picks its
own playbook directory and topic namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.processes import free_port, get_json, poll_json

START_TIMEOUT_S = 60.0


@dataclass
class Worker:
    """One `python -m orchestrator.cli serve` process."""

    namespace: KafkaNamespace
    data_dir: Path
    log_path: Path
    playbook_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # More variables for the process (KAFKA_SECURITY_*, ...).
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Worker:
        """Start the process and wait until its ``/readyz`` says ready."""
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.namespace.bootstrap_servers,
            "LIFECYCLE_TOPIC_PREFIX": self.namespace.prefix,
            "ORCHESTRATOR_PORT": str(self.port),
            "ORCHESTRATOR_DATA_DIR": str(self.data_dir),
            "ORCHESTRATOR_PLAYBOOK_DIR": str(self.playbook_dir),
            "ORCHESTRATOR_DEADLINE_CHECK_S": "1",
            **self.environment,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        poll_json(f"{self.url}/readyz", lambda body: body.get("status") == "ready", START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        """SIGTERM (a graceful stop), killed when it takes longer than 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def get(self, path: str) -> Any:
        return get_json(f"{self.url}{path}")


@contextmanager
def worker_starter(
    namespace: KafkaNamespace, playbook_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Worker]]:
    """A function starting workers on ``namespace`` with ``playbook_dir``; all stopped at exit.

    ``make(data_dir)`` reuses a data directory (a restart after a crash); without one each
    worker gets a fresh directory.
    """
    started: list[Worker] = []

    def make(data_dir: Path | None = None) -> Worker:
        base = tmp_path_factory.mktemp("worker")
        worker = Worker(namespace, data_dir or base / "data", base / "worker.log", playbook_dir)
        started.append(worker)
        return worker.start()

    try:
        yield make
    finally:
        for worker in started:
            worker.stop()
