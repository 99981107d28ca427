"""Given the Helm chart rendered with its CI values, every service is wired as it must run.

Helm's Go SDK lints and renders the chart in-process (lifecycle_testing.helm_chart); these
checks read the objects it makes: the orchestrator's cluster secret and allowed Host names, the
API-key Secret every HTTP service reads (a valid key file), rate limits, the shared inbox with
replicas, and NetworkPolicies for each component. `make deploy-check` validates the same
objects against the Kubernetes and CRD schemas.
"""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle_admin.stack import SERVICES
from lifecycle_schemas.departments import Department
from lifecycle_testing.helm_chart import (
    CI_VALUES,
    KUBE_PLAY_VALUES,
    NAMESPACE,
    Manifest,
    find,
    lint,
    render,
    values_of,
)
from service_kit.api_keys import Scope, parse_keys

FULLNAME = "lifecycle-customer-lifecycle"
STRIMZI = CI_VALUES[[p.name for p in CI_VALUES].index("strimzi-values.yaml")]
MANAGED = CI_VALUES[[p.name for p in CI_VALUES].index("managed-kafka-values.yaml")]
DEPARTMENTS = [service.name for service in SERVICES if service.name != "orchestrator"]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container.get("env", [])}


@pytest.mark.parametrize("values", [*CI_VALUES, KUBE_PLAY_VALUES], ids=lambda p: p.name)
def test_the_chart_lints_strictly_with_each_ci_values_file(values: Any) -> None:
    assert lint(values_of(values)) == []


def test_a_value_that_breaks_a_manifest_is_a_lint_error() -> None:
    # The lint above can fail: a volume size with YAML in it breaks the StatefulSet.
    found = lint({"orchestrator": {"storage": {"size": "1Gi\nbroken: ["}}})
    assert any("orchestrator/statefulset.yaml" in problem for problem in found), found


def test_workers_share_a_cluster_secret_the_chart_makes_once() -> None:
    objects = render(values_of(STRIMZI))
    worker = pod_spec(find(objects, "StatefulSet", f"{FULLNAME}-orchestrator"))["containers"][0]
    reference = env_of(worker)["ORCHESTRATOR_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"]
    secret = find(objects, "Secret", reference["name"])
    assert reference["key"] in secret["data"]
    assert len(secret["data"][reference["key"]]) >= 16
    # Kept across upgrades and uninstall: sessions and /internal/* keep working.
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_an_existing_cluster_secret_is_used_and_none_is_made() -> None:
    objects = render(values_of(MANAGED))
    worker = pod_spec(find(objects, "StatefulSet", f"{FULLNAME}-orchestrator"))["containers"][0]
    reference = env_of(worker)["ORCHESTRATOR_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "lifecycle-orchestrator-cluster", "key": "cluster-secret"}
    assert not [o for o in objects if o["kind"] == "Secret" and "cluster" in o["metadata"]["name"]]


def test_the_orchestrator_answers_its_service_names_and_each_worker_its_pod_name() -> None:
    objects = render(values_of(MANAGED))
    worker = pod_spec(find(objects, "StatefulSet", f"{FULLNAME}-orchestrator"))["containers"][0]
    environment = env_of(worker)
    service = find(objects, "Service", f"{FULLNAME}-orchestrator")["metadata"]["name"]
    allowed = environment["ORCHESTRATOR_ALLOWED_HOSTS"]["value"].split(",")
    assert {service, f"{service}.{NAMESPACE}.svc", "lifecycle.example.com"} <= set(allowed)
    assert "*" not in allowed
    headless = find(objects, "Service", f"{FULLNAME}-orchestrator-workers")
    assert headless["spec"]["clusterIP"] == "None"
    advertised = environment["ORCHESTRATOR_ADVERTISED_HOST"]["value"]
    assert advertised == f"$(POD_NAME).{headless['metadata']['name']}.{NAMESPACE}.svc"
    assert environment["ORCHESTRATOR_RATE_LIMIT"]["value"] == "50/second;1000/minute"


def test_every_http_service_reads_the_api_key_secret_the_chart_makes_from_values() -> None:
    objects = render(values_of(STRIMZI))
    secret = find(objects, "Secret", f"{FULLNAME}-api-keys")
    ring = parse_keys(secret["stringData"]["api-keys.json"])
    assert [(e.id, e.department, e.scopes) for e in ring.entries] == [
        (
            "crm-sync",
            Department.SALES,
            frozenset({Scope.EVENTS_WRITE, Scope.ACTIONS_READ, Scope.ACTIONS_WRITE}),
        )
    ]
    workloads = [find(objects, "StatefulSet", f"{FULLNAME}-orchestrator")] + [
        find(objects, "Deployment", f"{FULLNAME}-{name}") for name in DEPARTMENTS
    ]
    for workload in workloads:
        spec = pod_spec(workload)
        container = spec["containers"][0]
        keys_file = env_of(container).get("LIFECYCLE_API_KEYS_FILE", {}).get("value")
        if keys_file is None:  # a department's ConfigMap carries it
            configmap = find(objects, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])
            keys_file = configmap["data"]["LIFECYCLE_API_KEYS_FILE"]
        mount = next(m for m in container["volumeMounts"] if keys_file.startswith(m["mountPath"]))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        assert volume["secret"]["secretName"] == secret["metadata"]["name"], workload["metadata"]
        assert keys_file.endswith("/api-keys.json")


@pytest.mark.parametrize("department", DEPARTMENTS)
def test_each_department_runs_replicated_on_its_own_inbox_database(department: str) -> None:
    objects = render(values_of(STRIMZI))
    name = f"{FULLNAME}-{department}"
    deployment = find(objects, "Deployment", name)
    container = pod_spec(deployment)["containers"][0]
    inbox = env_of(container)["DEPARTMENT_INBOX_URL"]["valueFrom"]["secretKeyRef"]
    assert inbox["key"] == f"{department}-url"
    assert find(objects, "HorizontalPodAutoscaler", name)["spec"]["minReplicas"] >= 2
    assert find(objects, "PodDisruptionBudget", name)["spec"]["minAvailable"] >= 1
    configmap = find(objects, "ConfigMap", name)["data"]
    assert configmap["DEPARTMENT_RATE_LIMIT"] == "2000/second"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_network_policies_admit_each_service_only_from_its_peers() -> None:
    objects = render(values_of(STRIMZI))
    orchestrator = find(objects, "NetworkPolicy", f"{FULLNAME}-orchestrator")["spec"]
    peers = orchestrator["ingress"][0]["from"]
    component = [
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in peers
        if "podSelector" in p
    ]
    assert component == ["orchestrator"]  # the other workers; no department pod
    namespaces = {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in peers
        if "namespaceSelector" in p
    }
    assert namespaces == {"operations", "monitoring"}
    sales = find(objects, "NetworkPolicy", f"{FULLNAME}-sales")["spec"]
    sales_from = {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in sales["ingress"][0]["from"]
    }
    assert sales_from == {"crm", "monitoring"}
    marketing = find(objects, "NetworkPolicy", f"{FULLNAME}-marketing")["spec"]
    assert [p for rule in marketing["ingress"] for p in rule["from"] if "podSelector" in p] == []
