"""JSON Schemas for kubeconform, from the Kubernetes OpenAPI document and CRD files.

kubeconform validates each rendered manifest against `<dir>/<group>/<kind>_<version>.json`
(`-schema-location '<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'`). The
schemas are written here, for the kinds the manifests use only, from:

- the Kubernetes API's OpenAPI v2 document (`api/openapi-spec/swagger.json` of the
  k8s.io/kubernetes Go module): each kind with the definitions it references;
- CustomResourceDefinitions (Strimzi's, made by its crd-generator; prometheus-operator's, in
  its Go module): each version's `openAPIV3Schema`.

Objects are made strict (no property the schema does not name), as openapi2jsonschema's
`--strict` does, so a misspelt field fails instead of being ignored by the API server.

    python -m lifecycle_admin.manifest_schemas --openapi swagger.json --crd crd.yaml ...
        --manifests rendered.yaml --out schemas/
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS_PREFIX = "#/definitions/"
# Types written as strings in the OpenAPI document that YAML gives as numbers too.
NUMBER_OR_STRING = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
}


def schema_path(out: Path, api_version: str, kind: str) -> Path:
    """Where kubeconform's template above looks for a kind's schema."""
    group, _, version = api_version.rpartition("/")
    # kubeconform's {{.Group}} is the part before the slash, or the version for the core group.
    return out / (group or version) / f"{kind.lower()}_{version}.json"


def strict(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` on every object that lists its properties."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def _references(schema: Any) -> Iterable[str]:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith(DEFINITIONS_PREFIX):
            yield reference.removeprefix(DEFINITIONS_PREFIX)
        for value in schema.values():
            yield from _references(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _references(item)


def kubernetes_kinds(openapi: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> definition name, for every kind of the OpenAPI document."""
    kinds: dict[tuple[str, str], str] = {}
    for name, definition in openapi["definitions"].items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            kinds[(api_version, gvk["kind"])] = name
    return kinds


def kubernetes_schema(openapi: dict[str, Any], name: str) -> dict[str, Any]:
    """One kind's schema, with the definitions it references (and theirs) inlined below it."""
    definitions = openapi["definitions"]
    needed: dict[str, Any] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in needed:
            continue
        definition = NUMBER_OR_STRING.get(current) or copy.deepcopy(definitions[current])
        needed[current] = definition
        pending.extend(_references(definition))
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": DEFINITIONS_PREFIX + name,
        "definitions": strict(needed),
    }


def crd_schemas(crd: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> schema, for every version a CRD serves."""
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for version in crd["spec"]["versions"]:
        schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
        # The API server fills these in; a manifest's own metadata is checked by its fields.
        properties = schema.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = {"type": "object"}
        schemas[(f"{group}/{version['name']}", kind)] = {
            "$schema": "http://json-schema.org/draft-07/schema#",
            **strict(schema),
        }
    return schemas


def used_kinds(manifests: Iterable[Path]) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every document in the manifest files."""
    kinds: set[tuple[str, str]] = set()
    for path in manifests:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                kinds.add((document["apiVersion"], document["kind"]))
    return kinds


def write_schemas(
    openapi_path: Path, crd_paths: list[Path], manifests: list[Path], out: Path
) -> list[tuple[str, str]]:
    """Write the schema of every kind the manifests use; return the kinds without one."""
    openapi = json.loads(openapi_path.read_text())
    by_kind = kubernetes_kinds(openapi)
    crds: dict[tuple[str, str], dict[str, Any]] = {}
    for path in crd_paths:
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                crds |= crd_schemas(document)
    missing = []
    for api_version, kind in sorted(used_kinds(manifests)):
        if (api_version, kind) in crds:
            schema = crds[(api_version, kind)]
        elif (api_version, kind) in by_kind:
            schema = kubernetes_schema(openapi, by_kind[(api_version, kind)])
        else:
            missing.append((api_version, kind))
            continue
        target = schema_path(out, api_version, kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema))
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lifecycle_admin.manifest_schemas", description=__doc__
    )
    parser.add_argument("--openapi", type=Path, required=True, help="Kubernetes swagger.json")
    parser.add_argument("--crd", type=Path, action="append", default=[], help="CRD YAML file")
    parser.add_argument("--manifests", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    missing = write_schemas(args.openapi, args.crd, args.manifests, args.out)
    for api_version, kind in missing:
        print(f"no schema for {api_version} {kind}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
