"""Bodies to validated events: parsing, envelope completion, field paths. No broker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from department_kit.ingest import (
    _as_json,
    complete_envelope,
    parse_body,
    validate_item,
    validate_items,
)
from lifecycle_schemas.catalogue import event_types_for
from lifecycle_schemas.codec import MAX_RECORD_BYTES, encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from service_kit.problems import FieldProblem, ProblemError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def wire_event(department: Department, index: int = 0) -> dict[str, Any]:
    example = EXAMPLES[sorted(event_types_for(department))[index]]
    new_id = str(uuid.uuid4())
    document: dict[str, Any] = json.loads(
        encode_record(example.model_copy(update={"id": new_id, "correlationid": new_id}))
    )
    return document


def minimal(document: dict[str, Any]) -> dict[str, Any]:
    """What a department's system must send at the least: id, type, time, data."""
    return {key: document[key] for key in ("id", "type", "time", "data")}


def test_one_object_is_one_event_and_an_array_is_a_batch() -> None:
    single = parse_body(b'{"a": 1}', "application/json", 10)
    batch = parse_body(b'[{"a": 1}, {"b": 2}]', "application/json; charset=utf-8", 10)
    assert (single.items, single.is_batch) == ([{"a": 1}], False)
    assert (batch.items, batch.is_batch) == ([{"a": 1}, {"b": 2}], True)


def test_ndjson_lines_are_a_batch_and_blank_lines_are_skipped() -> None:
    parsed = parse_body(b'{"a": 1}\n\n{"b": 2}\n', "application/x-ndjson", 10)
    assert parsed.items == [{"a": 1}, {"b": 2}]
    assert parsed.is_batch


@pytest.mark.parametrize(
    ("body", "content_type", "status", "rule"),
    [
        (b'{"a": ', "application/json", 400, "json_invalid"),
        (b'{"a": 1, "a": 2}', "application/json", 400, "duplicate_key"),
        (b'{"a": NaN}', "application/json", 400, "number_not_finite"),
        (b'{"a": 1e999}', "application/json", 400, "number_not_finite"),
        (b'{"a": ' + b"9" * 400 + b"}", "application/json", 400, "integer_too_large"),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", 400, "nesting_too_deep"),
        (b"[" * 10_000 + b"]" * 10_000, "application/x-ndjson", 400, "nesting_too_deep"),
        (b"\xff\xfe", "application/json", 400, "not_utf8"),
        (b'{"a": 1}\n{"b": ', "application/x-ndjson", 400, "json_invalid"),
        (b"[]", "application/json", 422, "empty_batch"),
        (b"[1, 2, 3]", "application/json", 422, "too_many_items"),
    ],
)
def test_bodies_that_cannot_be_split_are_refused_with_a_rule(
    body: bytes, content_type: str, status: int, rule: str
) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_body(body, content_type, 2)
    assert refused.value.status == status
    assert [e.rule for e in refused.value.errors] == [rule]


@pytest.mark.parametrize(
    ("body", "content_type", "pointer"),
    [
        (b'{"data": {"amount": [1, 2, Infinity]}}', "application/json", "/data/amount/2"),
        (b'[{"a": 1}, {"a": {"b": 1, "b": 2}}]', "application/json", "/1/a/b"),
        (b'{"a": 1}\n{"x": {"y": -' + b"1" * 30 + b"}}", "application/x-ndjson", "/1/x/y"),
        (
            b'{"a": 1}\n' + b'{"k": ' * 40 + b"1" + b"}" * 40,
            "application/x-ndjson",
            "/1" + "/k" * 16,
        ),
    ],
)
def test_a_guard_names_the_place_where_its_limit_was_crossed(
    body: bytes, content_type: str, pointer: str
) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_body(body, content_type, 10)
    assert [e.pointer for e in refused.value.errors] == [pointer]


def test_a_bad_ndjson_line_is_named_by_its_item_index() -> None:
    with pytest.raises(ProblemError) as refused:
        parse_body(b'{"a": 1}\n\n{"b": ', "application/x-ndjson", 10)
    assert refused.value.errors[0].pointer == "/1"


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "multipart/form-data"]
)
def test_other_content_types_get_415(content_type: str | None) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_body(b"{}", content_type, 10)
    assert refused.value.status == 415


@pytest.mark.parametrize("department", list(Department), ids=lambda d: d.value)
def test_every_example_event_of_a_department_passes_with_only_id_type_time_and_data(
    department: Department,
) -> None:
    for index in range(len(event_types_for(department))):
        document = wire_event(department, index)
        record = validate_item(minimal(document), department, NOW)
        assert not isinstance(record, list), record
        assert json.loads(encode_record(record)) == document


def test_the_envelope_is_completed_from_the_department_and_the_customer() -> None:
    document = minimal(wire_event(Department.SALES))
    completed = complete_envelope(document, Department.SALES)
    assert completed["source"] == "/services/sales"
    assert completed["specversion"] == "1.0"
    assert completed["correlationid"] == document["id"]
    assert completed["subject"].startswith(("crm_account_id:", "customer_id:", "email:"))
    assert (
        complete_envelope({**document, "correlationid": "chain-1"}, Department.SALES)[
            "correlationid"
        ]
        == "chain-1"
    )


@pytest.mark.parametrize("department", list(Department), ids=lambda d: d.value)
def test_another_departments_event_type_is_refused_at_type(department: Department) -> None:
    others = [d for d in Department if d != department]
    for other in others:
        problems = validate_item(minimal(wire_event(other)), department, NOW, "/4")
        assert isinstance(problems, list)
        assert [(p.pointer, p.rule) for p in problems] == [("/4/type", "wrong_department")]


