"""Generate the contract documents from the models: ``python -m lifecycle_schemas.generate``.

Writes, under ``schemas/generated/``:

* ``jsonschema/<type>.json`` — one JSON Schema (2020-12) per record type, with its example;
* ``asyncapi.yaml`` — an AsyncAPI 3.0 document: every channel (topic), message (record type),
  and which service sends or receives it;

refreshes the generated catalogue section of ``docs/contracts.md``, and keeps
``schemas/compat/<type>.json``, the published snapshot of each schema: a snapshot is written
the first time a type appears and refreshed only by compatible changes. A breaking change
stops the generator (bump the version in ``type`` instead).

``--check`` writes nothing and exits 1 if any file is stale or any change is breaking.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lifecycle_schemas.catalogue import RECORD_MODELS, RecordFamily, department_of, family_of
from lifecycle_schemas.codec import (
    KAFKA_HEADERS,
    MAX_CLOCK_SKEW,
    MAX_DATA_BYTES,
    MAX_INTEGER_DIGITS,
    MAX_NESTING_DEPTH,
    MAX_RECORD_BYTES,
    encode_record,
)
from lifecycle_schemas.compat import breaking_changes
from lifecycle_schemas.dead_letter import DEAD_LETTER_HEADERS
from lifecycle_schemas.envelope import (
    STRUCTURED_CONTENT_TYPE,
    TYPE_PREFIX,
    WIRE_REQUIRED_ATTRIBUTES,
    CloudEvent,
)
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.playbook_versions import PlaybookPublication
from lifecycle_schemas.topics import TOPICS, RecordKey, TopicSpec, topic_for_type

PROJECT_DIR = Path(__file__).resolve().parents[2]
GENERATED_DIR = PROJECT_DIR / "generated"
SNAPSHOT_DIR = PROJECT_DIR / "compat"
DOCS_FILE = PROJECT_DIR.parent / "docs" / "contracts.md"
DOCS_BEGIN = "<!-- generated catalogue: begin (python -m lifecycle_schemas.generate) -->"
DOCS_END = "<!-- generated catalogue: end -->"

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
CONTRACTS_VERSION = "1.0.0"

_KEY_MEANING = {
    RecordKey.CUSTOMER_REFERENCE: "The customer reference '<kind>:<value>' "
    "(CustomerRef.record_key(): the first of customer_id, crm_account_id, "
    "marketing_contact_id, helpdesk_requester_id, email, phone).",
    RecordKey.IDENTIFIER: "One resolved identifier, '<kind>:<value>'.",
    RecordKey.CUSTOMER_ID: "The orchestrator's customer id.",
    RecordKey.ORIGINAL_KEY: "The key of the record that failed, unchanged.",
    RecordKey.SUBJECT_KEY: "'<kid>/<writer>/<key id>': the subject's pseudonym, the department "
    "that wrote the key, a random id.",
    RecordKey.PUBLICATION_ID: "A fresh id per published playbook version (never reused).",
}
# The message of each topic whose values are not contract records, by its key.
_RAW_MESSAGES = {
    RecordKey.SUBJECT_KEY: "SubjectKey",
    RecordKey.PUBLICATION_ID: "PlaybookPublication",
}


def schema_file_name(record_type: str) -> str:
    """The file name of a record type's JSON Schema."""
    return f"{record_type}.json"


def wire_schema(model: type[CloudEvent[Any]]) -> dict[str, Any]:
    """The JSON Schema of a record type as it travels on Kafka (no example)."""
    schema = model.model_json_schema(mode="validation")
    required = list(schema.get("required", []))
    schema["required"] = [
        name
        for name in schema["properties"]
        if name in required or name in WIRE_REQUIRED_ATTRIBUTES
    ]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:customerlifecycle:schema:{model.record_type()}",
        **schema,
    }


def documented_schema(model: type[CloudEvent[Any]]) -> dict[str, Any]:
    """The published JSON Schema: the wire schema plus the record type's example."""
    example = json.loads(encode_record(EXAMPLES[model.record_type()]))
    return {**wire_schema(model), "examples": [example]}


