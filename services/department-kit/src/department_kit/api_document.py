"""What the department API's OpenAPI document says of bodies the routes parse by hand.

``POST /v1/events`` and ``POST /v1/actions/{id}/outcome`` read their bodies themselves (problem
details with field paths), so FastAPI cannot infer them: they are described here from the
contracts. Each event type of the department is one schema, discriminated on ``type``, with
the catalogue's example; each outcome is one schema (the contract's fields of that outcome),
discriminated on ``outcome``. The answers' shapes are models, so a client and schemathesis
(tests/chaos/test_schemathesis.py) can check them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from department_kit.actions import FIELDS_OF_OUTCOME, OUTCOME_MODELS
from department_kit.ingest import FILLED_IN_ATTRIBUTES
from lifecycle_schemas.catalogue import RECORD_MODELS, event_types_for
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from service_kit.http import inline_json_schema
from service_kit.problems import FieldProblem

COMPONENTS = "#/components/schemas/"


class AcceptedEvent(BaseModel):
    """An event Kafka acknowledged: where it was written."""

    id: str = Field(description="the event's id (its idempotency key)")
    type: str = Field(description="the event's type")
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class EventsAccepted(BaseModel):
    """202: every event of the request was acknowledged by Kafka (``acks=all``)."""

    accepted: list[AcceptedEvent]


class NativeEventsAccepted(EventsAccepted):
    """202: the canonical events a vendor payload mapped to, all acknowledged by Kafka."""

    ignored: list[str] = Field(description="vendor events with no canonical meaning")


class EventResult(BaseModel):
    """The answer for one event of a ``per_item=true`` request."""

    index: int = Field(ge=0, description="the event's position in the request")
    status: int = Field(description="202 accepted, 409 id reused for another body, 422 invalid")
    id: str | None = None
    type: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    errors: list[FieldProblem] | None = None


class EventResults(BaseModel):
    """207: a status per event, in request order."""

    results: list[EventResult]


def _example(record_type: str) -> Any:
    return json.loads(encode_record(EXAMPLES[record_type]))


def event_schemas(department: Department) -> dict[str, dict[str, Any]]:
    """One component schema per event type the department publishes (by model name)."""
    schemas: dict[str, dict[str, Any]] = {}
    for record_type in sorted(event_types_for(department)):
        model = RECORD_MODELS[record_type]
        schema = inline_json_schema(model)
        # The model defaults `type` to its own; the service needs it to know the model. What
        # the service fills in when absent is optional here.
        required = [
            "type",
            *(
                name
                for name in schema.get("required", [])
                if name != "type" and name not in FILLED_IN_ATTRIBUTES
            ),
        ]
        schemas[model.__name__] = {
            **schema,
            "required": required,
            "examples": [_example(record_type)],
        }
    return schemas


def events_body(department: Department) -> dict[str, Any]:
    """``openapi_extra`` of ``POST /v1/events``: one event, an array of them, or NDJSON."""
    types = sorted(event_types_for(department))
    names = {t: RECORD_MODELS[t].__name__ for t in types}
    one_event = {
        "oneOf": [{"$ref": COMPONENTS + names[t]} for t in types],
        "discriminator": {
            "propertyName": "type",
            "mapping": {t: COMPONENTS + names[t] for t in types},
        },
    }
    examples = {
        names[t]: {"summary": t.removeprefix("com.customerlifecycle."), "value": _example(t)}
        for t in types
    }
    examples["batch"] = {
        "summary": "a batch of two events",
        "value": [_example(t) for t in types[:2]],
    }
    return {
        "requestBody": {
            "required": True,
            "description": "One CloudEvent of the contracts (docs/contracts.md), a JSON array of "
            "them (all or nothing), or NDJSON. "
            + ", ".join(f"`{name}`" for name in FILLED_IN_ATTRIBUTES)
            + " are filled in when absent.",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            one_event,
                            {"type": "array", "minItems": 1, "items": one_event},
                        ]
                    },
                    "examples": examples,
                },
                "application/x-ndjson": {
                    "schema": {"type": "string", "description": "one event per line"}
                },
            },
        }
    }


def outcome_schemas() -> dict[str, dict[str, Any]]:
    """One component schema per outcome a department may record: the contract's fields of that
    outcome (``outcome.declined.v1``'s reason, ...), with the contract's required ones."""
    schemas: dict[str, dict[str, Any]] = {}
    for status, fields in FIELDS_OF_OUTCOME.items():
        model = OUTCOME_MODELS[status]
        contract = inline_json_schema(model.data_model())
        example = _example(model.record_type())["data"]
        schemas[_outcome_name(status.value)] = {
            "title": f"{status.value} outcome",
            "description": f"Recorded as {model.record_type()}.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "outcome": {"type": "string", "const": status.value},
                **{name: contract["properties"][name] for name in fields},
            },
            "required": ["outcome", *(n for n in contract.get("required", []) if n in fields)],
            "examples": [
                {"outcome": status.value, **{n: example[n] for n in fields if n in example}}
            ],
        }
    return schemas


def _outcome_name(outcome: str) -> str:
    return f"{outcome.capitalize()}Outcome"


def outcome_body() -> dict[str, Any]:
    """``openapi_extra`` of ``POST /v1/actions/{id}/outcome``."""
    outcomes = [status.value for status in FIELDS_OF_OUTCOME]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [{"$ref": COMPONENTS + _outcome_name(o)} for o in outcomes],
                        "discriminator": {
                            "propertyName": "outcome",
                            "mapping": {o: COMPONENTS + _outcome_name(o) for o in outcomes},
                        },
                    }
                }
            },
        }
    }
