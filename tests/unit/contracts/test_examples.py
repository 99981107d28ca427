"""Every record type has a realistic example; examples round-trip and break the right rules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.catalogue import (
    DEPARTMENT_EVENT_TYPES,
    RECORD_MODELS,
    RecordFamily,
    family_of,
)
from lifecycle_schemas.codec import (
    RecordDecodeError,
    decode_action,
    decode_event,
    decode_outcome,
    decode_record,
    encode_record,
    kafka_key,
)
from lifecycle_schemas.departments import SOURCE_OF_SERVICE
from lifecycle_schemas.envelope import MAX_CLOCK_SKEW, CustomerEventData, CustomerIdData
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import RecordKey, topic_for_type

ALL_TYPES = list(RECORD_MODELS)
ALL_SOURCES = sorted(SOURCE_OF_SERVICE.values())


def _rules(error: RecordDecodeError) -> set[tuple[str, str]]:
    return {(e.path, e.rule) for e in error.errors}


def _decode_json(document: dict[str, Any], now: datetime | None) -> Any:
    return decode_record(json.dumps(document), now=now)


def test_one_example_per_record_type() -> None:
    assert list(EXAMPLES) == ALL_TYPES


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_example_is_a_record_of_its_type(record_type: str) -> None:
    example = EXAMPLES[record_type]
    assert type(example) is RECORD_MODELS[record_type]
    assert example.type == record_type


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_example_round_trips_through_bytes(record_type: str, now: datetime) -> None:
    example = EXAMPLES[record_type]
    encoded = encode_record(example)
    decoded = decode_record(encoded, now=now)
    assert decoded == example
    assert type(decoded) is type(example)
    assert encode_record(decoded) == encoded


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_encoding_is_compact_json_without_nulls(record_type: str) -> None:
    encoded = encode_record(EXAMPLES[record_type])
    document = json.loads(encoded)
    assert encoded == json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    def walk(node: Any) -> None:
        assert node is not None
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert document["specversion"] == "1.0"
    assert document["datacontenttype"] == "application/json"
    assert set(document) >= {"id", "source", "type", "time", "subject", "correlationid", "data"}


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_kafka_key_follows_the_topic_registry(record_type: str) -> None:
    example = EXAMPLES[record_type]
    key = kafka_key(example)
    spec = topic_for_type(record_type)
    if spec.key is RecordKey.CUSTOMER_REFERENCE:
        assert isinstance(example.data, CustomerEventData)
        assert key == example.data.customer.record_key()
        assert key.split(":", 1)[0] in {
            "customer_id",
            "crm_account_id",
            "marketing_contact_id",
            "helpdesk_requester_id",
            "email",
            "phone",
        }
    else:
        assert isinstance(example.data, CustomerIdData)
        assert key == example.data.customer_id
    assert key == example.subject


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_time_in_the_future_is_rejected(record_type: str) -> None:
    example = EXAMPLES[record_type]
    encoded = encode_record(example)
    just_inside = example.time - MAX_CLOCK_SKEW
    assert decode_record(encoded, now=just_inside) == example
    too_early = example.time - MAX_CLOCK_SKEW - timedelta(seconds=1)
    with pytest.raises(RecordDecodeError) as caught:
        decode_record(encoded, now=too_early)
    assert _rules(caught.value) == {("time", "time_in_future")}
    # Without a clock the check is skipped (replays).
    assert decode_record(encoded, now=None) == example


@pytest.mark.parametrize("record_type", ALL_TYPES)
@pytest.mark.parametrize("source", ALL_SOURCES)
def test_only_the_publisher_may_be_the_source(
    record_type: str, source: str, example_json: Any, now: datetime
) -> None:
    document = example_json(record_type)
    document["source"] = source
    allowed = RECORD_MODELS[record_type].allowed_sources()
    if source not in allowed:
        expected = {("source", "source_not_allowed")}
    elif source == EXAMPLES[record_type].source:
        expected = set()
    else:
        # Outcomes: any department service, but only the one the action was addressed to.
        expected = {("source", "source_not_department")}
    if not expected:
        assert _decode_json(document, now).source == source
        return
    with pytest.raises(RecordDecodeError) as caught:
        _decode_json(document, now)
    assert _rules(caught.value) == expected
    assert caught.value.record_type == record_type


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_unknown_data_fields_are_rejected(
    record_type: str, example_json: Any, now: datetime
) -> None:
    document = example_json(record_type)
    document["data"]["surprise"] = 1
    with pytest.raises(RecordDecodeError) as caught:
        _decode_json(document, now)
    assert _rules(caught.value) == {("data.surprise", "extra_forbidden")}


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_unknown_envelope_attributes_are_rejected(
    record_type: str, example_json: Any, now: datetime
) -> None:
    document = example_json(record_type)
    document["traceparent"] = "00-abc"
    with pytest.raises(RecordDecodeError) as caught:
        _decode_json(document, now)
    assert _rules(caught.value) == {("traceparent", "extra_forbidden")}


def _required_data_fields() -> list[tuple[str, str]]:
    cases = []
    for record_type in ALL_TYPES:
        data_model = RECORD_MODELS[record_type].data_model()
        for name, field in data_model.model_fields.items():
            if field.is_required():
                cases.append((record_type, name))
    return cases


@pytest.mark.parametrize(("record_type", "field"), _required_data_fields())
def test_missing_required_data_field_is_named(
    record_type: str, field: str, example_json: Any, now: datetime
) -> None:
    document = example_json(record_type)
    del document["data"][field]
    with pytest.raises(RecordDecodeError) as caught:
        _decode_json(document, now)
    assert (f"data.{field}", "missing") in _rules(caught.value)


@pytest.mark.parametrize(
    "attribute",
    [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "datacontenttype",
        "correlationid",
        "data",
    ],
)
@pytest.mark.parametrize("record_type", ALL_TYPES[::4])
def test_missing_envelope_attribute_is_named(
    record_type: str, attribute: str, example_json: Any, now: datetime
) -> None:
    document = example_json(record_type)
    del document[attribute]
    with pytest.raises(RecordDecodeError) as caught:
        _decode_json(document, now)
    assert (attribute, "missing") in _rules(caught.value)


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_subject_must_match_the_customer(
    record_type: str, example_json: Any, now: datetime
) -> None:
    document = example_json(record_type)
    document["subject"] = "customer_id:someone-else"
    with pytest.raises(RecordDecodeError) as caught:
        _decode_json(document, now)
    assert _rules(caught.value) == {("subject", "subject_mismatch")}


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_decoders_accept_only_their_kind(record_type: str, now: datetime) -> None:
    encoded = encode_record(EXAMPLES[record_type])
    family = family_of(record_type)
    for decoder, accepted in (
        (decode_event, RecordFamily.DEPARTMENT_EVENT),
        (decode_action, RecordFamily.ACTION),
        (decode_outcome, RecordFamily.OUTCOME),
    ):
        if family is accepted:
            assert decoder(encoded, now=now) == EXAMPLES[record_type]
        else:
            with pytest.raises(RecordDecodeError) as caught:
                decoder(encoded, now=now)
            assert _rules(caught.value) == {("type", "type_not_expected")}


def test_examples_cover_every_department_event() -> None:
    assert set(EXAMPLES) >= DEPARTMENT_EVENT_TYPES
