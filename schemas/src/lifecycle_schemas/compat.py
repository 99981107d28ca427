"""Backward-compatibility check between two JSON Schemas of one record type version.

Within a ``type`` version, changes must be additive and optional: every record that was valid
under the published schema must stay valid under the new one. :func:`breaking_changes` lists
the places where that fails (a removed field, a narrowed type or bound, a new required field).
It understands the subset of JSON Schema that pydantic generates for our models.
"""

from __future__ import annotations

import math
from typing import Any

Schema = dict[str, Any]

_IGNORED = {"title", "description", "default", "examples", "$schema", "$id", "$comment"}


def breaking_changes(published: Schema, current: Schema) -> list[str]:
    """Why records valid under ``published`` may be invalid under ``current`` (empty: none)."""
    problems: list[str] = []
    _compare(published, current, published, current, "", problems)
    return problems


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        target = root.get("$defs", {}).get(name)
        if target is None:
            raise ValueError(f"unresolvable $ref {schema['$ref']}")
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _alternatives(schema: Schema, root: Schema) -> list[Schema]:
    schema = _resolve(schema, root)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if not branches:
        return [schema]
    shared = {k: v for k, v in schema.items() if k not in {"anyOf", "oneOf", "discriminator"}}
    result: list[Schema] = []
    for branch in branches:
        result.extend(_alternatives({**shared, **branch}, root))
    return result


def _kind(schema: Schema) -> str:
    if "type" in schema:
        kind = schema["type"]
        return kind if isinstance(kind, str) else "|".join(sorted(kind))
    if "const" in schema:
        return type(schema["const"]).__name__
    if "properties" in schema:
        return "object"
    return "any"


def _compare(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str, out: list[str]
) -> None:
    old_alternatives = _alternatives(old, old_root)
    new_alternatives = _alternatives(new, new_root)
    for old_alternative in old_alternatives:
        attempts: list[list[str]] = []
        for new_alternative in new_alternatives:
            found: list[str] = []
            _compare_single(old_alternative, new_alternative, old_root, new_root, path, found)
            if not found:
                break
            attempts.append(found)
        else:
            same_kind = [
                found
                for found, candidate in zip(attempts, new_alternatives, strict=True)
                if _kind(candidate) == _kind(old_alternative)
            ]
            if len(attempts) == 1 and _kind(old_alternative) != "null":
                out.extend(attempts[0])
            elif len(same_kind) == 1:
                out.extend(same_kind[0])
            else:
                out.append(f"{path or '(record)'}: no longer accepts {_kind(old_alternative)}")


def _values(schema: Schema) -> set[Any] | None:
    if "const" in schema:
        return {_hashable(schema["const"])}
    if "enum" in schema:
        return {_hashable(value) for value in schema["enum"]}
    return None


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value


def _bound(schema: Schema, key: str, default: float) -> float:
    value = schema.get(key)
    return float(value) if isinstance(value, int | float) else default


def _compare_single(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str, out: list[str]
) -> None:
    where = path or "(record)"
    if not {k for k in new if k not in _IGNORED}:
        return  # the new schema accepts anything
    old_kind, new_kind = _kind(old), _kind(new)
    widening = old_kind == "integer" and new_kind == "number"
    if new_kind != "any" and old_kind != new_kind and not widening:
        out.append(f"{where}: type changed from {old_kind} to {new_kind}")
        return
    old_values, new_values = _values(old), _values(new)
    if new_values is not None and (old_values is None or not old_values <= new_values):
        out.append(f"{where}: allowed values narrowed")
    for key in ("pattern", "format"):
        if key in new and new.get(key) != old.get(key):
            out.append(f"{where}: {key} changed")
    for low in ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum"):
        if _bound(new, low, -math.inf) > _bound(old, low, -math.inf):
            out.append(f"{where}: {low} raised")
    for high in ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum"):
        if _bound(new, high, math.inf) < _bound(old, high, math.inf):
            out.append(f"{where}: {high} lowered")
    if "items" in old or "items" in new:
        _compare(old.get("items", {}), new.get("items", {}), old_root, new_root, f"{path}[]", out)
    if "propertyNames" in new:
        _compare(
            old.get("propertyNames", {}),
            new["propertyNames"],
            old_root,
            new_root,
            f"{path}{{key}}",
            out,
        )
    _compare_object(old, new, old_root, new_root, path, out)


def _compare_object(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str, out: list[str]
) -> None:
    prefix = f"{path}." if path else ""
    old_properties: Schema = old.get("properties", {})
    new_properties: Schema = new.get("properties", {})
    new_extra = new.get("additionalProperties", True)
    for name, old_property in old_properties.items():
        if name in new_properties:
            _compare(old_property, new_properties[name], old_root, new_root, prefix + name, out)
        elif new_extra is False:
            out.append(f"{prefix}{name}: field removed")
    old_required = set(old.get("required", ()))
    for name in sorted(set(new.get("required", ())) - old_required):
        state = "optional field became required" if name in old_properties else "new required field"
        out.append(f"{prefix}{name}: {state}")
    old_extra = old.get("additionalProperties", True)
    if isinstance(old_extra, dict) and isinstance(new_extra, dict):
        _compare(old_extra, new_extra, old_root, new_root, f"{prefix}{{*}}", out)
    elif old_extra is not False and new_extra is False and not old_properties:
        out.append(f"{path or '(record)'}: no longer accepts free keys")
    elif old_extra is True and isinstance(new_extra, dict):
        out.append(f"{path or '(record)'}: values of free keys narrowed")
