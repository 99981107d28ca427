"""Helpers for the departments' native-format adapters (anti-corruption layers). Pure.

An adapter reads a vendor's webhook body and returns canonical events in wire form; the
service then validates them exactly like posted events. These helpers read vendor fields
with pointers for the error report, and build the canonical envelope.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from department_kit.department import NativePayloadError
from lifecycle_schemas.envelope import TYPE_PREFIX, stable_id
from lifecycle_schemas.vocabulary import CURRENCY_EXPONENTS
from service_kit.problems import FieldProblem

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Vendors send nanoseconds; Python datetimes hold microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")


def invalid(pointer: str, rule: str, detail: str) -> NativePayloadError:
    """The error for one unreadable vendor field."""
    return NativePayloadError([FieldProblem(pointer=pointer, rule=rule, detail=detail)])


def field(document: Any, name: str, pointer: str) -> Any:
    """``document[name]``, required."""
    if not isinstance(document, dict):
        raise invalid(pointer, "object_expected", "expected a JSON object")
    if document.get(name) is None:
        raise invalid(f"{pointer}/{name}", "missing", "required by this adapter")
    return document[name]


def object_at(document: Any, pointer: str) -> dict[str, Any]:
    """``document`` if it is a JSON object."""
    if not isinstance(document, dict):
        raise invalid(pointer, "object_expected", "expected a JSON object")
    return document


def slug(text: Any, default: str) -> str:
    """A vendor label as a lower-case code (``"CRM_UI"`` -> ``"crm-ui"``)."""
    value = _NOT_SLUG.sub("-", str(text).lower()).strip("-")[:64] if text is not None else ""
    return value or default


def iso_from_epoch_ms(value: Any, pointer: str) -> str:
    """RFC 3339 UTC time from Unix milliseconds."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(pointer, "int_type", "expected Unix milliseconds")
    return datetime.fromtimestamp(value / 1000, UTC).isoformat()


def iso_time(value: Any, pointer: str) -> str:
    """RFC 3339 time from a vendor's ISO string or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat()
    if isinstance(value, str):
        text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise invalid(pointer, "datetime_invalid", "expected an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.isoformat()
    raise invalid(pointer, "datetime_invalid", "expected an ISO 8601 time")


def money(amount: Any, currency: Any, pointer: str) -> dict[str, Any] | None:
    """A vendor's decimal amount as canonical Money (minor units); None when absent."""
    if amount is None or currency is None:
        return None
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount < 0:
        raise invalid(pointer, "amount_invalid", "expected a non-negative number")
    code = str(currency).upper()
    exponent = CURRENCY_EXPONENTS.get(code)
    if exponent is None:
        raise invalid(pointer, "currency_unknown", "not an ISO 4217 currency")
    return {"amount_minor": round(amount * 10**exponent), "currency": code}


def canonical_event(
    name: str, vendor: str, vendor_event: tuple[Any, ...], time: str, data: dict[str, Any]
) -> dict[str, Any]:
    """A canonical event in wire form; its id is derived from the vendor's event identity, so a
    vendor's retry of the same webhook is an idempotent repeat."""
    return {
        "id": stable_id(vendor, *(str(part) for part in vendor_event), name),
        "type": f"{TYPE_PREFIX}.{name}.v1",
        "time": time,
        "data": data,
    }
