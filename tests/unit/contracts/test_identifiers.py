"""Customer references: normalisation, the at-least-one rule and the record-key precedence."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from lifecycle_schemas.identifiers import (
    IDENTIFIER_PRECEDENCE,
    CustomerRef,
    IdentifierKind,
    customer_ref_from_identifier,
    parse_identifier,
)

VALUES = {
    IdentifierKind.CUSTOMER_ID: "cus_01JNQ7Z4K8M2",
    IdentifierKind.CRM_ACCOUNT_ID: "0015g00000AbCdEAAZ",
    IdentifierKind.MARKETING_CONTACT_ID: "hs-90112",
    IdentifierKind.HELPDESK_REQUESTER_ID: "zd-44017",
    IdentifierKind.EMAIL: "ann.fischer@example.com",
    IdentifierKind.PHONE: "+442079460958",
}
SUBSETS = [
    combination
    for size in range(1, len(VALUES) + 1)
    for combination in itertools.combinations(IDENTIFIER_PRECEDENCE, size)
]


@pytest.mark.parametrize("kinds", SUBSETS, ids=lambda kinds: "+".join(kinds))
def test_record_key_is_the_first_identifier_in_precedence(
    kinds: tuple[IdentifierKind, ...],
) -> None:
    reference = CustomerRef.model_validate({kind.value: VALUES[kind] for kind in kinds})
    first = min(kinds, key=IDENTIFIER_PRECEDENCE.index)
    assert reference.record_key() == f"{first.value}:{VALUES[first]}"
    assert reference.identifiers() == [
        (kind.value, VALUES[kind]) for kind in IDENTIFIER_PRECEDENCE if kind in kinds
    ]
    assert parse_identifier(reference.record_key()) == (first, VALUES[first])


def test_customer_id_comes_first_and_contact_details_last() -> None:
    assert IDENTIFIER_PRECEDENCE[0] is IdentifierKind.CUSTOMER_ID
    assert IDENTIFIER_PRECEDENCE[-2:] == (IdentifierKind.EMAIL, IdentifierKind.PHONE)
    assert set(IDENTIFIER_PRECEDENCE) == set(IdentifierKind)
    assert set(CustomerRef.model_fields) == {kind.value for kind in IdentifierKind}


def test_at_least_one_identifier_is_required() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerRef()
    assert caught.value.errors()[0]["type"] == "customer_reference_empty"
    with pytest.raises(ValidationError):
        CustomerRef.model_validate_json("{}")


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("Ann.Fischer@Example.COM", "ann.fischer@example.com"),
        ("  ann@example.com ", "ann@example.com"),
        ("ANN+news@sub.example.co.uk", "ann+news@sub.example.co.uk"),
        ("o'brien@xn--mller-kva.example", "o'brien@xn--mller-kva.example"),
    ],
)
def test_email_is_stored_lower_case(written: str, stored: str) -> None:
    assert CustomerRef(email=written).email == stored
    assert CustomerRef.model_validate_json(f'{{"email": "{written}"}}').email == stored


@pytest.mark.parametrize(
    "written",
    [
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@@example.com",
        "ann fischer@example.com",
        "ann@exa mple.com",
        "ann@-example.com",
        "ann@example-.com",
        "ann@müller.example",
        "a" * 65 + "@example.com",
        "ann@" + "a" * 250 + ".com",
    ],
)
def test_malformed_email_is_rejected_without_echoing_it(written: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerRef(email=written)
    error = caught.value.errors(include_input=False)[0]
    assert error["loc"] == ("email",)
    assert error["type"] in {"email_invalid", "string_too_long"}
    assert written not in error["msg"]


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("+1 415-555-2671", "+14155552671"),
        ("+49 30 901820", "+4930901820"),
        ("+33 1 42 68 53 00", "+33142685300"),
        ("+442079460958", "+442079460958"),
    ],
)
def test_phone_is_stored_in_e164(written: str, stored: str) -> None:
    assert CustomerRef(phone=written).phone == stored


@pytest.mark.parametrize(
    ("written", "rule"),
    [
        ("020 7946 0958", "phone_not_international"),
        ("4420794609", "phone_not_international"),
        ("+", "string_too_short"),
        ("+4", "phone_invalid"),
        ("+44 12", "phone_invalid"),
        ("+999 1234567", "phone_invalid"),
        ("+44 20 7946 0958 ext. 99999999999999999", "string_too_long"),
        ("+1 555 0000", "phone_invalid"),
    ],
)
def test_invalid_phone_is_rejected_without_echoing_it(written: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerRef(phone=written)
    error = caught.value.errors(include_input=False)[0]
    assert error["type"] == rule
    assert written not in error["msg"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("customer_id", ""),
        ("customer_id", "has space"),
        ("customer_id", "x" * 65),
        ("crm_account_id", "-starts-with-dash"),
        ("crm_account_id", "tab\there"),
        ("marketing_contact_id", "x" * 129),
        ("helpdesk_requester_id", "naïve"),
    ],
)
def test_system_ids_are_bounded_and_printable(kind: str, value: str) -> None:
    with pytest.raises(ValidationError):
        CustomerRef.model_validate({kind: value})


def test_strict_types_refuse_numbers_for_ids() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerRef.model_validate_json('{"crm_account_id": 12345}')
    assert caught.value.errors()[0]["type"] == "string_type"


def test_reference_is_frozen() -> None:
    reference = CustomerRef(email="ann@example.com")
    with pytest.raises(ValidationError):
        reference.email = "bob@example.com"  # type: ignore[misc]


@pytest.mark.parametrize("kind", list(IdentifierKind))
def test_reference_from_a_record_key(kind: IdentifierKind) -> None:
    reference = customer_ref_from_identifier(f"{kind.value}:{VALUES[kind]}")
    assert reference.identifiers() == [(kind.value, VALUES[kind])]


@pytest.mark.parametrize("key", ["email", "email:", "fax:+4412345", ":x"])
def test_parse_identifier_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        parse_identifier(key)
