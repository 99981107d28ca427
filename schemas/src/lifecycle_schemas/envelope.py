"""The CloudEvents 1.0 envelope every record on Kafka travels in (structured JSON mode).

A record is one JSON object: the CloudEvents context attributes (``specversion``, ``id``,
``source``, ``type``, ``time``, ``subject``, ``datacontenttype``), two extension attributes
(``correlationid``: the chain of work; ``causationid``: the record that caused this one) and
``data``. Each record type is a subclass of :class:`CloudEvent` that pins ``type`` and ``source``
with ``Literal`` fields, so the discriminated union in :mod:`lifecycle_schemas.catalogue` can
decode any record by its ``type``.

Clock checks take ``now`` from the pydantic validation context (``context={"now": now}``, see
:func:`validation_context`): validation never reads a clock of its own.
"""

from __future__ import annotations

import builtins
import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lifecycle_schemas.identifiers import CustomerId, CustomerRef

# The reverse-DNS prefix of every record type: `<prefix>.<area>.<name>.v<version>`.
TYPE_PREFIX = "com.customerlifecycle"
SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
# Kafka protocol binding, structured mode: the record value is the whole event.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
# How far a record's `time` may lie ahead of the reader's clock (clocks drift).
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Attributes every record carries on the wire, even those the models fill in by default.
WIRE_REQUIRED_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "correlationid",
    "data",
)
# The validation context key that carries the reader's clock.
NOW_CONTEXT_KEY = "now"

EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"),
    Field(description="A record id: unique per source, and the idempotency key."),
]
RecordType = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=128,
        pattern=r"^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+\.v[1-9][0-9]*$",
    ),
]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=300)]


def new_record_id() -> str:
    """A fresh random record id, for records not derived from a decision (see ``stable_id``)."""
    return str(uuid.uuid4())


# Fixed forever: changing it would change every derived id and break idempotency.
STABLE_ID_NAMESPACE = uuid.UUID("6f1c3c9e-2b7a-5d3e-9a41-0c7e5b2d8f10")


def stable_id(kind: str, *parts: str | int) -> str:
    """A deterministic record id (UUIDv5) from a kind and the parts that identify the record.

    The parts are joined as a JSON array, so no choice of part values can collide with another.
    """
    name = json.dumps([kind, *parts], separators=(",", ":"), ensure_ascii=False)
    return str(uuid.uuid5(STABLE_ID_NAMESPACE, name))


def validation_context(now: datetime | None) -> dict[str, Any]:
    """The pydantic validation context carrying the reader's clock.

    ``Model.model_validate_json(raw, context=validation_context(now))`` rejects records whose
    ``time`` is more than :data:`MAX_CLOCK_SKEW` after ``now``; ``now=None`` skips that check
    (replaying history, tests of pure logic).
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return {NOW_CONTEXT_KEY: now}


def root_error(rule: str, message: str, field: str) -> PydanticCustomError:
    """A model-level validation error that still names the field it is about.

    Pydantic places errors raised by a model validator at the model's own location; the codec
    appends ``field`` (from the error context) to name the field path.
    """
    return PydanticCustomError(rule, message, {"field": field})


class RecordData(BaseModel):
    """Base of every ``data`` payload: immutable, strictly typed, no unknown fields."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    def record_subject(self) -> str:
        """The CloudEvents ``subject`` for a record carrying this payload."""
        raise NotImplementedError


class CustomerEventData(RecordData):
    """Payload of a department event: the customer as the department knows them."""

    customer: CustomerRef

    def record_subject(self) -> str:
        return self.customer.record_key()


class CustomerIdData(RecordData):
    """Payload of a record about a customer the orchestrator has already resolved."""

    customer_id: CustomerId

    def record_subject(self) -> str:
        return self.customer_id


