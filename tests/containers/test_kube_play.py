"""Given the Helm chart, a department's Deployment with its ConfigMap runs in `podman kube play`.

The chart is rendered (Helm's SDK, lifecycle_testing.helm_chart) with ci/kube-play-values.yaml
(the local image, the compose stack's broker in plaintext), and the marketing Deployment with
its ConfigMap is played on the compose stack's network: its settings come from the ConfigMap
(envFrom), its keys from the chart's API-key Secret, and it answers /readyz once its consumer
has partitions on the broker.

podman 4.3 (Debian bookworm) cannot mount a Secret's data as a volume (it writes the base64
text, and panics without `optional`), so the Secret's file is mounted from a host directory at
the same path; everything else is the chart's output unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lifecycle_testing.containers import ComposeStack, podman
from lifecycle_testing.helm_chart import KUBE_PLAY_VALUES, render_by_template, values_of
from lifecycle_testing.paths import REPOSITORY_ROOT
from lifecycle_testing.waiting import eventually

RELEASE = "play"
CONTAINER = f"{RELEASE}-customer-lifecycle-marketing-pod-0-marketing"


def render(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The marketing Deployment, its ConfigMap and the API-key Secret, as the chart renders them."""
    values = values_of(KUBE_PLAY_VALUES)
    values["departments"] = {"sales": {"enabled": False}, "service-desk": {"enabled": False}}
    # Its own consumer group: the compose stack's marketing service keeps its partitions.
    values["departmentDefaults"]["extraEnv"] = [
        {"name": "DEPARTMENT_CONSUMER_GROUP", "value": "kube-play-marketing"}
    ]
    values["apiKeys"] = {"keys": keys}
    by_template = render_by_template(values, release=RELEASE)
    return by_template["departments/deployments.yaml"] + by_template["secrets.yaml"]


def mount_secret_from(directory: Path, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ConfigMap and Deployment, the Secret's files written to `directory` and mounted."""
    secret = next(d for d in documents if d["kind"] == "Secret")
    for name, content in secret["stringData"].items():
        (directory / name).write_text(content)
    directory.chmod(0o755)
    played = [d for d in documents if d["kind"] in ("ConfigMap", "Deployment")]
    deployment = next(d for d in played if d["kind"] == "Deployment")
    for volume in deployment["spec"]["template"]["spec"]["volumes"]:
        if volume.get("secret", {}).get("secretName") == secret["metadata"]["name"]:
            del volume["secret"]
            volume["hostPath"] = {"path": str(directory), "type": "Directory"}
    return played


def in_pod(url: str, key: str | None = None) -> int:
    """The HTTP status of a GET from inside the played container (its loopback), or -1."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    script = (
        "import sys, urllib.request, urllib.error\n"
        f"request = urllib.request.Request({url!r}, headers={headers!r})\n"
        "try:\n"
        "    print(urllib.request.urlopen(request, timeout=5).status)\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(error.code)\n"
    )
    result = podman("exec", CONTAINER, "python", "-c", script, timeout_s=30)
    if result.returncode != 0:
        return -1  # the container is not running (yet)
    return int(result.stdout.strip())


def test_the_marketing_deployment_with_its_configmap_answers_ready(
    compose_stack: ComposeStack, tmp_path: Path
) -> None:
    hashed = json.loads((compose_stack.keys_dir / "department-api-keys.json").read_text())
    documents = render(hashed["keys"])
    configmap = next(d for d in documents if d["kind"] == "ConfigMap")
    assert configmap["data"]["MARKETING_HOST"] == "0.0.0.0"
    manifest = tmp_path / "marketing.yaml"
    secret_dir = tmp_path / "api-keys"
    secret_dir.mkdir()
    manifest.write_text(yaml.safe_dump_all(mount_secret_from(secret_dir, documents)))

    played = podman("kube", "play", "--network", compose_stack.network, str(manifest))
    try:
        assert played.returncode == 0, played.stdout + played.stderr
        eventually(
            lambda: in_pod("http://127.0.0.1:8101/readyz"),
            lambda status: status == 200,
            timeout_s=180,
            interval_s=1.0,
            what="the played marketing pod answering /readyz with 200",
        )
        key = compose_stack.plain_keys()["local-marketing"]
        assert in_pod("http://127.0.0.1:8101/v1/actions") == 401
        assert in_pod("http://127.0.0.1:8101/v1/actions", key) == 200
    finally:
        logs = podman("logs", CONTAINER)
        (REPOSITORY_ROOT / "test-artifacts" / "containers").mkdir(parents=True, exist_ok=True)
        (REPOSITORY_ROOT / "test-artifacts" / "containers" / f"{CONTAINER}.log").write_text(
            logs.stdout + logs.stderr
        )
        down = podman("kube", "down", str(manifest))
        assert down.returncode == 0, down.stderr
