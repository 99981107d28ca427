"""Shared field types and small value objects used across the record payloads.

Every string is bounded and every list is capped so that a valid payload is always small;
codes are lower-case slugs so that counts per code (decline reasons, categories) aggregate.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from lifecycle_schemas.departments import Department
from lifecycle_schemas.identifiers import ExternalId

# Largest money amount in minor units: well inside the 2**53 that JSON readers in JavaScript
# still read exactly.
MAX_AMOUNT_MINOR = 999_999_999_999_999
MAX_PRODUCT_LINES = 50
MAX_FACTS = 32
MAX_FACT_INTEGER = 10**15

# Single-line text: no control characters at all.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
# Free text: line breaks and tabs allowed, other control characters not.
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Code = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
    Field(description="A lower-case code (slug), e.g. 'price' or 'late-delivery'."),
]
Label = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=_SINGLE_LINE),
    Field(description="Single-line text, at most 200 characters."),
]
Note = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000, pattern=_MULTI_LINE),
    Field(description="Free text, at most 2000 characters; may hold personal data."),
]
WebUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=2048, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$"),
    Field(description="An http(s) URL, at most 2048 characters."),
]
PlayId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
    Field(description="The id of a treatment plan (playbook)."),
]
PlayVersion = Annotated[int, Field(ge=1, le=1_000_000, description="A play's version.")]
SegmentId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
    Field(description="The id of a customer segment."),
]


class ContactChannel(StrEnum):
    """A channel through which a customer can be contacted (and consent to contact)."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    MAIL = "mail"
    IN_APP = "in-app"


class ContactPurpose(StrEnum):
    """Why a department wants to contact a customer: what of the contact policy applies
    (docs/departments.md, contact requests)."""

    PROMOTIONAL = "promotional"
    SERVICE = "service"
    TRANSACTIONAL = "transactional"
    LEGAL = "legal"


class ContactDecision(StrEnum):
    """The orchestrator's answer to a contact request."""

    ALLOW = "allow"
    DENY = "deny"


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class CasePriority(StrEnum):
    """Service desk priority: P1 is the most urgent."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class CaseChannel(StrEnum):
    """How a customer reached the service desk."""

    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    WEB = "web"
    SOCIAL = "social"


class ActionPriority(StrEnum):
    """How soon a department should act on an action."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class DealKind(StrEnum):
    NEW_BUSINESS = "new-business"
    UPSELL = "upsell"
    CROSS_SELL = "cross-sell"
    RENEWAL = "renewal"


class HandoffKind(StrEnum):
    """Why the accountable owner of a customer changes hands."""

    LEAD_TO_SALES = "lead-to-sales"
    SALE_TO_ONBOARDING = "sale-to-onboarding"
    CASE_ESCALATION = "case-escalation"
    REASSIGNMENT = "reassignment"


class LifecycleStage(StrEnum):
    """The stages of the customer lifecycle; a customer can be in several at once."""

    ENGAGE = "engage"
    TRANSACT = "transact"
    FULFIL = "fulfil"
    SERVICE = "service"


# ISO 4217 active currency codes and their minor-unit exponents (fund codes, precious metals
# and test codes left out: nobody is invoiced in them).
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "AED",
            "AFN",
            "ALL",
            "AMD",
            "ANG",
            "AOA",
            "ARS",
            "AUD",
            "AWG",
            "AZN",
            "BAM",
            "BBD",
            "BDT",
            "BGN",
            "BMD",
            "BND",
            "BOB",
            "BRL",
            "BSD",
            "BTN",
            "BWP",
            "BYN",
            "BZD",
            "CAD",
            "CDF",
            "CHF",
            "CNY",
            "COP",
            "CRC",
            "CUP",
            "CVE",
            "CZK",
            "DKK",
            "DOP",
            "DZD",
            "EGP",
            "ERN",
            "ETB",
            "EUR",
            "FJD",
            "FKP",
            "GBP",
            "GEL",
            "GHS",
            "GIP",
            "GMD",
            "GTQ",
            "GYD",
            "HKD",
            "HNL",
            "HTG",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "IRR",
            "JMD",
            "KES",
            "KGS",
            "KHR",
            "KPW",
            "KYD",
            "KZT",
            "LAK",
            "LBP",
            "LKR",
            "LRD",
            "LSL",
            "MAD",
            "MDL",
            "MGA",
            "MKD",
            "MMK",
            "MNT",
            "MOP",
            "MRU",
            "MUR",
            "MVR",
            "MWK",
            "MXN",
            "MYR",
            "MZN",
            "NAD",
            "NGN",
            "NIO",
            "NOK",
            "NPR",
            "NZD",
            "PAB",
            "PEN",
            "PGK",
            "PHP",
            "PKR",
            "PLN",
            "QAR",
            "RON",
            "RSD",
            "RUB",
            "SAR",
            "SBD",
            "SCR",
            "SDG",
            "SEK",
            "SGD",
            "SHP",
            "SLE",
            "SOS",
            "SRD",
            "SSP",
            "STN",
            "SVC",
            "SYP",
            "SZL",
            "THB",
            "TJS",
            "TMT",
            "TOP",
            "TRY",
            "TTD",
            "TWD",
            "TZS",
            "UAH",
            "USD",
            "UYU",
            "UZS",
            "VED",
            "VES",
            "WST",
            "XCD",
            "XCG",
            "YER",
            "ZAR",
            "ZMW",
            "ZWG",
        ],
        2,
    ),
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def _check_currency(code: str) -> str:
    if code not in CURRENCY_EXPONENTS:
        raise PydanticCustomError("currency_unknown", "not an active ISO 4217 currency code")
    return code


CurrencyCode = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$"),
    AfterValidator(_check_currency),
    Field(description="ISO 4217 alphabetic currency code, e.g. 'EUR'."),
]


class ValueObject(BaseModel):
    """Base of every payload part: immutable, strictly typed, no unknown fields."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Money(ValueObject):
    """An amount of money in integer minor units (cents) of an ISO 4217 currency.

    ``Money(amount_minor=129900, currency="EUR")`` is EUR 1,299.00; JPY has no minor unit, so
    ``amount_minor`` is whole yen.
    """

    amount_minor: Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR)]
    currency: CurrencyCode

    def minor_unit_exponent(self) -> int:
        """Digits after the decimal point for this currency (2 for EUR, 0 for JPY)."""
        return CURRENCY_EXPONENTS[self.currency]


class ProductLine(ValueObject):
    """One product on a quote, deal or order."""

    sku: ExternalId
    name: Label | None = None
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1


ProductLines = Annotated[tuple[ProductLine, ...], Field(min_length=1, max_length=MAX_PRODUCT_LINES)]


class OwnerRef(ValueObject):
    """A person or team accountable for a customer, in the department that employs them."""

    department: Department
    owner_id: ExternalId
    display_name: Label | None = None


FactName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]{0,63}$")
]
FactText = Annotated[str, StringConstraints(max_length=200, pattern=_SINGLE_LINE)]
FactValue = (
    bool
    | Annotated[int, Field(ge=-MAX_FACT_INTEGER, le=MAX_FACT_INTEGER)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | FactText
)
Facts = Annotated[
    dict[FactName, FactValue],
    Field(
        max_length=MAX_FACTS,
        description="Facts of the customer's state a decision was made on (name -> scalar).",
    ),
]
