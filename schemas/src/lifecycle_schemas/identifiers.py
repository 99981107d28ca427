"""Customer references: the identifiers a department has for a customer.

A department rarely knows the orchestrator's customer id, so every event carries whatever
identifiers its department has, normalised (lower-case e-mail, E.164 phone). The orchestrator
resolves them into one customer.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import Annotated, Any

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError


class IdentifierKind(StrEnum):
    """The kinds of customer identifier, named as the fields of :class:`CustomerRef`."""

    CUSTOMER_ID = "customer_id"
    CRM_ACCOUNT_ID = "crm_account_id"
    MARKETING_CONTACT_ID = "marketing_contact_id"
    HELPDESK_REQUESTER_ID = "helpdesk_requester_id"
    EMAIL = "email"
    PHONE = "phone"


# Record-key precedence. The orchestrator's id first; then the departments' system ids, which
# never change for a record in that system; then contact details, which people do change.
IDENTIFIER_PRECEDENCE: tuple[IdentifierKind, ...] = (
    IdentifierKind.CUSTOMER_ID,
    IdentifierKind.CRM_ACCOUNT_ID,
    IdentifierKind.MARKETING_CONTACT_ID,
    IdentifierKind.HELPDESK_REQUESTER_ID,
    IdentifierKind.EMAIL,
    IdentifierKind.PHONE,
)

MAX_EMAIL_LENGTH = 254
_EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Written E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"


def normalise_email(value: str) -> str:
    """Lower-case and trim an e-mail address; reject anything not shaped like one.

    The error message never repeats the address (it is personal data).
    """
    email = value.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_SHAPE.match(email):
        raise PydanticCustomError("email_invalid", "not a valid e-mail address")
    domain = email.rsplit("@", 1)[1]
    labels = domain.split(".")
    # Internationalised domains must arrive in their ASCII (punycode) form.
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise PydanticCustomError("email_invalid", "not a valid e-mail address domain")
    return email


def normalise_phone(value: str) -> str:
    """Parse an international phone number and return it in E.164 (``+442079460958``).

    The number must carry its country code (start with ``+``): a department's local format is
    ambiguous across countries. The error message never repeats the number.
    """
    text = value.strip()
    if not text.startswith("+"):
        raise PydanticCustomError(
            "phone_not_international", "phone number must start with + and a country code"
        )
    e164 = _e164(text)
    if e164 is None:
        raise PydanticCustomError("phone_invalid", "not a valid phone number for its country")
    return e164


# Parsing a number costs ~50 us and customers recur: remember recent answers (pure function).
@functools.lru_cache(maxsize=16_384)
def _e164(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


CustomerId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"),
    Field(description="The orchestrator's customer id."),
]
ExternalId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/+#-]{0,127}$"
    ),
    Field(description="An id from a department's own system (CRM, marketing tool, help desk)."),
]
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_EMAIL_LENGTH),
    AfterValidator(normalise_email),
    Field(
        description="E-mail address, stored lower-case.",
        json_schema_extra={"format": "email"},
    ),
]
Phone = Annotated[
    str,
    StringConstraints(min_length=2, max_length=32),
    AfterValidator(normalise_phone),
    Field(
        description="Phone number in E.164 (formatted input is accepted and normalised).",
        json_schema_extra={"pattern": E164_PATTERN},
    ),
]


class CustomerRef(BaseModel):
    """The identifiers one department has for a customer; at least one is required."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    customer_id: CustomerId | None = None
    crm_account_id: ExternalId | None = None
    marketing_contact_id: ExternalId | None = None
    helpdesk_requester_id: ExternalId | None = None
    email: Email | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _require_one_identifier(self) -> CustomerRef:
        if not any(getattr(self, kind.value) is not None for kind in IDENTIFIER_PRECEDENCE):
            raise PydanticCustomError(
                "customer_reference_empty",
                "a customer reference needs at least one identifier: {kinds}",
                {"kinds": ", ".join(IDENTIFIER_PRECEDENCE)},
            )
        return self

    def identifiers(self) -> list[tuple[str, str]]:
        """Every identifier present, as ``(kind, value)`` pairs in record-key precedence order."""
        pairs: list[tuple[str, str]] = []
        for kind in IDENTIFIER_PRECEDENCE:
            value = getattr(self, kind.value)
            if value is not None:
                pairs.append((kind, value))
        return pairs

    def record_key(self) -> str:
        """The Kafka record key for this reference: ``"<kind>:<value>"`` of the first identifier
        in :data:`IDENTIFIER_PRECEDENCE` (``customer_id`` first, contact details last)."""
        kind, value = self.identifiers()[0]
        return f"{kind}:{value}"


def parse_identifier(key: str) -> tuple[IdentifierKind, str]:
    """Split a ``"<kind>:<value>"`` key (as made by :meth:`CustomerRef.record_key`).

    Raises ``ValueError`` for an unknown kind or an empty value.
    """
    kind, separator, value = key.partition(":")
    if not separator or not value:
        raise ValueError("an identifier key looks like '<kind>:<value>'")
    try:
        return IdentifierKind(kind), value
    except ValueError:
        raise ValueError(f"unknown identifier kind {kind!r}") from None


def customer_ref_from_identifier(key: str) -> CustomerRef:
    """A one-identifier :class:`CustomerRef` from a ``"<kind>:<value>"`` key (validated)."""
    kind, value = parse_identifier(key)
    fields: dict[str, Any] = {kind.value: value}
    return CustomerRef.model_validate(fields)
