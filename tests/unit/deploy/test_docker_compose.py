"""Given deploy/docker-compose.yml (Docker cannot run here), it matches the services it runs."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from lifecycle_admin.stack import SERVICES
from lifecycle_testing.paths import DEPLOY_DIR, REPOSITORY_ROOT

COMPOSE = yaml.safe_load((DEPLOY_DIR / "docker-compose.yml").read_text())
METRICS_CONTRACT = (REPOSITORY_ROOT / "docs" / "observability.md").read_text()


def _compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = COMPOSE["services"][name]
    return service


def test_every_long_running_container_has_a_healthcheck() -> None:
    for name, service in COMPOSE["services"].items():
        if service.get("restart") == "no":
            continue  # one-shot jobs (topic creation) finish instead of staying healthy
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def test_each_stack_service_runs_with_its_port_and_kafka() -> None:
    for stack_service in SERVICES:
        service = _compose_service(stack_service.name)
        environment = service["environment"]
        assert environment[stack_service.port_env] == str(stack_service.port)
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert f"{stack_service.port}:{stack_service.port}" in service["ports"]
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{stack_service.port}{stack_service.health_path}" in probe
        assert service["command"][0] == stack_service.name
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_compose_runs_the_broker_version_the_local_run_uses() -> None:
    pom = (DEPLOY_DIR / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert match
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{match.group(1)}"
    environment = COMPOSE["services"]["kafka"]["environment"]
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_prometheus_and_grafana_are_provisioned_from_deploy() -> None:
    prometheus = _compose_service("prometheus")
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    grafana = _compose_service("grafana")
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]


def _metric_names(expression: str) -> set[str]:
    names = set(re.findall(r"\b(lifecycle_[a-z_]+)", expression))
    # Histogram series add suffixes to the documented base name.
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def test_grafana_dashboard_only_uses_documented_metrics() -> None:
    dashboard = json.loads(
        (DEPLOY_DIR / "grafana" / "dashboards" / "customer-lifecycle.json").read_text()
    )
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= _metric_names(target["expr"])
    assert used
    undocumented = {name for name in used if f"`{name}`" not in METRICS_CONTRACT}
    assert not undocumented


def test_alert_rules_only_use_documented_metrics() -> None:
    rules = yaml.safe_load((DEPLOY_DIR / "prometheus" / "rules" / "lifecycle.yml").read_text())
    used: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= _metric_names(rule["expr"])
    undocumented = {name for name in used if f"`{name}`" not in METRICS_CONTRACT}
    assert used
    assert not undocumented
