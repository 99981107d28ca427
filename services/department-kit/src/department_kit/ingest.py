"""From an HTTP body (or an import file) to validated department events: pure, no I/O.

A body is one event (a JSON object), a batch (a JSON array) or NDJSON (one event per line).
Each event is a CloudEvents record as in docs/contracts.md; the attributes a department's
systems cannot get wrong are filled in when absent (``specversion``, ``source``,
``datacontenttype``, ``subject`` from ``data.customer``, ``correlationid`` = ``id``), then the
record is decoded by the contracts' codec, which also refuses other departments' types.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from lifecycle_schemas import guarded_json
from lifecycle_schemas.catalogue import DEPARTMENT_EVENT_TYPES, AnyDepartmentEvent, department_of
from lifecycle_schemas.codec import (
    MAX_INTEGER_DIGITS,
    MAX_NESTING_DEPTH,
    MAX_RECORD_BYTES,
    RecordDecodeError,
    decode_event,
    decode_event_object,
)
from lifecycle_schemas.departments import Department, department_source
from lifecycle_schemas.guarded_json import JsonGuardError
from lifecycle_schemas.identifiers import CustomerRef
from service_kit.problems import FieldProblem, ProblemError

JSON_TYPES = frozenset(
    {"application/json", "application/cloudevents+json", "application/cloudevents-batch+json"}
)
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})


@dataclass(frozen=True)
class ParsedBody:
    """The items of a request body, and whether it was a batch (array or NDJSON)."""

    items: list[Any]
    is_batch: bool


@dataclass(frozen=True)
class ValidItem:
    index: int
    record: AnyDepartmentEvent


@dataclass(frozen=True)
class InvalidItem:
    index: int
    errors: list[FieldProblem]


@dataclass(frozen=True)
class Validation:
    """Every item of a body, valid or not, in order."""

    valid: list[ValidItem]
    invalid: list[InvalidItem]


def _loads(text: str, max_depth: int = MAX_NESTING_DEPTH) -> Any:
    """One JSON document, guarded as the contracts' codec guards a record (the same limits),
    a batch one level deeper; :class:`JsonGuardError` names where a guard failed."""
    return guarded_json.loads(text, max_depth=max_depth, max_integer_digits=MAX_INTEGER_DIGITS)


def _malformed(pointer: str, rule: str, detail: str) -> ProblemError:
    return ProblemError(
        400,
        "malformed-body",
        "The body is not valid JSON",
        detail,
        [FieldProblem(pointer=pointer, rule=rule, detail=detail)],
    )


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower-case, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def require_json(content_type: str | None) -> None:
    """415 unless the Content-Type is ``application/json`` (a body for :func:`parse_strict`)."""
    if media_type(content_type) != "application/json":
        raise ProblemError(
            415, "unsupported-media-type", "Unsupported content type", "send application/json"
        )


Model = TypeVar("Model", bound=BaseModel)


def parse_strict(body: bytes, model: type[Model], slug: str, title: str) -> Model:
    """A JSON body through the guards of ``/v1/events`` (duplicate keys, finite numbers, depth),
    then the model with strict types; a problem (400, 422) with field paths otherwise."""
    try:
        _loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        problem = FieldProblem(pointer="", rule="not_utf8", detail="the body is not UTF-8")
        raise ProblemError(400, slug, title, errors=[problem]) from None
    except JsonGuardError as refused:
        problem = FieldProblem(pointer=refused.pointer, rule=refused.rule, detail=refused.message)
        raise ProblemError(400, slug, title, errors=[problem]) from None
    try:
        return model.model_validate_json(body, strict=True)
    except ValidationError as error:
        problems = [
            FieldProblem(
                pointer="/" + "/".join(str(p) for p in detail["loc"]),
                rule=detail["type"],
                detail=detail["msg"],
            )
            for detail in error.errors(include_url=False, include_input=False)
        ]
        status = 400 if any(p.rule == "json_invalid" for p in problems) else 422
        raise ProblemError(status, slug, title, errors=problems) from None


def parse_body(body: bytes, content_type: str | None, max_items: int) -> ParsedBody:
    """Split a body into items; raises :class:`ProblemError` (400, 415, 422) when it cannot."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES | NDJSON_TYPES:
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported content type",
            "send application/json (one event or an array) or application/x-ndjson",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("", "not_utf8", "the body is not UTF-8") from None
    if kind in NDJSON_TYPES:
        items: list[Any] = []
        for number, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                items.append(_loads(line))
            except JsonGuardError as error:
                where = f"/{len(items)}{error.pointer}"
                raise _malformed(where, error.rule, f"line {number + 1}: {error.message}") from None
            if len(items) > max_items:
                break  # refused below; the rest is not parsed
        parsed = ParsedBody(items, is_batch=True)
    else:
        try:
            document = _loads(text, MAX_NESTING_DEPTH + 1)  # an array of events is one deeper
        except JsonGuardError as error:
            raise _malformed(error.pointer, error.rule, error.message) from None
        if isinstance(document, list):
            parsed = ParsedBody(document, is_batch=True)
        else:
            parsed = ParsedBody([document], is_batch=False)
    if not parsed.items:
        raise ProblemError(
            422,
            "empty-batch",
            "No events",
            "the body holds no event",
            [FieldProblem(pointer="", rule="empty_batch", detail="send at least one event")],
        )
    if len(parsed.items) > max_items:
        raise ProblemError(
            422,
            "too-many-events",
            "Too many events",
            f"a request holds at most {max_items} events; this one holds {len(parsed.items)}",
            [FieldProblem(pointer="", rule="too_many_items", detail=f"at most {max_items} events")],
        )
    return parsed