DataT = TypeVar("DataT", bound=RecordData)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event in structured JSON mode, with our correlation extensions.

    Subclasses pin ``type`` and ``source`` and name their ``data`` model. Build records with
    :meth:`build`, which derives ``subject`` from ``data`` and starts a correlation chain.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: EventId
    source: str
    type: str
    time: AwareDatetime = Field(description="When it happened (RFC 3339, with offset).")
    subject: Subject = Field(
        description="The customer: a department event's record key ('<kind>:<value>'), "
        "otherwise the orchestrator's customer id."
    )
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: EventId = Field(description="The chain of work this record belongs to.")
    causationid: EventId | None = Field(
        default=None, description="The id of the record that caused this one."
    )
    data: DataT

    @classmethod
    def build(
        cls,
        data: DataT,
        *,
        time: datetime,
        id: str | None = None,
        correlationid: str | None = None,
        causationid: str | None = None,
        source: str | None = None,
    ) -> Self:
        """A record of this type; ``subject`` comes from ``data``.

        ``id`` is required except for actions, whose id is ``data.action_id``.
        ``correlationid`` defaults to ``id`` (the record starts a new chain of work);
        ``source`` defaults to the one service allowed to publish this type (for outcomes, the
        service of ``data.department``). Raises ``pydantic.ValidationError`` if invalid.
        """
        record_id = id if id is not None else cls._default_id(data)
        if record_id is None:
            raise TypeError(f"{cls.__name__}.build() needs an id")
        fields: dict[str, Any] = {
            "id": record_id,
            "time": time,
            "subject": data.record_subject(),
            "correlationid": correlationid if correlationid is not None else record_id,
            "causationid": causationid,
            "data": data,
        }
        source = source if source is not None else cls._default_source(data)
        if source is not None:
            fields["source"] = source
        return cls.model_validate(fields)

    @classmethod
    def _default_id(cls, data: RecordData) -> str | None:
        """The record id derived from ``data``, for types whose id is not chosen freely."""
        return None

    @classmethod
    def _default_source(cls, data: RecordData) -> str | None:
        """The source to publish ``data`` under when the caller names none."""
        sources = cls.allowed_sources()
        return sources[0] if len(sources) == 1 else None

    @classmethod
    def record_type(cls) -> str:
        """The ``type`` string of this record class."""
        default = cls.model_fields["type"].default
        if not isinstance(default, str):
            raise TypeError(f"{cls.__name__} is not a concrete record type")
        return default

    @classmethod
    def allowed_sources(cls) -> tuple[str, ...]:
        """The ``source`` values allowed to publish this record type."""
        annotation = cls.model_fields["source"].annotation
        values = getattr(annotation, "__args__", ())
        return tuple(value for value in values if isinstance(value, str))

    @classmethod
    def data_model(cls) -> builtins.type[RecordData]:
        """The model of this record type's ``data``."""
        annotation = cls.model_fields["data"].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, RecordData)):
            raise TypeError(f"{cls.__name__} is not a concrete record type")
        return annotation

    @model_validator(mode="after")
    def _check_envelope(self, info: ValidationInfo) -> Self:
        if self.subject != self.data.record_subject():
            raise root_error(
                "subject_mismatch",
                "subject must be the customer reference of data ('<kind>:<value>' of the "
                "first identifier, or the customer id)",
                "subject",
            )
        now = info.context.get(NOW_CONTEXT_KEY) if isinstance(info.context, dict) else None
        if isinstance(now, datetime):
            check_not_in_future(self.time, now, "time")
        return self


def check_not_in_future(moment: datetime, now: datetime, field: str) -> None:
    """Raise a validation error if ``moment`` is later than ``now`` + :data:`MAX_CLOCK_SKEW`."""
    if moment > now + MAX_CLOCK_SKEW:
        raise root_error(
            "time_in_future",
            f"{field} is in the future beyond the allowed clock skew of "
            f"{int(MAX_CLOCK_SKEW.total_seconds())} s",
            field,
        )
