"""Strict JSON Schemas of Kubernetes objects, and validation against them (make deploy-check).

The schemas come from the package registries, for the kinds the chart uses:

- the Kubernetes API's OpenAPI v2 document (`api/openapi-spec/swagger.json` of the
  k8s.io/kubernetes Go module): each kind with the definitions it references;
- CustomResourceDefinitions (Strimzi's, made by its crd-generator; prometheus-operator's, in
  its Go module): each version's `openAPIV3Schema`.

Objects are made strict (no property the schema does not name), as kubeconform's `-strict`
and openapi2jsonschema's `--strict` do, so a misspelt field fails instead of being ignored by
the API server. Validation is jsonschema's Draft 7, what kubeconform runs on the same schemas.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

DEFINITIONS_PREFIX = "#/definitions/"
# Types written as strings in the OpenAPI document that YAML gives as numbers too.
NUMBER_OR_STRING = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
}


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


class SchemaBook:
    """The schema of every kind of the Kubernetes API and of the CRDs given."""

    def __init__(self, openapi_path: Path, crd_paths: Iterable[Path]) -> None:
        self._openapi = json.loads(openapi_path.read_text())
        self._kinds = kubernetes_kinds(self._openapi)
        self._crds: dict[tuple[str, str], dict[str, Any]] = {}
        for path in crd_paths:
            for document in yaml.safe_load_all(path.read_text()):
                if document and document.get("kind") == "CustomResourceDefinition":
                    self._crds |= crd_schemas(document)
        self._validators: dict[tuple[str, str], Draft7Validator] = {}

    def validator(self, api_version: str, kind: str) -> Draft7Validator | None:
        """A validator of this kind, or None when no schema names it."""
        key = (api_version, kind)
        if key not in self._validators:
            if key in self._crds:
                schema = self._crds[key]
            elif key in self._kinds:
                schema = kubernetes_schema(self._openapi, self._kinds[key])
            else:
                return None
            self._validators[key] = Draft7Validator(schema)
        return self._validators[key]

    def problems(self, manifest: dict[str, Any]) -> list[str]:
        """What is wrong with one object, one line each (empty: valid)."""
        name = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
        validator = self.validator(str(manifest.get("apiVersion")), str(manifest.get("kind")))
        if validator is None:
            return [f"{name}: no schema for {manifest.get('apiVersion')} {manifest.get('kind')}"]
        errors = sorted(validator.iter_errors(manifest), key=lambda error: str(error.path))
        return [
            f"{name}: /{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
            for error in errors
        ]
