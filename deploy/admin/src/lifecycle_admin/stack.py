"""The services of the local stack: how each is started, where it listens, how it is checked.

`make run`, the Prometheus scrape config and the docker-compose file are all checked against
this one table, so ports and health paths are written down once.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class StackService:
    """One long-running service of the system."""

    name: str
    # Module run with `python -m` (its package's console entry point does the same).
    module: str
    arguments: tuple[str, ...]
    port: int
    port_env: str
    health_path: str = "/healthz"
    metrics_path: str = "/metrics"

    def is_installed(self) -> bool:
        """Whether this service's code exists yet (issues add services one by one)."""
        return module_exists(self.module)


def module_exists(name: str) -> bool:
    """Whether `name` can be imported in this environment (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


KAFKA_PORT = 9092
PROMETHEUS_PORT = 9090

SERVICES: tuple[StackService, ...] = (
    StackService("orchestrator", "orchestrator.cli", ("serve",), 8100, "ORCHESTRATOR_PORT"),
    StackService("marketing", "marketing_service.cli", ("serve",), 8101, "MARKETING_PORT"),
    StackService("sales", "sales_service.cli", ("serve",), 8102, "SALES_PORT"),
    StackService("service-desk", "service_desk_service.cli", ("serve",), 8103, "SERVICE_DESK_PORT"),
)


def service_named(name: str) -> StackService:
    """The stack service with this name."""
    for service in SERVICES:
        if service.name == name:
            return service
    raise KeyError(name)
