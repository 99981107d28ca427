"""The committed JSON Schemas, AsyncAPI document, docs catalogue and snapshots are current."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifecycle_schemas import generate
from lifecycle_schemas.catalogue import RECORD_MODELS
from lifecycle_schemas.codec import decode_record
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS

ALL_TYPES = list(RECORD_MODELS)


def test_generated_files_are_not_stale() -> None:
    stale = generate.stale_files(generate.generated_files())
    assert stale == [], "run `make contracts` (python -m lifecycle_schemas.generate) and commit"


def test_every_published_schema_has_a_current_snapshot() -> None:
    assert generate.stale_snapshots() == [], "run `make contracts` and commit schemas/compat/"


def test_no_breaking_change_against_the_published_snapshots() -> None:
    report = generate.compatibility_report()
    assert report == {}, f"breaking changes: bump the version in these types: {report}"


def test_the_generator_check_mode_passes() -> None:
    assert generate.main(["--check"]) == 0


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_json_schema_per_type_with_a_decodable_example(record_type: str, now: datetime) -> None:
    path = generate.GENERATED_DIR / "jsonschema" / generate.schema_file_name(record_type)
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["type"]["const"] == record_type
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"specversion", "id", "source", "type", "time", "data"}
    (example,) = schema["examples"]
    assert decode_record(json.dumps(example), now=now) == EXAMPLES[record_type]
    assert set(example) <= set(schema["properties"])


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    text = (generate.GENERATED_DIR / "asyncapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _resolve(document: dict[str, Any], reference: str) -> Any:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []


def test_asyncapi_document_is_version_3(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert {"info", "channels", "operations", "components"} <= set(asyncapi)


def test_asyncapi_references_resolve(asyncapi: dict[str, Any]) -> None:
    references = _references(asyncapi)
    assert references
    for reference in references:
        if reference.startswith("#/"):
            assert _resolve(asyncapi, reference) is not None
        else:
            assert (generate.GENERATED_DIR / reference).is_file(), reference


def test_asyncapi_describes_every_topic_message_and_service(asyncapi: dict[str, Any]) -> None:
    channels = asyncapi["channels"]
    by_address = {channel["address"]: channel for channel in channels.values()}
    assert set(by_address) == {spec.name for spec in TOPICS.all()}
    messages = asyncapi["components"]["messages"]
    raw = {"DeadLetter", "SubjectKey", "PlaybookPublication"}  # not contract records
    assert {m["title"] for m in messages.values() if m["name"] not in raw} == set(ALL_TYPES)
    operations = list(asyncapi["operations"].values())
    for spec in TOPICS.all():
        channel = by_address[spec.name]
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
        titles = {messages[name]["title"] for name in channel["messages"]}
        assert titles == set(spec.value_types) or spec.value_types == ()
        for action, services in (("send", spec.producers), ("receive", spec.consumers)):
            for service in services:
                assert any(
                    op["action"] == action
                    and _resolve(asyncapi, op["channel"]["$ref"]) is channel
                    and op["tags"] == [{"name": service.value}]
                    for op in operations
                ), (service, action, spec.name)


def test_docs_catalogue_lists_every_type() -> None:
    docs = generate.DOCS_FILE.read_text(encoding="utf-8")
    for record_type, model in RECORD_MODELS.items():
        assert f"`{model.__name__}`" in docs
        assert record_type.split(".", 2)[2] in docs


def test_generator_writes_into_the_schemas_project() -> None:
    assert Path(generate.__file__).resolve().parents[2] / "generated" == generate.GENERATED_DIR
    assert (generate.PROJECT_DIR / "pyproject.toml").is_file()
