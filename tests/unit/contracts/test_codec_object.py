"""decode_event_object: one parse instead of two, with decode_event's answer. No broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from lifecycle_schemas.catalogue import DEPARTMENT_EVENT_TYPES, AnyDepartmentEvent
from lifecycle_schemas.codec import (
    MAX_NESTING_DEPTH,
    RecordDecodeError,
    decode_event,
    decode_event_object,
    encode_record,
)
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EVENT_TYPES = sorted(DEPARTMENT_EVENT_TYPES)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**18, max_value=10**22)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["\ud800", "\\ud800", "NaN", "1970-01-01T00:00:00Z", "a\x00b"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)


def _example(event_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode_record(EXAMPLES[event_type]))
    return document


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"x": value}
    return value


def _outcome(decode: Any) -> AnyDepartmentEvent | list[tuple[str, str, str]] | None:
    try:
        result: AnyDepartmentEvent | None = decode()
    except RecordDecodeError as error:
        return [(e.path, e.rule, e.message) for e in error.errors]
    return result


def _same_as_decode_event(document: dict[str, Any], department: Department | None) -> bool:
    fast = _outcome(lambda: decode_event_object(document, now=NOW, department=department))
    if fast is None:
        return False
    slow = _outcome(
        lambda: decode_event(
            to_json(document, inf_nan_mode="constants"), now=NOW, department=department
        )
    )
    assert fast == slow
    return True


def test_every_example_event_takes_the_one_parse_path() -> None:
    for event_type in EVENT_TYPES:
        document = _example(event_type)
        assert decode_event_object(document, now=NOW) == EXAMPLES[event_type]


@settings(max_examples=300)
@given(
    event_type=st.sampled_from(EVENT_TYPES),
    where=st.sampled_from(["", "data", "data.customer"]),
    key=st.sampled_from(["id", "type", "time", "subject", "source", "customer", "email", "x"]),
    value=json_values | st.just(_nested(MAX_NESTING_DEPTH)) | st.just("drop"),
    department=st.none() | st.sampled_from(list(Department)),
)
def test_a_changed_event_gets_what_decode_event_answers(
    event_type: str, where: str, key: str, value: Any, department: Department | None
) -> None:
    document = _example(event_type)
    target: Any = document
    for part in filter(None, where.split(".")):
        target = target.get(part) if isinstance(target, dict) else None
    if isinstance(target, dict):
        if value == "drop":
            target.pop(key, None)
        else:
            target[key] = value
    _same_as_decode_event(document, department)


def test_what_the_guards_would_refuse_goes_the_slow_way() -> None:
    cases: list[Any] = [10**20, -(10**20), float("inf"), float("nan"), "\ud800", "\\ud800"]
    for value in cases:
        document = _example(EVENT_TYPES[0])
        document["data"]["note"] = value
        assert decode_event_object(document, now=NOW) is None
    deep = _example(EVENT_TYPES[0])
    deep["data"]["note"] = _nested(MAX_NESTING_DEPTH)
    assert decode_event_object(deep, now=NOW) is None
    large = _example(EVENT_TYPES[0])
    large["data"]["note"] = "a" * 20_000
    assert decode_event_object(large, now=NOW) is None


def test_a_long_integer_inside_a_string_is_only_a_detour() -> None:
    document = _example(EVENT_TYPES[0])
    document["id"] = "1" * 30
    assert decode_event_object(document, now=NOW) is None
    assert _outcome(lambda: decode_event(to_json(document), now=NOW)) is not None
