"""The Helm chart, linted and rendered in-process, for tests and `make deploy-check`.

Helm's own Go SDK does the work (helm-python-sdk: a prebuilt library from PyPI, no helm binary
and no Go compile): `helm lint --strict` and `helm template` as functions. Rendering contacts
no cluster, so `lookup` finds nothing (the cluster Secret is made anew, as on a first install).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import yaml

from lifecycle_testing.paths import DEPLOY_DIR

CHART = DEPLOY_DIR / "helm" / "customer-lifecycle"
# The values files `make deploy-check` renders and validates (kube-play's is for podman only).
CI_VALUES = sorted(
    p for p in (CHART / "ci").glob("*-values.yaml") if p.name != "kube-play-values.yaml"
)
KUBE_PLAY_VALUES = CHART / "ci" / "kube-play-values.yaml"
KUBE_VERSION = "v1.35.4"
RELEASE = "lifecycle"
NAMESPACE = "lifecycle"
# helm lint's severities: 1 info, 2 warning, 3 error; --strict fails on warnings too.
WARNING = 2

Manifest = dict[str, Any]


def values_of(path: Path) -> dict[str, Any]:
    """A values file as a dict (an empty file is no values)."""
    loaded: dict[str, Any] | None = yaml.safe_load(path.read_text())
    return loaded or {}


def lint(values: dict[str, Any]) -> list[str]:
    """What `helm lint --strict` finds with these values: warnings and errors, one line each."""
    report = helm_python.lint(
        str(CHART), values, strict=True, namespace=NAMESPACE, kube_version=KUBE_VERSION
    )
    messages = [m for m in report["messages"] if m["severity"] >= WARNING]
    # `errors` repeats the error messages; anything else in it (a chart that fails to load) counts.
    others = set(report.get("errors") or []) - {m["error"] for m in messages}
    return [f"{m['path']}: {m['error']}" for m in messages] + sorted(others)


def render_by_template(
    values: dict[str, Any], release: str = RELEASE, namespace: str = NAMESPACE
) -> dict[str, list[Manifest]]:
    """`helm template` of an install: each template's path (under templates/) -> its objects."""
    chart = helm_python.Chart.load(str(CHART))
    rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    objects: dict[str, list[Manifest]] = {}
    for path, text in sorted(rendered.items()):
        if not path.endswith(".yaml"):
            continue  # NOTES.txt
        documents = [d for d in yaml.safe_load_all(text) if d]
        if documents:
            objects[path.split("/templates/", 1)[1]] = documents
    return objects


def render(values: dict[str, Any], release: str = RELEASE) -> list[Manifest]:
    """Every object of an install with these values."""
    return [d for documents in render_by_template(values, release).values() for d in documents]


def find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    """The object of this kind and name (an AssertionError lists what there is)."""
    for candidate in objects:
        if candidate["kind"] == kind and candidate["metadata"]["name"] == name:
            return candidate
    there = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    raise AssertionError(f"no {kind}/{name} among {there}")