def test_every_failing_field_is_named_even_when_attributes_are_missing() -> None:
    document = minimal(wire_event(Department.MARKETING))
    del document["time"]
    document["data"]["customer"] = {"email": "not-an-address"}
    problems = validate_item(document, Department.MARKETING, NOW, "/2")
    assert isinstance(problems, list)
    assert {(p.pointer, p.rule) for p in problems} == {
        ("/2/time", "missing"),
        ("/2/data/customer/email", "email_invalid"),
    }


def test_a_missing_id_is_reported_for_an_otherwise_valid_event() -> None:
    document = minimal(wire_event(Department.SERVICE_DESK))
    del document["id"]
    assert validate_item(document, Department.SERVICE_DESK, NOW) == [
        FieldProblem(pointer="/id", rule="missing", detail="required")
    ]


def test_an_event_stamped_in_the_future_is_refused() -> None:
    document = minimal(wire_event(Department.SALES))
    document["time"] = (NOW + timedelta(hours=1)).isoformat()
    problems = validate_item(document, Department.SALES, NOW)
    assert isinstance(problems, list)
    assert [(p.pointer, p.rule) for p in problems] == [("/time", "time_in_future")]


def test_a_batch_reports_valid_and_invalid_items_by_index() -> None:
    good = minimal(wire_event(Department.MARKETING))
    validation = validate_items([good, 42, good], Department.MARKETING, NOW, is_batch=True)
    assert [item.index for item in validation.valid] == [0, 2]
    assert [(i.index, i.errors[0].pointer, i.errors[0].rule) for i in validation.invalid] == [
        (1, "/1", "record_not_object")
    ]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_json_item_is_either_an_event_or_problems_never_an_exception(item: Any) -> None:
    outcome = validate_item(item, Department.SALES, NOW, "/0")
    assert isinstance(outcome, list)
    assert all(p.pointer.startswith("/0") for p in outcome)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (10**30, "integer_too_large"),
        (float("inf"), "number_not_finite"),
        ("\ud800x", "invalid_unicode"),  # a lone surrogate, from a \ud800 escape in the body
    ],
)
def test_values_json_cannot_carry_are_refused_by_the_codec_rule(value: Any, rule: str) -> None:
    # The item is written back as JSON for the codec; whichever writer does it, the answer is
    # the codec's, as when json.dumps wrote every item.
    document = wire_event(Department.MARKETING)
    document["data"]["customer"]["email"] = value
    problems = validate_item(document, Department.MARKETING, NOW)
    assert isinstance(problems, list)
    where = "" if rule == "invalid_unicode" else "/data/customer/email"  # surrogates: the writer
    assert [(p.pointer, p.rule) for p in problems] == [(where, rule)]


def test_a_record_near_the_size_limit_is_measured_as_before() -> None:
    # json.dumps's spaces counted toward the limit; a record this large is still written by it.
    document = wire_event(Department.MARKETING)
    document["data"]["customer"]["email"] = "a" * (MAX_RECORD_BYTES // 2) + "@example.com"
    assert _as_json(document) == json.dumps(document, ensure_ascii=False)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_an_item_written_back_reads_as_json_dumps_would_write_it(value: Any) -> None:
    document = {"data": value}
    try:
        expected = json.loads(json.dumps(document, ensure_ascii=False))
    except ValueError:
        return  # nothing to compare: json.dumps itself cannot write it
    assert json.loads(_as_json(document)) == expected


@settings(max_examples=300)
@given(
    department=st.sampled_from(list(Department)),
    index=st.integers(min_value=0, max_value=3),
    drop=st.sets(st.sampled_from(["id", "type", "time", "subject", "correlationid", "source"])),
    changes=st.dictionaries(
        st.sampled_from(["id", "type", "time", "subject", "specversion", "extra"]),
        st.none() | st.integers() | st.floats() | st.text(max_size=30) | st.just(10**25),
        max_size=2,
    ),
    customer=st.none()
    | st.dictionaries(st.sampled_from(["email", "crm_account_id", "x"]), st.text(max_size=10)),
)
def test_a_parsed_item_gets_the_same_answer_on_the_one_parse_path(
    department: Department,
    index: int,
    drop: set[str],
    changes: dict[str, Any],
    customer: dict[str, Any] | None,
) -> None:
    types = sorted(event_types_for(department))
    document = wire_event(department, index % len(types))
    for name in drop:
        document.pop(name, None)
    document.update(changes)
    if customer is not None:
        document["data"]["customer"] = customer
    for prefix in ("", "/4"):
        slow = validate_item(document, department, NOW, prefix)
        fast = validate_item(document, department, NOW, prefix, from_json=True)
        assert fast == slow


def test_a_batch_body_gets_the_same_answer_on_the_one_parse_path() -> None:
    good = wire_event(Department.MARKETING)
    bad = {**wire_event(Department.MARKETING), "time": "yesterday"}
    body = json.dumps([good, bad, minimal(good), {"type": good["type"]}]).encode()
    items = parse_body(body, "application/json", 10).items
    slow = validate_items(items, Department.MARKETING, NOW, True)
    fast = validate_items(items, Department.MARKETING, NOW, True, from_json=True)
    assert fast == slow
    assert [item.index for item in fast.valid] == [0, 2]
