"""Helpers for the departments' native-format adapters (anti-corruption layers). Pure.

An adapter reads a vendor's webhook body and returns canonical events in wire form; the
service then validates them exactly like posted events. These helpers read vendor fields
with pointers for the error report, and build the canonical envelope.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from department_kit.department import NativePayloadError
from lifecycle_schemas.envelope import TYPE_PREFIX, stable_id
from lifecycle_schemas.vocabulary import CURRENCY_EXPONENTS
from service_kit.problems import FieldProblem

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Vendors send nanoseconds; Python datetimes hold microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")
# What datetime can hold: from 0001-01-01 to 9999-12-31T23:59:59 UTC, in Unix seconds.
_EARLIEST_EPOCH_S = -62_135_596_800
_END_EPOCH_S = 253_402_300_800  # exclusive
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Money in major units a vendor may send (a trillion): beyond it, minor units leave 64 bits.
MAX_VENDOR_AMOUNT = 10**12


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


def _epoch(value: int | float, per_second: int, pointer: str) -> str:
    """RFC 3339 UTC time from a Unix time in ``1/per_second`` units, within years 1 to 9999."""
    if not (_EARLIEST_EPOCH_S * per_second <= value < _END_EPOCH_S * per_second):
        # Also NaN and Infinity (no comparison holds), and integers no float can hold.
        raise invalid(pointer, "datetime_out_of_range", "not a time between the years 1 and 9999")
    if isinstance(value, int):  # exact, however large
        seconds, rest = divmod(value, per_second)
        moment = _UNIX_EPOCH + timedelta(
            seconds=seconds, microseconds=rest * 1_000_000 // per_second
        )
        return moment.isoformat()
    return datetime.fromtimestamp(value / per_second, UTC).isoformat()


def iso_from_epoch_ms(value: Any, pointer: str) -> str:
    """RFC 3339 UTC time from Unix milliseconds."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(pointer, "int_type", "expected Unix milliseconds")
    return _epoch(value, 1000, pointer)


def iso_time(value: Any, pointer: str) -> str:
    """RFC 3339 time from a vendor's ISO string or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(value, 1, pointer)
    if isinstance(value, str):
        text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            raise invalid(pointer, "datetime_invalid", "expected an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.isoformat()
    raise invalid(pointer, "datetime_invalid", "expected an ISO 8601 time")


def money(amount: Any, currency: Any, pointer: str) -> dict[str, Any] | None:
    """A vendor's decimal amount as canonical Money (minor units); None when absent."""
    if amount is None or currency is None:
        return None
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        raise invalid(pointer, "amount_invalid", "expected a non-negative number")
    if not 0 <= amount <= MAX_VENDOR_AMOUNT:  # NaN and Infinity fail too
        raise invalid(
            pointer, "amount_invalid", f"expected a number from 0 to {MAX_VENDOR_AMOUNT:g}"
        )
    code = str(currency).upper()
    exponent = CURRENCY_EXPONENTS.get(code)
    if exponent is None:
        raise invalid(
            f"{pointer.rsplit('/', 1)[0]}/currency", "currency_unknown", "not an ISO 4217 currency"
        )
    return {"amount_minor": round(amount * 10**exponent), "currency": code}


def finite_number(value: Any, pointer: str, what: str) -> float:
    """A vendor's number (or numeric text) as a finite float."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(pointer, "number_expected", f"{what} is a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise invalid(pointer, "number_expected", f"{what} is a number") from None
    if not math.isfinite(number):
        raise invalid(pointer, "number_not_finite", f"{what} is a finite number")
    return number


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