def _subject_of(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("customer"), dict):
        return None
    try:
        return CustomerRef.model_validate(data["customer"]).record_key()
    except ValidationError:
        return None  # the codec reports the customer's errors with their paths


# Stand-ins for attributes the sender left out, so that the rest of the event is still
# validated and every failing field is reported at once (the codec stops at the first missing
# attribute). Errors about a stand-in are replaced by one "missing" error for its attribute.
_STAND_INS = {"id": "missing", "time": "1970-01-01T00:00:00+00:00", "subject": "-"}


# What complete_envelope fills in: a sender may leave these out (the API document says so).
FILLED_IN_ATTRIBUTES = ("specversion", "source", "datacontenttype", "correlationid", "subject")


def complete_envelope(item: dict[str, Any], department: Department) -> dict[str, Any]:
    """``item`` with the attributes a department cannot get wrong filled in when absent."""
    completed = dict(item)
    completed.setdefault("specversion", "1.0")
    completed.setdefault("source", department_source(department))
    completed.setdefault("datacontenttype", "application/json")
    if "correlationid" not in completed and isinstance(completed.get("id"), str):
        completed["correlationid"] = completed["id"]
    if "subject" not in completed:
        subject = _subject_of(completed.get("data"))
        if subject is not None:
            completed["subject"] = subject
    return completed


def _foreign_type(item: dict[str, Any], department: Department, prefix: str) -> FieldProblem | None:
    record_type = item.get("type")
    if not isinstance(record_type, str) or record_type not in DEPARTMENT_EVENT_TYPES:
        return None
    owner = department_of(record_type)
    if owner == department or owner is None:
        return None
    return FieldProblem(
        pointer=f"{prefix}/type",
        rule="wrong_department",
        detail=f"a {owner.value} event type; this service publishes {department.value} events only",
    )


def _problems(error: RecordDecodeError, prefix: str) -> list[FieldProblem]:
    return [
        FieldProblem(pointer=prefix + field.pointer, rule=field.rule, detail=field.message)
        for field in error.errors
    ]


def _as_json(document: dict[str, Any]) -> bytes | str:
    """``document`` written back as JSON, for the codec to parse and check as a record.

    pydantic-core's writer, not ``json.dumps``: that one cost a tenth of a batch's CPU in the
    service (docs/benchmarks.md, "Ingest"). It writes no spaces, and ``json.dumps``'s spaces
    counted toward the codec's size limit, so a record big enough for that to matter is still
    written by ``json.dumps``, as is what pydantic-core refuses (a lone surrogate): the codec
    answers both exactly as before.
    """
    try:
        compact = to_json(document, inf_nan_mode="constants")
    except (PydanticSerializationError, ValueError):
        return json.dumps(document, ensure_ascii=False)
    # Spaces after separators at most double the length: below half the limit they cannot
    # have pushed a record over it.
    if 2 * len(compact) > MAX_RECORD_BYTES:
        return json.dumps(document, ensure_ascii=False)
    return compact


def _decode(
    completed: dict[str, Any], department: Department, now: datetime, from_json: bool
) -> AnyDepartmentEvent:
    if from_json:
        # One parse (pydantic's) instead of two when the codec can tell its guards would pass;
        # the same record or the same error either way (tests/unit/departments/test_ingest.py).
        record = decode_event_object(completed, now=now, department=department)
        if record is not None:
            return record
    return decode_event(_as_json(completed), now=now, department=department)


def validate_item(
    item: Any, department: Department, now: datetime, prefix: str = "", *, from_json: bool = False
) -> AnyDepartmentEvent | list[FieldProblem]:
    """One event decoded by the contracts, or its problems (pointers under ``prefix``).

    ``from_json``: the item is as ``json.loads`` gives it (string keys, JSON values), as the
    items of :func:`parse_body` are, so it may take the codec's one-parse path.
    """
    if not isinstance(item, dict):
        return [
            FieldProblem(
                pointer=prefix, rule="record_not_object", detail="an event is a JSON object"
            )
        ]
    foreign = _foreign_type(item, department, prefix)
    if foreign is not None:
        return [foreign]
    completed = complete_envelope(item, department)
    stood_in = [name for name in _STAND_INS if name not in completed]
    for name in stood_in:
        completed[name] = _STAND_INS[name]
    if "id" in stood_in:
        completed.setdefault("correlationid", _STAND_INS["id"])
    try:
        record = _decode(completed, department, now, from_json)
    except RecordDecodeError as error:
        hidden = {f"{prefix}/{name}" for name in stood_in}
        if "id" in stood_in and "correlationid" not in item:
            hidden.add(f"{prefix}/correlationid")
        problems = [p for p in _problems(error, prefix) if p.pointer not in hidden]
        missing = [
            FieldProblem(pointer=f"{prefix}/{name}", rule="missing", detail="required")
            for name in stood_in
            if name != "subject" or not problems  # a subject is missing only if data is valid
        ]
        return missing + problems
    if stood_in:
        return [
            FieldProblem(pointer=f"{prefix}/{name}", rule="missing", detail="required")
            for name in stood_in
        ]
    return record


def validate_items(
    items: Sequence[Any],
    department: Department,
    now: datetime,
    is_batch: bool,
    *,
    from_json: bool = False,
) -> Validation:
    """Validate every item; pointers of a batch start with the item's index (``/3/data/...``).

    ``from_json`` as for :func:`validate_item` (the items of :func:`parse_body`).
    """
    valid: list[ValidItem] = []
    invalid: list[InvalidItem] = []
    for index, item in enumerate(items):
        prefix = f"/{index}" if is_batch else ""
        outcome = validate_item(item, department, now, prefix, from_json=from_json)
        if isinstance(outcome, list):
            invalid.append(InvalidItem(index, outcome))
        else:
            valid.append(ValidItem(index, outcome))
    return Validation(valid, invalid)
