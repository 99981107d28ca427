"""The system in containers, for tests: the compose stack and `podman kube play`.

Everything runs through deploy/docker/podman (this project's podman settings) and the
podman-compose of the locked dev dependencies; the images come from `make images`. Published
ports are free ports on 127.0.0.1; each stack has a project name of its own, and `down`
removes its containers, network and volumes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lifecycle_admin.local_stack import CLUSTER_SECRET_ENV_FILE
from lifecycle_admin.stack import SERVICES
from lifecycle_testing.paths import DEPLOY_DIR, REPOSITORY_ROOT
from lifecycle_testing.processes import free_port

PODMAN = DEPLOY_DIR / "docker" / "podman"
COMPOSE_FILE = DEPLOY_DIR / "docker-compose.yml"
IMAGES = (
    "localhost/customer-lifecycle:local",
    "localhost/lifecycle-kafka:local",
    "localhost/lifecycle-prometheus:local",
)
# Published ports moved to free ones, by the variable the compose file reads.
HOST_PORT_VARIABLES = {
    "kafka": "LIFECYCLE_KAFKA_HOST_PORT",
    "prometheus": "LIFECYCLE_PROMETHEUS_HOST_PORT",
    **{s.name: f"LIFECYCLE_{s.port_env.removesuffix('_PORT')}_HOST_PORT" for s in SERVICES},
}


def podman(*arguments: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run podman with the project's settings; the caller checks the result."""
    return subprocess.run(
        [str(PODMAN), *arguments], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def missing_images() -> list[str]:
    """The images `make images` builds that are not in podman's storage."""
    return [image for image in IMAGES if podman("image", "exists", image).returncode != 0]


@dataclass
class ComposeStack:
    """One run of deploy/docker-compose.yml under a project name of its own."""

    project: str
    keys_dir: Path
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, keys_dir: Path) -> ComposeStack:
        ports = {name: free_port() for name in HOST_PORT_VARIABLES}
        return cls(f"lifecycle-e2e-{uuid.uuid4().hex[:8]}", keys_dir, ports)

    def environment(self) -> dict[str, str]:
        variables = {HOST_PORT_VARIABLES[name]: str(port) for name, port in self.ports.items()}
        return {**os.environ, **variables, "LIFECYCLE_COMPOSE_KEYS_DIR": str(self.keys_dir)}

    def compose(
        self, *arguments: str, timeout_s: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        podman_compose = shutil.which("podman-compose", path=str(Path(sys.executable).parent))
        assert podman_compose, "podman-compose is missing: `make setup` installs the dev packages"
        command = [
            podman_compose,
            "--podman-path",
            str(PODMAN),
            "-p",
            self.project,
            "-f",
            str(COMPOSE_FILE),
            *arguments,
        ]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env=self.environment(),
            cwd=REPOSITORY_ROOT,
        )

    @property
    def network(self) -> str:
        return f"{self.project}_default"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def plain_keys(self) -> dict[str, str]:
        document = json.loads((self.keys_dir / "department-api-keys.plain.json").read_text())
        keys: dict[str, str] = document["keys"]
        return keys

    def cluster_secret(self) -> str:
        """The orchestrator's ORCHESTRATOR_CLUSTER_SECRET, from the env_file beside the keys."""
        line = (self.keys_dir / CLUSTER_SECRET_ENV_FILE).read_text().strip()
        return line.partition("=")[2]

    def save_logs(self, directory: Path) -> None:
        """Every container's log, for a failed run to be read after the stack is gone."""
        directory.mkdir(parents=True, exist_ok=True)
        listed = podman("ps", "-a", "--filter", f"name={self.project}_", "--format", "{{.Names}}")
        for name in listed.stdout.split():
            logs = podman("logs", name)
            (directory / f"{name}.log").write_text(logs.stdout + logs.stderr)

    def down(self) -> subprocess.CompletedProcess[str]:
        """Stop the services, then everything else, and remove it all (volumes too).

        podman-compose's `down` stops every container at once: the broker is gone in seconds
        and the services wait out their own stop timeouts for it (as `make compose-down`).
        """
        services = [self.container(service.name) for service in SERVICES]
        podman("stop", "-t", "30", *services, timeout_s=90)
        return self.compose("down", "-v", "-t", "30")