def _json_text(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _message_name(record_type: str) -> str:
    return RECORD_MODELS[record_type].__name__


def _summary(model: type[Any]) -> str:
    return (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def _channel_id(attribute: str) -> str:
    head, *rest = attribute.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _channel_attributes() -> dict[str, TopicSpec]:
    return {name: getattr(TOPICS, name) for name in TOPICS.__dataclass_fields__}


def render_asyncapi() -> str:
    """The AsyncAPI 3.0 document (YAML) for every topic, record type and service."""
    import yaml  # a generator-only dependency (extra "generate")

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for attribute, spec in _channel_attributes().items():
        channel_id = _channel_id(attribute)
        channel_messages = {
            _message_name(t): {"$ref": f"#/components/messages/{_message_name(t)}"}
            for t in spec.value_types
        }
        if not spec.value_types:
            # Not contract records: key records of crypto-shredding, or any bytes.
            raw = _RAW_MESSAGES.get(spec.key, "DeadLetter")
            channel_messages = {raw: {"$ref": f"#/components/messages/{raw}"}}
        config: dict[str, Any] = {"cleanup.policy": [spec.cleanup_policy.value]}
        if spec.retention_ms is not None:
            config["retention.ms"] = spec.retention_ms
        channels[channel_id] = {
            "address": spec.name,
            "title": attribute.replace("_", " ").capitalize(),
            "description": f"{spec.description}\n\nRecord key: {_KEY_MEANING[spec.key]}"
            + (" Internal to the orchestrator." if spec.internal else ""),
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": spec.partitions,
                    "topicConfiguration": config,
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        message_refs = [
            {"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in channel_messages
        ]
        for action, services in (("send", spec.producers), ("receive", spec.consumers)):
            for service in services:
                operation_id = _channel_id(
                    f"{service.value.replace('-', '_')}_{action}_{attribute}"
                )
                operations[operation_id] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "summary": f"{service.value} {action}s on {spec.name}",
                    "tags": [{"name": service.value}],
                    "messages": message_refs,
                }
    for record_type, model in RECORD_MODELS.items():
        example = json.loads(encode_record(EXAMPLES[record_type]))
        messages[model.__name__] = {
            "name": model.__name__,
            "title": record_type,
            "summary": _summary(model),
            "contentType": STRUCTURED_CONTENT_TYPE,
            "headers": {
                "type": "object",
                "properties": {
                    name: {"type": "string", "const": value.decode("ascii")}
                    for name, value in KAFKA_HEADERS
                },
            },
            "payload": {"$ref": f"jsonschema/{schema_file_name(record_type)}"},
            "bindings": {
                "kafka": {
                    "key": {
                        "type": "string",
                        "description": _KEY_MEANING[topic_for_type(record_type).key],
                    },
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
            "examples": [
                {
                    "name": "example",
                    "summary": f"A realistic {model.__name__} record.",
                    "headers": {name: value.decode("ascii") for name, value in KAFKA_HEADERS},
                    "payload": example,
                }
            ],
        }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "Dead-letter record",
        "summary": "The original bytes of a record that could not be decoded or applied.",
        "description": "Value and key are the original ones; the reason is in the headers.",
        "headers": {
            "type": "object",
            "properties": {name: {"type": "string"} for name in DEAD_LETTER_HEADERS},
        },
        "payload": {"description": "The original record value, unchanged (any bytes)."},
    }
    messages["SubjectKey"] = {
        "name": "SubjectKey",
        "title": "Subject key record",
        "summary": "One AES-256-GCM key of a customer subject (crypto-shredding).",
        "description": "A null value is a tombstone: the key is shredded (lifecycle_schemas."
        "shredding).",
        "payload": {
            "type": "object",
            "required": ["kid", "key"],
            "properties": {
                "kid": {"type": "string", "description": "HMAC-SHA256 pseudonym of the subject."},
                "key": {"type": "string", "description": "The key, base64."},
            },
        },
    }
    messages["PlaybookPublication"] = {
        "name": "PlaybookPublication",
        "title": "Published playbook version",
        "summary": "One playbook version: its four YAML files as text (lifecycle_schemas."
        "playbook_versions); its version number is the record's offset plus one.",
        "payload": PlaybookPublication.model_json_schema(mode="validation"),
    }
    document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Customer lifecycle orchestration",
            "version": CONTRACTS_VERSION,
            "description": "Every Kafka channel of the system, the CloudEvents records on it "
            "(structured JSON mode) and which service sends or receives them. Generated from "
            "the lifecycle_schemas package: do not edit.",
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The local broker (make kafka-start).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
    header = "# Generated by `python -m lifecycle_schemas.generate`: do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render_docs_catalogue() -> str:
    """The generated part of docs/contracts.md: record types, topics and limits."""
    lines = [DOCS_BEGIN, ""]
    titles = {
        RecordFamily.DEPARTMENT_EVENT: "Department events",
        RecordFamily.ACTION: "Actions (orchestrator to a department)",
        RecordFamily.OUTCOME: "Outcomes (department to orchestrator)",
        RecordFamily.ORCHESTRATOR_OUTPUT: "Orchestrator outputs",
    }
    for family, title in titles.items():
        lines += [f"### {title}", ""]
        lines.append(_row(["type", "model", "department", "source", "topic", "what it means"]))
        lines.append(_row(["---"] * 6))
        for record_type, model in RECORD_MODELS.items():
            if family_of(record_type) is not family:
                continue
            department = department_of(record_type)
            short_type = record_type.removeprefix(TYPE_PREFIX + ".")
            lines.append(
                _row(
                    [
                        f"`{short_type}`",
                        f"`{model.__name__}`",
                        department.value if department else "-",
                        ", ".join(f"`{s}`" for s in model.allowed_sources()),
                        f"`{topic_for_type(record_type).name}`",
                        _summary(model),
                    ]
                )
            )
        lines.append("")
    lines += ["### Topics", ""]
    lines.append(_row(["topic", "key", "partitions", "kept", "producers", "consumers"]))
    lines.append(_row(["---"] * 6))
    for spec in TOPICS.all():
        if spec.retention_ms is None:
            kept = spec.cleanup_policy.value
        else:
            kept = f"{spec.cleanup_policy.value}, {spec.retention_ms // 86_400_000} days"
        lines.append(
            _row(
                [
                    f"`{spec.name}`" + (" (internal)" if spec.internal else ""),
                    spec.key.value,
                    str(spec.partitions),
                    kept,
                    ", ".join(s.value for s in spec.producers) or "-",
                    ", ".join(s.value for s in spec.consumers) or "-",
                ]
            )
        )
    lines += ["", "### Limits", ""]
    lines.append(_row(["limit", "value"]))
    lines.append(_row(["---"] * 2))
    for name, value in (
        ("MAX_RECORD_BYTES (whole record, before parsing)", MAX_RECORD_BYTES),
        ("MAX_DATA_BYTES (`data` as compact JSON)", MAX_DATA_BYTES),
        ("MAX_NESTING_DEPTH (objects and arrays)", MAX_NESTING_DEPTH),
        ("MAX_INTEGER_DIGITS (any JSON integer)", MAX_INTEGER_DIGITS),
        (
            "MAX_CLOCK_SKEW (seconds `time` may lie after `now`)",
            int(MAX_CLOCK_SKEW.total_seconds()),
        ),
    ):
        lines.append(_row([f"`{name.split(' ', 1)[0]}` {name.split(' ', 1)[1]}", str(value)]))
    lines += ["", DOCS_END]
    return "\n".join(lines)


def _with_docs_catalogue(docs: str) -> str:
    if DOCS_BEGIN not in docs or DOCS_END not in docs:
        raise ValueError(f"{DOCS_FILE} lacks the generated-catalogue markers")
    head, rest = docs.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    return head + render_docs_catalogue() + tail


def generated_files() -> dict[Path, str]:
    """Every generated file and its expected content (snapshots excluded)."""
    files = {
        GENERATED_DIR / "jsonschema" / schema_file_name(record_type): _json_text(
            documented_schema(model)
        )
        for record_type, model in RECORD_MODELS.items()
    }
    files[GENERATED_DIR / "asyncapi.yaml"] = render_asyncapi()
    if DOCS_FILE.exists():
        files[DOCS_FILE] = _with_docs_catalogue(DOCS_FILE.read_text(encoding="utf-8"))
    return files


def stale_files(expected: Mapping[Path, str]) -> list[Path]:
    """Generated files that are missing, differ, or should no longer exist."""
    stale = [
        path
        for path, text in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    schema_dir = GENERATED_DIR / "jsonschema"
    if schema_dir.exists():
        stale += [p for p in sorted(schema_dir.glob("*.json")) if p not in expected]
    return stale


def snapshot_path(record_type: str) -> Path:
    """Where the published snapshot of a record type's schema is kept."""
    return SNAPSHOT_DIR / schema_file_name(record_type)


def compatibility_report() -> dict[str, list[str]]:
    """Breaking changes per record type, against the published snapshots."""
    report: dict[str, list[str]] = {}
    for record_type, model in RECORD_MODELS.items():
        path = snapshot_path(record_type)
        if path.exists():
            published = json.loads(path.read_text(encoding="utf-8"))
            problems = breaking_changes(published, wire_schema(model))
            if problems:
                report[record_type] = problems
    return report


def stale_snapshots() -> list[Path]:
    """Snapshots that are missing or differ from the current (compatible) schemas."""
    return [
        snapshot_path(t)
        for t, model in RECORD_MODELS.items()
        if not snapshot_path(t).exists()
        or snapshot_path(t).read_text(encoding="utf-8") != _json_text(wire_schema(model))
    ]


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the generated contract files."""
    parser = argparse.ArgumentParser(prog="python -m lifecycle_schemas.generate")
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 if stale")
    options = parser.parse_args(argv)
    breaking = compatibility_report()
    for record_type, problems in breaking.items():
        print(f"BREAKING {record_type}: bump the version in its type", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    expected = generated_files()
    stale = stale_files(expected)
    stale_snaps = stale_snapshots()
    if options.check:
        for path in [*stale, *stale_snaps]:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if breaking or stale or stale_snaps else 0
    if breaking:
        return 1
    for path, text in expected.items():
        if path in stale:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for path in stale:
        if path not in expected:
            path.unlink()
            print(f"removed {path}")
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for path in stale_snaps:
        record_type = path.name.removesuffix(".json")
        path.write_text(_json_text(wire_schema(RECORD_MODELS[record_type])), encoding="utf-8")
        print(f"snapshot {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
