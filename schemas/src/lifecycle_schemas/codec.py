"""Bytes on Kafka to records and back, with one typed error for anything wrong.

Decoding yields either a valid, frozen record or :class:`RecordDecodeError`, whose ``errors``
name each field path and the rule broken, and whose messages never repeat personal data.
Nothing else escapes: not ``json``'s ``ValueError`` for huge integers, not ``RecursionError``
for deep nesting, not ``UnicodeDecodeError``.

The clock is never read here: pass ``now`` (an aware datetime) to reject records stamped in the
future, or ``now=None`` to skip that one check (replays, pure tests).

Limits (module constants, documented in docs/contracts.md):

* :data:`MAX_RECORD_BYTES` — the whole record as it arrives (checked before parsing);
* :data:`MAX_DATA_BYTES` — ``data`` in compact JSON;
* :data:`MAX_NESTING_DEPTH` — objects and arrays inside each other;
* :data:`MAX_INTEGER_DIGITS` — digits of any JSON integer;
* :data:`~lifecycle_schemas.envelope.MAX_CLOCK_SKEW` — how far ``time`` may lie after ``now``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from lifecycle_schemas import guarded_json
from lifecycle_schemas.catalogue import (
    ACTION_TYPES,
    DEPARTMENT_EVENT_TYPES,
    OUTCOME_TYPES,
    RECORD_ADAPTER,
    RECORD_MODELS,
    AnyAction,
    AnyDepartmentEvent,
    AnyOutcome,
    AnyRecord,
    department_of,
)
from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import (
    MAX_CLOCK_SKEW,
    STRUCTURED_CONTENT_TYPE,
    WIRE_REQUIRED_ATTRIBUTES,
    CloudEvent,
    validation_context,
)

MAX_RECORD_BYTES = 128 * 1024
MAX_DATA_BYTES = 64 * 1024
MAX_NESTING_DEPTH = 16
# Enough for any 64-bit integer; a JSON integer longer than this is an attack or a bug.
MAX_INTEGER_DIGITS = 19
# Kafka headers a publisher sets on every record (CloudEvents Kafka binding, structured mode).
KAFKA_HEADERS: tuple[tuple[str, bytes], ...] = (
    ("content-type", STRUCTURED_CONTENT_TYPE.encode("ascii")),
)
# Errors listed in the exception's message (all of them stay in `.errors`).
_MAX_ERRORS_IN_MESSAGE = 5
_MAX_PATH_LENGTH = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")

__all__ = [
    "KAFKA_HEADERS",
    "MAX_CLOCK_SKEW",
    "MAX_DATA_BYTES",
    "MAX_INTEGER_DIGITS",
    "MAX_NESTING_DEPTH",
    "MAX_RECORD_BYTES",
    "FieldError",
    "RecordDecodeError",
    "RecordEncodeError",
    "check_record_time",
    "decode_action",
    "decode_event",
    "decode_event_object",
    "decode_outcome",
    "decode_record",
    "encode_record",
    "kafka_key",
    "parse_decoded_event",
]


@dataclass(frozen=True)
class FieldError:
    """One reason a record was rejected.

    ``path`` names the field (``"data.products[0].sku"``; ``""`` is the whole record), ``rule``
    is a stable machine-readable code (``"string_too_long"``, ``"unknown_type"``, ...), and
    ``message`` explains it without repeating the offending value.
    """

    path: str
    rule: str
    message: str

    @property
    def pointer(self) -> str:
        """The path as an RFC 6901 JSON pointer (``/data/products/0/sku``), for HTTP problems."""
        if not self.path:
            return ""
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", self.path)
        tokens = [p[1:-1] if p.startswith("[") else p for p in parts]
        return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


class RecordDecodeError(ValueError):
    """A record could not be decoded: the only exception the ``decode_*`` functions raise."""

    def __init__(self, errors: Sequence[FieldError], record_type: str | None = None) -> None:
        self.errors: list[FieldError] = list(errors)
        self.record_type = record_type
        shown = "; ".join(
            f"{e.path or '(record)'}: {e.rule} ({e.message})"
            for e in self.errors[:_MAX_ERRORS_IN_MESSAGE]
        )
        more = len(self.errors) - _MAX_ERRORS_IN_MESSAGE
        suffix = f"; and {more} more" if more > 0 else ""
        about = f" {record_type}" if record_type else ""
        super().__init__(f"invalid record{about}: {shown}{suffix}")


class RecordEncodeError(ValueError):
    """A record is valid but cannot be published (it breaks a size limit)."""


class _RejectedError(Exception):
    def __init__(self, path: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.error = FieldError(path, rule, message)


def _compact_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


# Below this many bytes a record's `data` cannot exceed MAX_DATA_BYTES however it is written
# (re-encoding a number grows it at most 4.5 times: "1E15" -> "1000000000000000.0").
_SMALL_RECORD_BYTES = MAX_DATA_BYTES // 5


def _parse(raw: bytes | str) -> tuple[bytes, dict[str, Any]]:
    """Guarded parse: size, encoding, JSON syntax, numbers, depth, duplicate keys."""
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError:
            raise _RejectedError(
                "", "invalid_unicode", "text holds an unpaired surrogate"
            ) from None
    elif not isinstance(raw, bytes | bytearray | memoryview):
        raise _RejectedError("", "record_not_bytes", "a record is bytes or text")
    raw = bytes(raw)
    if len(raw) > MAX_RECORD_BYTES:
        raise _RejectedError(
            "", "record_too_large", f"a record is at most {MAX_RECORD_BYTES} bytes"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _RejectedError("", "not_utf8", "a record is UTF-8 encoded JSON") from None
    try:
        document = guarded_json.loads(
            text, max_depth=MAX_NESTING_DEPTH, max_integer_digits=MAX_INTEGER_DIGITS
        )
    except guarded_json.JsonGuardError as refused:
        raise _RejectedError(_path(refused.location), refused.rule, refused.message) from None
    if not isinstance(document, dict):
        raise _RejectedError("", "record_not_object", "a record is a JSON object")
    may_be_too_large = len(raw) > _SMALL_RECORD_BYTES and "data" in document
    if may_be_too_large and _compact_size(document["data"]) > MAX_DATA_BYTES:
        raise _RejectedError("data", "data_too_large", f"data is at most {MAX_DATA_BYTES} bytes")
    return raw, document


def _path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += "[key]"
        else:
            path += f".{part}" if path else str(part)
    # Keys come from the sender; keep them printable and short in logs and headers.
    return _UNPRINTABLE.sub("?", path)[:_MAX_PATH_LENGTH]


def _field_errors(error: ValidationError, record_type: str) -> list[FieldError]:
    model = RECORD_MODELS[record_type]
    errors: list[FieldError] = []
    for detail in error.errors(include_url=False, include_input=False):
        location = list(detail["loc"])
        if location and location[0] == record_type:  # the union's tag
            location = location[1:]
        context = detail.get("ctx") or {}
        field = context.get("field")
        if isinstance(field, str):
            location.extend(field.split("."))
        path = _path(location)
        rule, message = detail["type"], detail["msg"]
        if path == "source" and rule == "literal_error":
            rule = "source_not_allowed"
            expected = ", ".join(model.allowed_sources())
            message = f"this service may not publish this type; expected {expected}"
        errors.append(FieldError(path, rule, message))
    return errors


_T = TypeVar("_T")

_EVENT_ADAPTER: TypeAdapter[AnyDepartmentEvent] = TypeAdapter(AnyDepartmentEvent)
_ACTION_ADAPTER: TypeAdapter[AnyAction] = TypeAdapter(AnyAction)
_OUTCOME_ADAPTER: TypeAdapter[AnyOutcome] = TypeAdapter(AnyOutcome)


def _decode(
    raw: bytes | str,
    adapter: TypeAdapter[_T],
    allowed_types: frozenset[str] | None,
    now: datetime | None,
    department: Department | None = None,
) -> _T:
    try:
        payload, document = _parse(raw)
    except _RejectedError as rejected:
        raise RecordDecodeError([rejected.error]) from None
    return _decode_parsed(payload, document, adapter, allowed_types, now, department)


def _decode_parsed(
    payload: bytes,
    document: dict[str, Any],
    adapter: TypeAdapter[_T],
    allowed_types: frozenset[str] | None,
    now: datetime | None,
    department: Department | None,
) -> _T:
    """The checks after :func:`_parse`: ``document`` is ``payload`` parsed, guards passed."""
    missing = [name for name in WIRE_REQUIRED_ATTRIBUTES if name not in document]
    if missing:
        raise RecordDecodeError(
            [FieldError(name, "missing", "CloudEvents attribute required") for name in missing]
        )
    record_type = document.get("type")
    if not isinstance(record_type, str):
        raise RecordDecodeError([FieldError("type", "string_type", "type is a record type string")])
    if record_type not in RECORD_MODELS:
        raise RecordDecodeError(
            [FieldError("type", "unknown_type", "not a record type in the catalogue")]
        )
    if allowed_types is not None and record_type not in allowed_types:
        raise RecordDecodeError(
            [FieldError("type", "type_not_expected", "this record type is not expected here")],
            record_type,
        )
    if department is not None and department_of(record_type) != department:
        raise RecordDecodeError(
            [FieldError("type", "wrong_department", f"expected a {department.value} record")],
            record_type,
        )
    try:
        return adapter.validate_json(payload, strict=True, context=validation_context(now))
    except ValidationError as error:
        raise RecordDecodeError(_field_errors(error, record_type), record_type) from None


def decode_record(raw: bytes | str, *, now: datetime | None) -> AnyRecord:
    """Decode any record in the catalogue from its Kafka value (or an HTTP body).

    ``now`` is the reader's clock (records stamped later than ``now`` + ``MAX_CLOCK_SKEW`` are
    rejected); ``None`` skips that check. Raises only :class:`RecordDecodeError`.
    """
    return _decode(raw, RECORD_ADAPTER, None, now)


def decode_event(
    raw: bytes | str, *, now: datetime | None, department: Department | None = None
) -> AnyDepartmentEvent:
    """Decode a department event (optionally only one department's). Raises only
    :class:`RecordDecodeError`."""
    return _decode(raw, _EVENT_ADAPTER, DEPARTMENT_EVENT_TYPES, now, department)


def parse_decoded_event(raw: bytes | str) -> AnyDepartmentEvent:
    """A department event this system already decoded with :func:`decode_event` and passed on
    unchanged: parsed and typed, without the guards and the clock check it passed then.

    For internal hops only (the orchestrator's own topics). Raises pydantic's
    ``ValidationError`` for anything that is not a valid event.
    """
    return _EVENT_ADAPTER.validate_json(raw, strict=True, context=validation_context(None))


# What pydantic-core's writer may put in a record that the guards of `_parse` could refuse: a
# run of digits longer than MAX_INTEGER_DIGITS, NaN or Infinity (written as those constants), a
# \uD800-\uDFFF escape (any \u escape is taken for one). Looked for with substring searches, the
# digits mapped to "0" (a regular expression cost more than the parse it saves); a match inside
# a string only sends a record the slow way.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_INTEGER = b"0" * (MAX_INTEGER_DIGITS + 1)


def _unguarded(payload: bytes) -> bool:
    # A one-byte search first: it is several times faster than a two- or three-byte one.
    return (
        _LONG_INTEGER in payload.translate(_DIGITS_TO_ZERO)
        or (b"\\" in payload and b"\\u" in payload)
        or (b"N" in payload and b"NaN" in payload)
        or (b"I" in payload and b"Infinity" in payload)
    )


def decode_event_object(
    document: dict[str, Any], *, now: datetime | None, department: Department | None = None
) -> AnyDepartmentEvent | None:
    """``decode_event`` of ``document`` written as compact JSON, parsed once instead of twice.

    For a document as ``json.loads`` gives it (string keys, JSON values): the same record, or
    the same :class:`RecordDecodeError`, as ``decode_event(to_json(document), ...)``. The
    guarded parse is skipped where cheap checks of the written bytes show it would pass (a
    small record, shallow, no long integers, no NaN or Infinity, no ``\\u`` escapes);
    otherwise ``None``, and the caller decodes its bytes with :func:`decode_event`.
    """
    try:
        payload = to_json(document, inf_nan_mode="constants")
    except (PydanticSerializationError, ValueError):
        return None
    if (
        len(payload) > _SMALL_RECORD_BYTES
        or payload.count(b"{") + payload.count(b"[") > MAX_NESTING_DEPTH
        or _unguarded(payload)
    ):
        return None
    return _decode_parsed(
        payload, document, _EVENT_ADAPTER, DEPARTMENT_EVENT_TYPES, now, department
    )


def decode_action(
    raw: bytes | str, *, now: datetime | None, department: Department | None = None
) -> AnyAction:
    """Decode an action (optionally only one addressed to ``department``). Raises only
    :class:`RecordDecodeError`."""
    return _decode(raw, _ACTION_ADAPTER, ACTION_TYPES, now, department)


def decode_outcome(raw: bytes | str, *, now: datetime | None) -> AnyOutcome:
    """Decode an action outcome. Raises only :class:`RecordDecodeError`."""
    return _decode(raw, _OUTCOME_ADAPTER, OUTCOME_TYPES, now)


def encode_record(record: CloudEvent[Any]) -> bytes:
    """The record as compact UTF-8 JSON (CloudEvents structured mode), absent fields omitted.

    Raises :class:`RecordEncodeError` if ``data`` is larger than :data:`MAX_DATA_BYTES`, so that
    nothing is published that readers would refuse.
    """
    encoded = record.model_dump_json(exclude_none=True).encode("utf-8")
    if len(encoded) > _SMALL_RECORD_BYTES:
        data = record.data.model_dump(mode="json", exclude_none=True)
        if len(encoded) > MAX_RECORD_BYTES or _compact_size(data) > MAX_DATA_BYTES:
            raise RecordEncodeError(
                f"{record.type} {record.id}: data is larger than {MAX_DATA_BYTES} bytes"
            )
    return encoded


def kafka_key(record: CloudEvent[Any]) -> str:
    """The Kafka record key for a record, as the topic registry chooses it.

    It is the record's ``subject``: for department events the customer reference
    (``CustomerRef.record_key()``, e.g. ``"crm_account_id:0015g00000AbCdE"``), for every other
    record the orchestrator's customer id. (The orchestrator's internal events-by-customer topic
    re-keys department events by the resolved customer id instead.)
    """
    return record.subject


def check_record_time(record: CloudEvent[Any], now: datetime) -> None:
    """Raise :class:`RecordDecodeError` if a record built in code is stamped in the future.

    The same rule ``decode_*`` apply with ``now``; for records constructed directly.
    """
    if record.time > now + MAX_CLOCK_SKEW:
        raise RecordDecodeError(
            [
                FieldError(
                    "time",
                    "time_in_future",
                    f"time is in the future beyond the allowed clock skew of "
                    f"{int(MAX_CLOCK_SKEW.total_seconds())} s",
                )
            ],
            record.type,
        )
