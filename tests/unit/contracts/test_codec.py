"""Bad input: every way a record can be wrong yields one RecordDecodeError naming the rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.codec import (
    KAFKA_HEADERS,
    MAX_DATA_BYTES,
    MAX_INTEGER_DIGITS,
    MAX_NESTING_DEPTH,
    MAX_RECORD_BYTES,
    FieldError,
    RecordDecodeError,
    RecordEncodeError,
    check_record_time,
    decode_action,
    decode_event,
    decode_record,
    encode_record,
)
from lifecycle_schemas.dead_letter import (
    DEAD_LETTER_HEADERS,
    HEADER_ERROR_CLASS,
    HEADER_ERROR_FIELDS,
    HEADER_RECORD_TYPE,
    dead_letter_headers,
)
from lifecycle_schemas.departments import Department, Service
from lifecycle_schemas.examples import EMAIL, EXAMPLES
from lifecycle_schemas.outputs import Candidate, DecisionRecorded, Verdict

DEAL_WON = "com.customerlifecycle.sales.deal.won.v1"
SATISFACTION = "com.customerlifecycle.servicedesk.satisfaction.received.v1"
DECISION = "com.customerlifecycle.orchestrator.decision.recorded.v1"
SUPPRESS = "com.customerlifecycle.action.marketing.suppress-promotions.v1"


def _rules(raw: Any, now: datetime | None = None) -> set[tuple[str, str]]:
    with pytest.raises(RecordDecodeError) as caught:
        decode_record(raw, now=now)
    assert caught.value.errors, "an error always names at least one rule"
    return {(e.path, e.rule) for e in caught.value.errors}


def _deal_won(example_json: Any) -> dict[str, Any]:
    document: dict[str, Any] = example_json(DEAL_WON)
    return document


@pytest.mark.parametrize(
    ("raw", "path", "rule"),
    [
        (b"", "", "json_invalid"),
        (b"   ", "", "json_invalid"),
        (b"{", "", "json_invalid"),
        (b"{'type': 1}", "", "json_invalid"),
        (b"[]", "", "record_not_object"),
        (b"42", "", "record_not_object"),
        (b'"text"', "", "record_not_object"),
        (b"null", "", "record_not_object"),
        (b"\xff\xfe{}", "", "not_utf8"),
        (b"\xef\xbb\xbf{}", "", "json_invalid"),
        (b'{"a": NaN}', "a", "number_not_finite"),
        (b'{"a": Infinity}', "a", "number_not_finite"),
        (b'{"a": -Infinity}', "a", "number_not_finite"),
        (b'{"a": 1e999}', "a", "number_not_finite"),
        (b'{"a": -1e999}', "a", "number_not_finite"),
        (b'{"a": 1, "a": 2}', "a", "duplicate_key"),
        (b'{"a": "\\ud800"}', "a", "invalid_unicode"),
        (b'{"\\udfff": 1}', "", "invalid_unicode"),
        (b'{"a": "\x01"}', "", "json_invalid"),
        ("{\ud800}", "", "invalid_unicode"),
    ],
)
def test_malformed_bytes_are_rejected(raw: bytes | str, path: str, rule: str) -> None:
    # A guard names the place where it failed ("" is the whole record).
    assert _rules(raw) == {(path, rule)}


@pytest.mark.parametrize("digits", [MAX_INTEGER_DIGITS + 1, 4301, 100_000])
def test_huge_integers_are_rejected_before_conversion(digits: int) -> None:
    raw = b'{"a": ' + b"9" * digits + b"}"
    too_large = len(raw) > MAX_RECORD_BYTES
    assert _rules(raw) == {("", "record_too_large") if too_large else ("a", "integer_too_large")}
    assert _rules(b'{"a": -' + b"9" * min(digits, 5000) + b"}") == {("a", "integer_too_large")}


def test_largest_allowed_integer_reaches_the_model(example_json: Any, now: datetime) -> None:
    document = _deal_won(example_json)
    document["data"]["amount"]["amount_minor"] = 9_999_999_999_999_999_999
    rules = _rules(json.dumps(document), now)
    assert rules == {("data.amount.amount_minor", "less_than_equal")}


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH + 1, 500, 5000, 200_000])
def test_deep_nesting_is_rejected(depth: int) -> None:
    raw = "[" * depth + "]" * depth
    if len(raw) > MAX_RECORD_BYTES:
        assert _rules(raw) == {("", "record_too_large")}
    else:
        # The place of the first array past the limit, found without parsing the rest.
        assert _rules(raw) == {("[0]" * MAX_NESTING_DEPTH, "nesting_too_deep")}


def test_deep_nesting_inside_a_valid_record(example_json: Any, now: datetime) -> None:
    document = _deal_won(example_json)
    nested: Any = 1
    for _ in range(MAX_NESTING_DEPTH):
        nested = {"x": nested}
    document["data"]["products"][0]["sku"] = nested
    # root, data, products, [0] and sku are 5 levels: the 13th nested object is the 17th.
    too_deep = "data.products[0].sku" + ".x" * (MAX_NESTING_DEPTH - 4)
    assert _rules(json.dumps(document), now) == {(too_deep, "nesting_too_deep")}


def test_oversized_record_is_rejected_before_parsing() -> None:
    raw = b" " * (MAX_RECORD_BYTES + 1)
    assert _rules(raw) == {("", "record_too_large")}
    assert _rules(raw.decode()) == {("", "record_too_large")}


def test_oversized_data_is_rejected(example_json: Any, now: datetime) -> None:
    document = example_json(SATISFACTION)
    document["data"]["comment"] = "ä" * (MAX_DATA_BYTES // 2 + 10)
    assert len(json.dumps(document, ensure_ascii=False).encode()) < MAX_RECORD_BYTES
    assert _rules(json.dumps(document, ensure_ascii=False), now) == {("data", "data_too_large")}


def test_long_text_under_the_data_limit_breaks_the_field_bound(
    example_json: Any, now: datetime
) -> None:
    document = example_json(SATISFACTION)
    document["data"]["comment"] = "x" * 2001
    assert _rules(json.dumps(document), now) == {("data.comment", "string_too_long")}


def test_oversized_record_cannot_be_encoded() -> None:
    example = EXAMPLES[DECISION]
    assert isinstance(example, DecisionRecorded)
    candidate = Candidate(
        action_type=SUPPRESS,
        department=Department.MARKETING,
        play_id="p" * 64,
        play_version=1,
        score=0.123456789,
        score_components={f"component-{i}-{'x' * 50}": 0.5 for i in range(8)},
        verdict=Verdict.LOST,
        reason_code="r" * 64,
        reason="y" * 200,
        action_id="a" * 128,
    )
    data = example.data.model_copy(update={"candidates": (candidate,) * 64})
    big = DecisionRecorded.build(data, id=example.id, time=example.time)
    with pytest.raises(RecordEncodeError, match="larger than"):
        encode_record(big)


@pytest.mark.parametrize(
    ("record_type", "mutation", "expected"),
    [
        (DEAL_WON, ("type", "com.customerlifecycle.sales.deal.won.v9"), ("type", "unknown_type")),
        (DEAL_WON, ("type", 7), ("type", "string_type")),
        (DEAL_WON, ("specversion", "0.3"), ("specversion", "literal_error")),
        (DEAL_WON, ("datacontenttype", "text/xml"), ("datacontenttype", "literal_error")),
        (DEAL_WON, ("id", ""), ("id", "string_too_short")),
        (DEAL_WON, ("id", "has spaces"), ("id", "string_pattern_mismatch")),
        (DEAL_WON, ("time", "2025-03-20T09:00:00"), ("time", "timezone_aware")),
        (DEAL_WON, ("time", "yesterday"), ("time", "datetime_parsing")),
        (DEAL_WON, ("time", 1742461200), ("time", "datetime_type")),
        (DEAL_WON, ("correlationid", None), ("correlationid", "string_type")),
        (DEAL_WON, ("data", []), ("data", "model_type")),
        (DEAL_WON, ("data", None), ("data", "model_type")),
    ],
)
def test_envelope_errors_name_the_attribute(
    record_type: str,
    mutation: tuple[str, Any],
    expected: tuple[str, str],
    example_json: Any,
    now: datetime,
) -> None:
    document = example_json(record_type)
    document[mutation[0]] = mutation[1]
    assert _rules(json.dumps(document), now) == {expected}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("amount", "amount_minor"), "100", "int_type"),
        (("amount", "amount_minor"), 100.0, "int_type"),
        (("amount", "amount_minor"), True, "int_type"),
        (("amount", "amount_minor"), -1, "greater_than_equal"),
        (("amount", "currency"), "eur", "string_pattern_mismatch"),
        (("amount", "currency"), "XAU", "currency_unknown"),
        (("amount", "currency"), "EURO", "string_too_long"),
        (("contract_term_months",), 0, "greater_than_equal"),
        (("contract_term_months",), 121, "less_than_equal"),
        (("kind",), "gift", "enum"),
        (("products",), [], "too_short"),
        (("products",), [{"sku": "A"}] * 51, "too_long"),
        (("products", 0, "quantity"), 0, "greater_than_equal"),
        (("contract_start",), "2025-02-30", "date_parsing"),
        (("customer",), {}, "customer_reference_empty"),
        (("customer", "email"), "ann@", "email_invalid"),
        (("customer", "phone"), "0207 946 0958", "phone_not_international"),
    ],
)
def test_payload_errors_name_the_field_and_rule(
    path: tuple[str | int, ...], value: Any, expected: str, example_json: Any, now: datetime
) -> None:
    document = _deal_won(example_json)
    target = document["data"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    rules = _rules(json.dumps(document), now)
    location = "data." + ".".join(str(p) for p in path).replace(".0.", "[0].")
    assert (location, expected) in rules or any(
        rule == expected and p.startswith(location) for p, rule in rules
    ), rules


def test_bool_is_not_an_integer_and_integer_is_not_a_bool(example_json: Any, now: datetime) -> None:
    document = example_json(SATISFACTION)
    document["data"]["csat"] = True
    assert _rules(json.dumps(document), now) == {("data.csat", "int_type")}
    renewal = example_json("com.customerlifecycle.sales.renewal.due.v1")
    renewal["data"]["auto_renews"] = 0
    assert _rules(json.dumps(renewal), now) == {("data.auto_renews", "bool_type")}


def test_error_messages_never_echo_personal_data(example_json: Any, now: datetime) -> None:
    document = _deal_won(example_json)
    secret_email = "Jane.Secret@Example"
    document["data"]["customer"]["email"] = secret_email
    document["data"]["customer"]["phone"] = "+44 7700 SECRET"
    document["subject"] = "email:" + secret_email
    with pytest.raises(RecordDecodeError) as caught:
        decode_record(json.dumps(document), now=now)
    text = str(caught.value) + repr(caught.value.errors)
    assert "Secret" not in text
    assert "SECRET" not in text
    assert EMAIL not in text


def test_error_message_summarises_and_keeps_every_error(example_json: Any, now: datetime) -> None:
    document = _deal_won(example_json)
    for name in ("opportunity_id", "kind", "amount", "products", "contract_term_months"):
        del document["data"][name]
    document["data"]["extra_one"] = 1
    with pytest.raises(RecordDecodeError) as caught:
        decode_record(json.dumps(document), now=now)
    assert len(caught.value.errors) == 6
    assert "and 1 more" in str(caught.value)
    assert caught.value.record_type == DEAL_WON
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        ("", ""),
        ("type", "/type"),
        ("data.products[0].sku", "/data/products/0/sku"),
        ("data.facts.a/b", "/data/facts/a~1b"),
        ("data.answers.x~y", "/data/answers/x~0y"),
    ],
)
def test_field_error_gives_a_json_pointer(path: str, pointer: str) -> None:
    assert FieldError(path, "rule", "message").pointer == pointer


def test_decode_event_filters_by_department(now: datetime) -> None:
    encoded = encode_record(EXAMPLES[DEAL_WON])
    assert decode_event(encoded, now=now, department=Department.SALES) == EXAMPLES[DEAL_WON]
    with pytest.raises(RecordDecodeError) as caught:
        decode_event(encoded, now=now, department=Department.MARKETING)
    assert caught.value.errors[0].rule == "wrong_department"


def test_decode_action_filters_by_department(now: datetime) -> None:
    encoded = encode_record(EXAMPLES[SUPPRESS])
    assert decode_action(encoded, now=now, department=Department.MARKETING) == EXAMPLES[SUPPRESS]
    with pytest.raises(RecordDecodeError) as caught:
        decode_action(encoded, now=now, department=Department.SERVICE_DESK)
    assert caught.value.errors[0].rule == "wrong_department"


def test_decode_accepts_text_and_bytes_alike(now: datetime) -> None:
    encoded = encode_record(EXAMPLES[DEAL_WON])
    assert decode_record(encoded.decode(), now=now) == decode_record(encoded, now=now)
    assert decode_record(bytearray(encoded), now=now) == EXAMPLES[DEAL_WON]  # type: ignore[arg-type]


def test_non_bytes_input_is_a_decode_error() -> None:
    assert _rules(12) == {("", "record_not_bytes")}


def test_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decode_record(encode_record(EXAMPLES[DEAL_WON]), now=datetime(2025, 1, 1))


def test_check_record_time_for_records_built_in_code() -> None:
    record = EXAMPLES[DEAL_WON]
    check_record_time(record, record.time)
    check_record_time(record, record.time - timedelta(minutes=5))
    with pytest.raises(RecordDecodeError) as caught:
        check_record_time(record, record.time - timedelta(minutes=6))
    assert caught.value.errors == [
        FieldError("time", "time_in_future", caught.value.errors[0].message)
    ]


def test_far_future_timestamps_are_rejected(example_json: Any) -> None:
    document = _deal_won(example_json)
    document["time"] = "9999-12-31T23:59:59Z"
    assert _rules(json.dumps(document), datetime.now(UTC)) == {("time", "time_in_future")}


def test_structured_mode_content_type_header() -> None:
    assert dict(KAFKA_HEADERS) == {"content-type": b"application/cloudevents+json; charset=UTF-8"}


def test_dead_letter_headers_carry_the_reason(example_json: Any, now: datetime) -> None:
    document = _deal_won(example_json)
    document["data"]["customer"]["email"] = "secret-person@"
    with pytest.raises(RecordDecodeError) as caught:
        decode_record(json.dumps(document), now=now)
    headers = dict(
        dead_letter_headers(
            topic="lifecycle.sales.events.v1",
            partition=3,
            offset=1207,
            service=Service.ORCHESTRATOR,
            failed_at=now,
            error=caught.value,
        )
    )
    assert set(headers) <= set(DEAD_LETTER_HEADERS)
    assert headers[HEADER_ERROR_CLASS] == b"RecordDecodeError"
    assert headers[HEADER_RECORD_TYPE] == DEAL_WON.encode()
    assert headers[HEADER_ERROR_FIELDS] == b"data.customer.email email_invalid"
    assert all(b"secret-person" not in value for value in headers.values())


def test_dead_letter_headers_hide_messages_of_other_errors(now: datetime) -> None:
    headers = dict(
        dead_letter_headers(
            topic="t",
            partition=0,
            offset=0,
            service=Service.SALES,
            failed_at=now,
            error=KeyError("ann@example.com"),
        )
    )
    assert headers[HEADER_ERROR_CLASS] == b"KeyError"
    assert all(b"ann@" not in value for value in headers.values())
