"""Given the Helm chart rendered with each CI values file, every object is valid for the API.

`make deploy-check` (deploy/helm/check) fetches the schemas through the package registries
first: the Kubernetes OpenAPI document and prometheus-operator's CRDs from their Go modules,
Strimzi's CRDs made by its crd-generator from Maven Central. It names them in
`.cache/deploy-check/schemas.json`, which this module reads; run alone it fails, never skips.
Validation is strict: a field the schema does not name is an error, as kubeconform -strict.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lifecycle_testing.helm_chart import CI_VALUES, find, render, values_of
from lifecycle_testing.manifest_schemas import SchemaBook
from lifecycle_testing.paths import REPOSITORY_ROOT

SOURCES = REPOSITORY_ROOT / ".cache" / "deploy-check" / "schemas.json"


@pytest.fixture(scope="module")
def schemas() -> SchemaBook:
    if not SOURCES.exists():
        pytest.fail(f"{SOURCES} is missing: `make deploy-check` fetches the schemas", pytrace=False)
    sources = json.loads(SOURCES.read_text())
    return SchemaBook(Path(sources["openapi"]), [Path(crd) for crd in sources["crds"]])


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_rendered_object_is_valid_against_its_schema(
    schemas: SchemaBook, values: Path
) -> None:
    objects = render(values_of(values))
    assert len(objects) > 20
    problems = [problem for manifest in objects for problem in schemas.problems(manifest)]
    assert problems == []


def test_a_misspelt_field_is_refused(schemas: SchemaBook) -> None:
    # The validation above can fail: strictness catches what an API server would drop silently.
    objects = render(values_of(CI_VALUES[0]))
    workers = copy.deepcopy(
        find(objects, "StatefulSet", "lifecycle-customer-lifecycle-orchestrator")
    )
    workers["spec"]["replica"] = workers["spec"].pop("replicas")
    kafka_topic = copy.deepcopy(
        next(o for o in render(values_of(CI_VALUES[-1])) if o["kind"] == "KafkaTopic")
    )
    kafka_topic["spec"]["partitions"] = "many"
    assert any("'replica' was unexpected" in p for p in schemas.problems(workers))
    assert any("/spec/partitions" in p for p in schemas.problems(kafka_topic))
