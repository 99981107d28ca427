"""Orchestrator workers as real processes (``python -m orchestrator.cli serve``) for the test tiers.

One implementation for every suite that runs workers (integration, chaos); each suite picks its
own playbook directory and topic namespace.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.processes import exit_report, free_port, get_json, start_logged
from lifecycle_testing.waiting import eventually
from service_kit.api_keys import ORCHESTRATOR_SCOPES, Scope, hash_key, new_key

# A worker is ready once it joined its group and restored its tables: 5-15 s on a quiet 2-core
# machine; over 60 s was seen with the broker's group coordinator slow at load 15-21. A worker
# that exits fails the wait at once (give_up), so the long ceiling only waits on live ones.
START_TIMEOUT_S = 150.0


@dataclass(frozen=True)
class OperatorKeys:
    """The keys test workers accept: an operator with every orchestrator scope, and one key per
    single scope (a key without the scope a route needs gets 403); one cluster secret."""

    operator: str = field(default_factory=new_key)
    by_scope: dict[Scope, str] = field(
        default_factory=lambda: {scope: new_key() for scope in ORCHESTRATOR_SCOPES}
    )
    cluster_secret: str = field(default_factory=lambda: new_key().replace("lk_op_", "cluster-"))
    # A segment manager: `segments:write` for the onboarding segment only.
    segment_manager: str = field(default_factory=new_key)

    def keys_json(self) -> str:
        """``LIFECYCLE_API_KEYS`` for the workers."""
        entries = [
            {
                "id": "test-operator",
                "scopes": sorted(s.value for s in ORCHESTRATOR_SCOPES),
                "sha256": hash_key(self.operator),
            },
            *(
                {
                    "id": f"test-{scope.value.replace(':', '-')}",
                    "scopes": [scope.value],
                    "sha256": hash_key(key),
                }
                for scope, key in self.by_scope.items()
            ),
            {
                "id": "test-segment-manager",
                "scopes": [Scope.SEGMENTS_WRITE.value],
                "segments": ["onboarding"],
                "sha256": hash_key(self.segment_manager),
            },
        ]
        return json.dumps({"keys": entries})

    def headers(self, scope: Scope | None = None) -> dict[str, str]:
        """Authorization for the operator (every scope), or for a key holding ``scope`` only."""
        key = self.operator if scope is None else self.by_scope[scope]
        return {"Authorization": f"Bearer {key}"}


# One set per test process: every worker it starts accepts them.
TEST_KEYS = OperatorKeys()


@dataclass
class Worker:
    """One `python -m orchestrator.cli serve` process."""

    namespace: KafkaNamespace
    data_dir: Path
    log_path: Path
    playbook_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # More variables for the process (KAFKA_SECURITY_*, a test's own limits, ...).
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
            "LIFECYCLE_API_KEYS": TEST_KEYS.keys_json(),
            "ORCHESTRATOR_CLUSTER_SECRET": TEST_KEYS.cluster_secret,
            # Tests poll as fast as they like; test_orchestrator_access.py sets a tight limit.
            "ORCHESTRATOR_RATE_LIMIT": "10000/second",
            **self.environment,
        }
        self.process = start_logged(
            [sys.executable, "-m", "orchestrator.cli", "serve"], env, self.log_path
        )
        eventually(
            lambda: get_json(f"{self.url}/readyz"),
            lambda body: body.get("status") == "ready",
            timeout_s=START_TIMEOUT_S,
            interval_s=0.25,
            what=f"the worker's /readyz (log {self.log_path})",
            retry_on=(urllib.error.URLError, OSError, ValueError),
            give_up=exit_report(self.process, "the worker", self.log_path),
        )
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

    @property
    def headers(self) -> dict[str, str]:
        """The test operator's key (every orchestrator scope)."""
        return TEST_KEYS.headers()

    def get(self, path: str) -> Any:
        return get_json(f"{self.url}{path}", headers=self.headers)


def orchestrator_command(
    namespace: KafkaNamespace, *arguments: str, **environment: str
) -> subprocess.CompletedProcess[str]:
    """``orchestrator ARGUMENTS`` on the namespace's topics (a process, as an operator runs
    it); its exit status and output are the caller's to judge."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": namespace.bootstrap_servers,
        "LIFECYCLE_TOPIC_PREFIX": namespace.prefix,
        **environment,
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *arguments],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def publish_playbook(
    namespace: KafkaNamespace, directory: Path, note: str = ""
) -> subprocess.CompletedProcess[str]:
    """``orchestrator playbook publish DIR`` on the namespace's playbook topic."""
    return orchestrator_command(
        namespace, "playbook", "publish", str(directory), *(["--note", note] if note else [])
    )


@contextmanager
def worker_starter(
    namespace: KafkaNamespace, playbook_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Worker]]:
    """A function starting workers on ``namespace`` with ``playbook_dir``; all stopped at exit.

    ``make(data_dir)`` reuses a data directory (a restart after a crash); without one each
    worker gets a fresh directory. Keyword arguments are more environment variables.
    """
    started: list[Worker] = []

    def make(data_dir: Path | None = None, **environment: str) -> Worker:
        base = tmp_path_factory.mktemp("worker")
        worker = Worker(
            namespace,
            data_dir or base / "data",
            base / "worker.log",
            playbook_dir,
            environment=environment,
        )
        started.append(worker)
        return worker.start()

    try:
        yield make
    finally:
        for worker in started:
            worker.stop()
