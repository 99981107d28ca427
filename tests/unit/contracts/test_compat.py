"""The compatibility checker flags breaking changes and lets additive ones through."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from lifecycle_schemas.compat import breaking_changes
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.generate import wire_schema


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class ColourPlus(StrEnum):
    RED = "red"
    BLUE = "blue"
    GREEN = "green"


class Inner(Strict):
    sku: str
    quantity: int = 1


class InnerWithoutQuantity(Strict):
    sku: str


class Published(Strict):
    name: Annotated[str, Field(max_length=50)]
    count: int
    note: str | None = None
    colour: Colour
    lines: Annotated[tuple[Inner, ...], Field(max_length=10)]
    facts: dict[str, int] = Field(default_factory=dict)


def _schema(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": (Annotated[str, Field(max_length=50)], ...),
        "count": (int, ...),
        "note": (str | None, None),
        "colour": (Colour, ...),
        "lines": (Annotated[tuple[Inner, ...], Field(max_length=10)], ...),
        "facts": (dict[str, int], Field(default_factory=dict)),
    }
    for name, spec in changes.items():
        if spec is None:
            del fields[name]
        else:
            fields[name] = spec
    from pydantic import create_model

    model = create_model("Published", __base__=Strict, **fields)
    return model.model_json_schema()


PUBLISHED = Published.model_json_schema()


def test_the_helper_rebuilds_the_published_schema() -> None:
    assert _schema() == PUBLISHED
    assert breaking_changes(PUBLISHED, _schema()) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"extra": (str | None, None)},
        {"name": (Annotated[str, Field(max_length=80)], ...)},
        {"count": (float, ...)},
        {"note": (str | int | None, None)},
        {"colour": (ColourPlus, ...)},
        {"lines": (Annotated[tuple[Inner, ...], Field(max_length=20)], ...)},
        {"facts": (dict[str, int | str], Field(default_factory=dict))},
        {"count": (int | None, None)},
    ],
    ids=[
        "new-optional-field",
        "longer-string",
        "int-to-number",
        "wider-union",
        "new-enum-value",
        "more-items",
        "wider-dict-values",
        "required-becomes-optional",
    ],
)
def test_additive_and_widening_changes_are_compatible(changes: dict[str, Any]) -> None:
    assert breaking_changes(PUBLISHED, _schema(**changes)) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"note": None}, "note: field removed"),
        ({"extra": (str, ...)}, "extra: new required field"),
        ({"note": (str, ...)}, "note: optional field became required"),
        ({"count": (str, ...)}, "count: type changed from integer to string"),
        ({"name": (Annotated[str, Field(max_length=20)], ...)}, "name: maxLength lowered"),
        ({"name": (Annotated[str, Field(min_length=2, max_length=50)], ...)}, "minLength raised"),
        ({"name": (Annotated[str, Field(max_length=50, pattern="^a")], ...)}, "pattern changed"),
        ({"count": (Annotated[int, Field(ge=0)], ...)}, "count: minimum raised"),
        ({"note": (str, None)}, "note: no longer accepts null"),
        ({"colour": (Annotated[str, Field(pattern="^(red)$")], ...)}, "pattern changed"),
        ({"lines": (Annotated[tuple[Inner, ...], Field(max_length=5)], ...)}, "maxItems lowered"),
        (
            {"lines": (Annotated[tuple[InnerWithoutQuantity, ...], Field(max_length=10)], ...)},
            "lines[].quantity: field removed",
        ),
        ({"facts": (dict[str, bool], Field(default_factory=dict))}, "facts.{*}: type changed"),
    ],
    ids=[
        "removed-field",
        "new-required-field",
        "optional-to-required",
        "int-to-string",
        "shorter-string",
        "min-length",
        "new-pattern",
        "new-minimum",
        "null-dropped",
        "enum-to-pattern",
        "fewer-items",
        "nested-field-removed",
        "narrower-dict-values",
    ],
)
def test_breaking_changes_are_reported(changes: dict[str, Any], expected: str) -> None:
    problems = breaking_changes(PUBLISHED, _schema(**changes))
    assert any(expected in problem for problem in problems), problems


def test_enum_value_removed_is_breaking() -> None:
    class Narrow(StrEnum):
        RED = "red"

    problems = breaking_changes(PUBLISHED, _schema(colour=(Narrow, ...)))
    assert problems == ["colour: allowed values narrowed"]


def test_a_real_record_schema_is_compatible_with_itself_and_not_with_a_removal() -> None:
    model = type(EXAMPLES["com.customerlifecycle.sales.deal.won.v1"])
    published = wire_schema(model)
    assert breaking_changes(published, wire_schema(model)) == []
    current = wire_schema(model)
    del current["$defs"]["DealWonData"]["properties"]["contract_id"]
    assert breaking_changes(published, current) == ["data.contract_id: field removed"]
    current = wire_schema(model)
    current["$defs"]["DealWonData"]["required"].append("contract_id")
    assert breaking_changes(published, current) == [
        "data.contract_id: optional field became required"
    ]
