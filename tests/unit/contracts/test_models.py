"""Business rules inside the models: actions, outcomes, orchestrator outputs, money, ids."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from lifecycle_schemas.actions import SuppressPromotions, SuppressPromotionsParameters, action_id
from lifecycle_schemas.catalogue import ACTION_TYPES, OUTCOME_TYPES, RECORD_MODELS
from lifecycle_schemas.codec import RecordDecodeError, decode_action, decode_record, encode_record
from lifecycle_schemas.departments import Department, department_source
from lifecycle_schemas.envelope import new_record_id, stable_id, validation_context
from lifecycle_schemas.events import DealWon
from lifecycle_schemas.examples import CUSTOMER_ID, EXAMPLES
from lifecycle_schemas.outcomes import ActionDeclined, outcome_id
from lifecycle_schemas.outputs import Candidate, LinkedIdentifier, Verdict, decision_id
from lifecycle_schemas.vocabulary import CURRENCY_EXPONENTS, Money

SUPPRESS = "com.customerlifecycle.action.marketing.suppress-promotions.v1"
DECLINED = "com.customerlifecycle.outcome.declined.v1"


def _rules(document: dict[str, Any], now: Any) -> set[tuple[str, str]]:
    with pytest.raises(RecordDecodeError) as caught:
        decode_record(json.dumps(document), now=now)
    return {(e.path, e.rule) for e in caught.value.errors}


def test_action_id_is_deterministic_and_distinguishes_every_part() -> None:
    base = ("hot-lead-call", 3, CUSTOMER_ID, "evt-1", 0)
    first = action_id(*base)
    assert first == action_id(*base)
    assert uuid.UUID(first).version == 5
    variants = [
        ("hot-lead-call", 4, CUSTOMER_ID, "evt-1", 0),
        ("hot-lead-cal", 3, CUSTOMER_ID, "evt-1", 0),
        ("hot-lead-call", 3, "cus_other", "evt-1", 0),
        ("hot-lead-call", 3, CUSTOMER_ID, "evt-2", 0),
        ("hot-lead-call", 3, CUSTOMER_ID, "evt-1", 1),
    ]
    assert len({first, *(action_id(*v) for v in variants)}) == 6


def test_stable_ids_cannot_collide_by_shifting_separators() -> None:
    assert stable_id("x", "a|b", "c") != stable_id("x", "a", "b|c")
    assert stable_id("x", "1") != stable_id("x", 1)
    assert decision_id("c", "e") != outcome_id("c", "e")


def test_new_record_ids_are_unique() -> None:
    assert len({new_record_id() for _ in range(100)}) == 100


@pytest.mark.parametrize("record_type", sorted(ACTION_TYPES))
def test_action_record_id_is_its_action_id(record_type: str, example_json: Any, now: Any) -> None:
    document = example_json(record_type)
    assert document["id"] == document["data"]["action_id"]
    document["id"] = str(uuid.uuid4())
    assert _rules(document, now) == {("id", "action_id_mismatch")}


@pytest.mark.parametrize("record_type", sorted(ACTION_TYPES))
def test_action_is_addressed_to_its_department(
    record_type: str, example_json: Any, now: Any
) -> None:
    document = example_json(record_type)
    own = RECORD_MODELS[record_type].department  # type: ignore[attr-defined]
    for other in Department:
        if other is own:
            continue
        document["data"]["department"] = other.value
        assert _rules(document, now) == {("data.department", "wrong_department")}


@pytest.mark.parametrize("record_type", sorted(ACTION_TYPES))
def test_action_times_are_ordered(record_type: str, example_json: Any, now: Any) -> None:
    document = example_json(record_type)
    document["data"]["expires_at"] = document["data"]["deadline"]
    assert decode_action(json.dumps(document), now=now).data.expires_at is not None
    before = EXAMPLES[record_type].data.deadline - timedelta(seconds=1)  # type: ignore[union-attr]
    document["data"]["expires_at"] = before.isoformat()
    assert _rules(document, now) == {("data.expires_at", "expiry_before_deadline")}
    document = example_json(record_type)
    early = EXAMPLES[record_type].time - timedelta(seconds=1)
    document["data"]["deadline"] = early.isoformat()
    assert _rules(document, now) == {("data.deadline", "deadline_before_decision")}


def test_action_customer_identifiers_must_be_the_same_customer(example_json: Any, now: Any) -> None:
    document = example_json(SUPPRESS)
    document["data"]["customer"]["customer_id"] = "cus_somebody_else"
    assert _rules(document, now) == {("data.customer", "customer_id_mismatch")}
    document["data"]["customer"]["customer_id"] = CUSTOMER_ID
    assert decode_action(json.dumps(document), now=now).data.customer.customer_id == CUSTOMER_ID


def test_facts_are_bounded_scalars(example_json: Any, now: Any) -> None:
    document = example_json(SUPPRESS)
    document["data"]["facts"] = {"a": 1, "b": 1.5, "c": True, "d": "text"}
    record = decode_record(json.dumps(document), now=now)
    assert isinstance(record, SuppressPromotions)
    assert record.data.facts == {"a": 1, "b": 1.5, "c": True, "d": "text"}
    assert type(record.data.facts["c"]) is bool
    assert type(record.data.facts["a"]) is int
    for bad_facts in (
        {f"f{i}": i for i in range(33)},
        {"nested": {"x": 1}},
        {"list": [1]},
        {"Upper": 1},
        {"null": None},
        {"long": "x" * 201},
        {"kebab-case": 1},
    ):
        document["data"]["facts"] = bad_facts
        rules = _rules(document, now)
        assert all(path.startswith("data.facts") for path, _ in rules), rules


def test_suppression_needs_an_end() -> None:
    with pytest.raises(ValidationError) as caught:
        SuppressPromotionsParameters(reason_code="complaint")
    assert caught.value.errors()[0]["type"] == "suppression_without_end"


@pytest.mark.parametrize("record_type", sorted(OUTCOME_TYPES))
def test_outcome_comes_from_the_department_of_the_action(
    record_type: str, example_json: Any, now: Any
) -> None:
    document = example_json(record_type)
    department = Department(document["data"]["department"])
    assert document["source"] == department_source(department)
    document["data"]["action_type"] = "com.customerlifecycle.action.zzz.call-customer.v1"
    assert _rules(document, now) == {("data.action_type", "action_type_not_of_department")}


def test_decline_needs_a_known_reason_code_and_text(example_json: Any, now: Any) -> None:
    document = example_json(DECLINED)
    document["data"]["reason_code"] = "meh"
    assert _rules(document, now) == {("data.reason_code", "enum")}
    document = example_json(DECLINED)
    del document["data"]["reason_text"]
    assert _rules(document, now) == {("data.reason_text", "missing")}
    assert isinstance(EXAMPLES[DECLINED], ActionDeclined)


def test_outcome_build_derives_the_source_from_the_department() -> None:
    example = EXAMPLES[DECLINED]
    assert isinstance(example, ActionDeclined)
    rebuilt = ActionDeclined.build(example.data, id=example.id, time=example.time)
    assert rebuilt.source == department_source(Department.MARKETING)


def test_satisfaction_needs_an_answer(example_json: Any, now: Any) -> None:
    document = example_json("com.customerlifecycle.servicedesk.satisfaction.received.v1")
    for name in ("csat", "nps", "comment"):
        del document["data"][name]
    assert _rules(document, now) == {("data.csat", "satisfaction_empty")}


def test_a_winning_candidate_names_its_action() -> None:
    with pytest.raises(ValidationError) as caught:
        Candidate(
            action_type=SUPPRESS,
            department=Department.MARKETING,
            play_id="p",
            play_version=1,
            score=1.0,
            verdict=Verdict.WON,
            reason_code="highest-score",
            reason="Best",
        )
    assert caught.value.errors()[0]["type"] == "winner_without_action"


@pytest.mark.parametrize("score", ["NaN", "Infinity", "1e13"])
def test_scores_are_finite(score: str, example_json: Any, now: Any) -> None:
    document = example_json("com.customerlifecycle.orchestrator.decision.recorded.v1")
    text = json.dumps(document).replace('"score": 0.61', f'"score": {score}', 1)
    assert text != json.dumps(document)
    with pytest.raises(RecordDecodeError):
        decode_record(text, now=now)


def test_a_customer_is_not_merged_into_itself(example_json: Any, now: Any) -> None:
    document = example_json("com.customerlifecycle.orchestrator.customer.merged.v1")
    document["data"]["merged_customer_id"] = document["data"]["customer_id"]
    assert _rules(document, now) == {("data.merged_customer_id", "merge_with_itself")}


@pytest.mark.parametrize(
    ("kind", "value", "rule"),
    [
        ("email", "Ann@Example.com", "identifier_not_normalised"),
        ("phone", "+44 20 7946 0958", "identifier_not_normalised"),
        ("email", "not-an-email", "identifier_invalid"),
    ],
)
def test_profile_identifiers_are_normalised(kind: str, value: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LinkedIdentifier.model_validate_json(
            json.dumps({"kind": kind, "value": value, "first_seen": "2025-01-01T00:00:00Z"})
        )
    assert caught.value.errors()[0]["type"] == rule


@pytest.mark.parametrize(("currency", "exponent"), [("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_money_knows_its_minor_unit(currency: str, exponent: int) -> None:
    assert Money(amount_minor=1, currency=currency).minor_unit_exponent() == exponent


def test_currency_list_is_iso_4217_shaped() -> None:
    assert len(CURRENCY_EXPONENTS) > 150
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)
    assert {"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "PLN", "INR", "CNY"} <= set(
        CURRENCY_EXPONENTS
    )
    assert not {"XAU", "XTS", "XXX", "DEM"} & set(CURRENCY_EXPONENTS)


def test_models_are_frozen() -> None:
    example = EXAMPLES["com.customerlifecycle.sales.deal.won.v1"]
    assert isinstance(example, DealWon)
    with pytest.raises(ValidationError):
        example.id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        example.data.amount.amount_minor = 1  # type: ignore[misc]


def test_strict_python_construction_refuses_strings_for_datetimes() -> None:
    example = EXAMPLES["com.customerlifecycle.sales.deal.won.v1"]
    assert isinstance(example, DealWon)
    with pytest.raises(ValidationError):
        DealWon(
            id="x",
            time="2025-01-01T00:00:00Z",  # type: ignore[arg-type]
            subject=example.subject,
            correlationid="x",
            data=example.data,
        )


def test_clock_check_also_works_through_the_pydantic_context() -> None:
    example = EXAMPLES["com.customerlifecycle.sales.deal.won.v1"]
    raw = encode_record(example)
    assert DealWon.model_validate_json(raw, context=validation_context(example.time)) == example
    with pytest.raises(ValidationError) as caught:
        DealWon.model_validate_json(
            raw, context=validation_context(example.time - timedelta(hours=1))
        )
    assert caught.value.errors()[0]["type"] == "time_in_future"


def test_action_build_takes_its_id_from_the_decision() -> None:
    example = EXAMPLES[SUPPRESS]
    assert isinstance(example, SuppressPromotions)
    rebuilt = SuppressPromotions.build(
        example.data,
        time=example.time,
        correlationid=example.correlationid,
        causationid=example.causationid,
    )
    assert rebuilt == example
    assert rebuilt.id == example.data.action_id


def test_other_records_need_an_explicit_id() -> None:
    example = EXAMPLES["com.customerlifecycle.sales.deal.won.v1"]
    assert isinstance(example, DealWon)
    with pytest.raises(TypeError, match="needs an id"):
        DealWon.build(example.data, time=example.time)
    built = DealWon.build(example.data, time=example.time, id="evt-1")
    assert built.correlationid == "evt-1"
    assert built.causationid is None
    assert built.subject == example.data.customer.record_key()


def test_a_profile_holds_a_consent_state_for_every_channel() -> None:
    """Contact requests added channels: a customer with consent on each still gets a profile
    (the chaos suite's consent test found the profile capped at the first three)."""
    from lifecycle_schemas.outputs import CustomerProfile, CustomerProfileData
    from lifecycle_schemas.vocabulary import ConsentStatus, ContactChannel

    example = EXAMPLES[CustomerProfile.record_type()]
    at = example.time
    consents = [
        {"channel": channel.value, "status": ConsentStatus.GRANTED.value, "updated_at": at}
        for channel in ContactChannel
    ]
    data = {**example.data.model_dump(mode="json"), "consents": consents}
    profile = CustomerProfileData.model_validate(data, strict=False)
    assert [c.channel for c in profile.consents] == list(ContactChannel)
