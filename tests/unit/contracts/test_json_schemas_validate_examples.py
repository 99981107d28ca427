"""Given the committed JSON Schemas, an independent validator accepts every example and
refuses the shapes the models refuse: the documents say what the code does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_testing.paths import REPOSITORY_ROOT

SCHEMA_DIR = REPOSITORY_ROOT / "schemas" / "generated" / "jsonschema"


def _validator(record_type: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{record_type}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _example(record_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode_record(EXAMPLES[record_type]))
    return document


@pytest.mark.parametrize("record_type", sorted(EXAMPLES))
def test_every_example_is_valid_against_its_committed_schema(record_type: str) -> None:
    errors = list(_validator(record_type).iter_errors(_example(record_type)))
    assert errors == []


@pytest.mark.parametrize("record_type", sorted(EXAMPLES))
def test_the_schema_refuses_an_unknown_data_field_and_a_foreign_type(record_type: str) -> None:
    validator = _validator(record_type)
    with_extra = _example(record_type)
    with_extra["data"] = {**with_extra["data"], "not_in_the_contract": 1}
    assert not validator.is_valid(with_extra)
    foreign = _example(record_type)
    foreign["type"] = "com.customerlifecycle.unknown.thing.v1"
    assert not validator.is_valid(foreign)


def test_there_is_one_schema_per_record_type() -> None:
    assert {path.name.removesuffix(".json") for path in Path(SCHEMA_DIR).glob("*.json")} == set(
        EXAMPLES
    )
