"""Property tests: round trips are lossless, and no input raises anything but the typed error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle_schemas.catalogue import (
    ACTION_TYPES,
    DEPARTMENT_EVENT_TYPES,
    RECORD_MODELS,
)
from lifecycle_schemas.codec import RecordDecodeError, decode_record, encode_record
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.identifiers import CustomerRef
from lifecycle_schemas.vocabulary import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR

ALL_TYPES = list(RECORD_MODELS)
CLOCK = datetime(2100, 1, 1, tzinfo=UTC)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def _decode_or_typed_error(raw: bytes | str) -> Any:
    """Decode; the only acceptable failure is RecordDecodeError with at least one field error."""
    failure: RecordDecodeError | None = None
    try:
        record = decode_record(raw, now=CLOCK)
    except RecordDecodeError as error:
        failure = error
    if failure is not None:
        assert failure.errors
        assert all(e.rule and e.message and isinstance(e.path, str) for e in failure.errors)
        return None
    assert decode_record(encode_record(record), now=CLOCK) == record
    return record


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=3000))
def test_random_bytes_raise_only_the_typed_error(raw: bytes) -> None:
    _decode_or_typed_error(raw)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_random_json_raises_only_the_typed_error(value: Any) -> None:
    _decode_or_typed_error(json.dumps(value))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_examples_decode_fully_or_raise_the_typed_error(data: st.DataObject) -> None:
    record_type = data.draw(st.sampled_from(ALL_TYPES))
    document = json.loads(encode_record(EXAMPLES[record_type]))
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.text(max_size=8))] = data.draw(json_values)
    else:
        parent[path[-1]] = data.draw(json_values)
    _decode_or_typed_error(json.dumps(document))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_truncated_and_spliced_records_raise_only_the_typed_error(data: st.DataObject) -> None:
    encoded = encode_record(EXAMPLES[data.draw(st.sampled_from(ALL_TYPES))])
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded)))
    noise = data.draw(st.binary(max_size=20))
    _decode_or_typed_error(encoded[:cut] + noise + encoded[cut:][: data.draw(st.integers(0, 40))])


# Round trips of generated valid records ------------------------------------------------------

_label_characters = st.characters(blacklist_categories=("Cs", "Cc"))
labels = st.text(alphabet=_label_characters, min_size=1, max_size=200)
notes = st.text(
    alphabet=st.one_of(_label_characters, st.sampled_from("\n\r\t")), min_size=1, max_size=500
)
external_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@/+#-]{0,40}", fullmatch=True)
customer_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,40}", fullmatch=True)
record_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,60}", fullmatch=True)
emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[A-Za-z0-9._%+'-]{1,30}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True),
)
phones = st.sampled_from(
    ["+44 20 7946 0958", "+442079460958", "+1 415-555-2671", "+49 30 901820", "+33142685300"]
)
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=offsets
)
customer_refs = st.fixed_dictionaries(
    {},
    optional={
        "customer_id": customer_ids,
        "crm_account_id": external_ids,
        "marketing_contact_id": external_ids,
        "helpdesk_requester_id": external_ids,
        "email": emails,
        "phone": phones,
    },
).filter(bool)
money = st.fixed_dictionaries(
    {
        "amount_minor": st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR),
        "currency": st.sampled_from(sorted(CURRENCY_EXPONENTS)),
    }
)
fact_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=_label_characters, max_size=200),
)
facts = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True), fact_values, max_size=32
)


def _round_trip(document: dict[str, Any]) -> None:
    record = decode_record(json.dumps(document), now=None)
    encoded = encode_record(record)
    again = decode_record(encoded, now=None)
    assert again == record
    assert encode_record(again) == encoded
    assert type(again) is type(record)


@pytest.mark.parametrize("record_type", sorted(DEPARTMENT_EVENT_TYPES))
@settings(max_examples=15, deadline=None)
@given(reference=customer_refs, moment=moments, record_id=record_ids, chain=record_ids)
def test_department_events_round_trip(
    record_type: str, reference: dict[str, str], moment: datetime, record_id: str, chain: str
) -> None:
    document = json.loads(encode_record(EXAMPLES[record_type]))
    document["data"]["customer"] = reference
    document["subject"] = CustomerRef.model_validate(reference).record_key()
    document["time"] = moment.isoformat()
    document["id"] = record_id
    document["correlationid"] = chain
    _round_trip(document)


@settings(max_examples=60, deadline=None)
@given(
    record_type=st.sampled_from(sorted(ACTION_TYPES)),
    rationale=notes,
    action_facts=facts,
    reference=customer_refs.filter(lambda ref: "customer_id" not in ref),
)
def test_actions_round_trip(
    record_type: str, rationale: str, action_facts: dict[str, Any], reference: dict[str, str]
) -> None:
    document = json.loads(encode_record(EXAMPLES[record_type]))
    document["data"]["rationale"] = rationale
    document["data"]["facts"] = action_facts
    document["data"]["customer"] = reference
    _round_trip(document)


@settings(max_examples=60, deadline=None)
@given(
    amount=money,
    quantities=st.lists(st.integers(min_value=1, max_value=1_000_000), min_size=1, max_size=50),
    name=labels,
    term=st.integers(min_value=1, max_value=120),
)
def test_deals_round_trip(
    amount: dict[str, Any], quantities: list[int], name: str, term: int
) -> None:
    document = json.loads(encode_record(EXAMPLES["com.customerlifecycle.sales.deal.won.v1"]))
    document["data"]["amount"] = amount
    document["data"]["products"] = [
        {"sku": f"SKU-{i}", "name": name, "quantity": q} for i, q in enumerate(quantities)
    ]
    document["data"]["contract_term_months"] = term
    _round_trip(document)


@settings(max_examples=60, deadline=None)
@given(
    csat=st.none() | st.integers(min_value=1, max_value=5),
    nps=st.none() | st.integers(min_value=0, max_value=10),
    comment=notes,
)
def test_satisfaction_round_trips(csat: int | None, nps: int | None, comment: str) -> None:
    document = json.loads(
        encode_record(EXAMPLES["com.customerlifecycle.servicedesk.satisfaction.received.v1"])
    )
    data = document["data"]
    data.pop("csat", None)
    data.pop("nps", None)
    data["comment"] = comment
    if csat is not None:
        data["csat"] = csat
    if nps is not None:
        data["nps"] = nps
    _round_trip(document)


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=64
    ),
    reason=labels,
)
def test_decision_log_round_trips(scores: list[float], reason: str) -> None:
    document = json.loads(
        encode_record(EXAMPLES["com.customerlifecycle.orchestrator.decision.recorded.v1"])
    )
    template = document["data"]["candidates"][1]
    document["data"]["candidates"] = [
        {**template, "score": score, "reason": reason} for score in scores
    ]
    _round_trip(document)
