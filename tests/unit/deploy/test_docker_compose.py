"""Given deploy/docker-compose.yml and deploy/docker/, they match the services they run.

tests/containers/ builds the images and runs this file for real (make test-containers); these
checks are the fast half: each of the defects that once kept the stack from starting (bench/
missing from the image, services bound to 127.0.0.1 in their containers, no API keys) fails here
first.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from lifecycle_admin.local_stack import CLUSTER_SECRET_ENV_FILE, development_cluster_secret
from lifecycle_admin.stack import SERVICES, StackService
from lifecycle_testing.paths import DEPLOY_DIR, REPOSITORY_ROOT

COMPOSE = yaml.safe_load((DEPLOY_DIR / "docker-compose.yml").read_text())
DOCKERFILE = (DEPLOY_DIR / "docker" / "Dockerfile").read_text()
METRICS_CONTRACT = (REPOSITORY_ROOT / "docs" / "observability.md").read_text()
DEPARTMENTS = [service for service in SERVICES if service.name != "orchestrator"]


def _compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = COMPOSE["services"][name]
    return service


def _default_of(value: str) -> str:
    """`${NAME:-default}` as compose reads it when NAME is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def _copied_paths() -> set[str]:
    """The source paths of the Dockerfile's COPY instructions."""
    paths: set[str] = set()
    for line in DOCKERFILE.splitlines():
        parts = line.split()
        if parts and parts[0] == "COPY" and not any(p.startswith("--from") for p in parts):
            paths.update(part.rstrip("/") for part in parts[1:-1])
    return paths


def test_the_image_has_every_workspace_member_uv_needs_to_read_the_lock() -> None:
    # `uv sync --frozen` reads every member of the workspace; one missing (bench/ once) fails
    # the build before a single service can start.
    workspace = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())
    members = workspace["tool"]["uv"]["workspace"]["members"]
    copied = _copied_paths()

    def is_copied(member: str) -> bool:
        wanted = Path(member, "pyproject.toml")
        return any(wanted == Path(path) or Path(path) in wanted.parents for path in copied)

    missing = [member for member in members if not is_copied(member)]
    assert not missing, f"deploy/docker/Dockerfile does not copy {missing}"
    assert {"pyproject.toml", "uv.lock"} <= copied


def test_the_image_installs_every_service_the_compose_file_runs() -> None:
    packages = set(re.findall(r"--package ([a-z-]+)", DOCKERFILE))
    for service in SERVICES:
        project = REPOSITORY_ROOT / "services" / service.name
        name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
        assert name in packages, name
    assert "lifecycle-admin" in packages


def test_every_long_running_container_has_a_healthcheck() -> None:
    for name, service in COMPOSE["services"].items():
        if service.get("restart") == "no":
            continue  # one-shot jobs (topic creation) finish instead of staying healthy
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def _host_variable(service: StackService) -> str:
    return service.port_env.removesuffix("PORT") + "HOST"


def test_each_service_listens_on_every_interface_of_its_container() -> None:
    # The default bind address is 127.0.0.1: inside a container nothing else could reach it.
    for stack_service in SERVICES:
        environment = _compose_service(stack_service.name)["environment"]
        assert environment.get(_host_variable(stack_service)) == "0.0.0.0", stack_service.name


def test_each_stack_service_runs_with_its_port_and_kafka() -> None:
    for stack_service in SERVICES:
        service = _compose_service(stack_service.name)
        environment = service["environment"]
        assert environment[stack_service.port_env] == str(stack_service.port)
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        published = [_default_of(port) for port in service["ports"]]
        assert f"127.0.0.1:{stack_service.port}:{stack_service.port}" in published
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{stack_service.port}{stack_service.health_path}" in probe
        # It starts once the topics job made every topic (a worker started before would
        # consume nothing), and runs the service in the shell's place (signals reach it).
        script = service["command"][-1]
        assert service["command"][:2] == ["sh", "-c"]
        assert script.startswith("lifecycle-admin wait-topics ")
        assert script.endswith(f" && exec {stack_service.name} serve")
        # podman-compose would start the topics job again before each dependent, one by one.
        assert "depends_on" not in service


def test_services_are_given_the_api_keys_make_compose_up_writes() -> None:
    # Without keys every request is answered 401.
    makefile = (REPOSITORY_ROOT / "Makefile").read_text()
    keys_dir = re.search(r"^COMPOSE_KEYS := (\S+)$", makefile, re.MULTILINE)
    assert keys_dir
    assert re.search(r"^compose-up: .*compose-keys", makefile, re.MULTILINE)
    for stack_service in SERVICES:
        service = _compose_service(stack_service.name)
        keys_file = Path(service["environment"]["LIFECYCLE_API_KEYS_FILE"])
        if stack_service in DEPARTMENTS:  # the name the department services read before
            assert service["environment"]["DEPARTMENT_API_KEYS_FILE"] == str(keys_file)
        mounts = [_default_of(volume).split(":") for volume in service["volumes"]]
        sources = [source for source, target, *_ in mounts if Path(target) == keys_file.parent]
        assert sources, f"{stack_service.name}: nothing mounted at {keys_file.parent}"
        # Relative bind mounts are relative to the compose file's directory.
        assert (DEPLOY_DIR / sources[0]).resolve() == (REPOSITORY_ROOT / keys_dir.group(1))
        assert keys_file.name == "department-api-keys.json"


def test_the_orchestrator_answers_its_compose_name_and_has_a_cluster_secret(
    tmp_path: Path,
) -> None:
    # Without the allow-list's names every API request from the host or from Prometheus's
    # network gets 400; without a secret from a file the compose stack would run on a random one.
    environment = _compose_service("orchestrator")["environment"]
    allowed = environment["ORCHESTRATOR_ALLOWED_HOSTS"].split(",")
    assert {"localhost", "127.0.0.1", "orchestrator"} <= set(allowed)
    mounts = [_default_of(v).split(":") for v in _compose_service("orchestrator")["volumes"]]
    keys_dir = next(source for source, target, *_ in mounts if target == "/run/lifecycle/keys")
    env_files = [_default_of(f) for f in _compose_service("orchestrator")["env_file"]]
    assert env_files == [f"{keys_dir}/{CLUSTER_SECRET_ENV_FILE}"]
    written = development_cluster_secret(tmp_path)
    name, _, secret = written.read_text().strip().partition("=")
    assert (name, written.name) == ("ORCHESTRATOR_CLUSTER_SECRET", CLUSTER_SECRET_ENV_FILE)
    assert len(secret) >= 16
    assert written.stat().st_mode & 0o077 == 0
    assert development_cluster_secret(tmp_path).read_text() == written.read_text()


def test_compose_runs_the_broker_jars_the_local_run_uses() -> None:
    kafka = _compose_service("kafka")
    assert kafka["build"]["dockerfile"] == "deploy/docker/kafka.Dockerfile"
    kafka_dockerfile = (DEPLOY_DIR / "docker" / "kafka.Dockerfile").read_text()
    assert "COPY deploy/kafka/lib " in kafka_dockerfile
    entrypoint = (DEPLOY_DIR / "docker" / "kafka-entrypoint").read_text()
    assert "auto.create.topics.enable=false" in entrypoint


def test_every_image_builds_from_a_base_given_as_an_argument() -> None:
    # Docker elsewhere builds FROM a public base; here build-images passes the mmdebstrap one.
    for dockerfile in sorted((DEPLOY_DIR / "docker").glob("*Dockerfile")):
        text = dockerfile.read_text()
        assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", text, re.MULTILINE), dockerfile
        assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.MULTILINE), dockerfile


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
