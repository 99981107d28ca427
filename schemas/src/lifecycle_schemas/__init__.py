"""The contracts every service speaks: CloudEvents records, the catalogue and the topic registry.

Import the main names from here; the modules hold the rest (see docs/contracts.md).
"""

from lifecycle_schemas.actions import Action, action_id
from lifecycle_schemas.catalogue import (
    RECORD_MODELS,
    AnyAction,
    AnyDepartmentEvent,
    AnyOutcome,
    AnyRecord,
    RecordFamily,
    action_types_for,
    department_of,
    event_types_for,
    family_of,
)
from lifecycle_schemas.codec import (
    FieldError,
    RecordDecodeError,
    RecordEncodeError,
    check_record_time,
    decode_action,
    decode_event,
    decode_outcome,
    decode_record,
    encode_record,
    kafka_key,
)
from lifecycle_schemas.departments import Department, Service
from lifecycle_schemas.envelope import (
    TYPE_PREFIX,
    CloudEvent,
    new_record_id,
    stable_id,
    validation_context,
)
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.identifiers import CustomerRef, IdentifierKind
from lifecycle_schemas.outcomes import Outcome, outcome_id
from lifecycle_schemas.outputs import OrchestratorRecord, decision_id
from lifecycle_schemas.topics import TOPICS, TopicSpec, actions_topic_for, events_topic_for
from lifecycle_schemas.vocabulary import Money

__all__ = [
    "RECORD_MODELS",
    "TOPICS",
    "TYPE_PREFIX",
    "Action",
    "AnyAction",
    "AnyDepartmentEvent",
    "AnyOutcome",
    "AnyRecord",
    "CloudEvent",
    "CustomerRef",
    "Department",
    "DepartmentEvent",
    "FieldError",
    "IdentifierKind",
    "Money",
    "OrchestratorRecord",
    "Outcome",
    "RecordDecodeError",
    "RecordEncodeError",
    "RecordFamily",
    "Service",
    "TopicSpec",
    "action_id",
    "action_types_for",
    "actions_topic_for",
    "check_record_time",
    "decision_id",
    "decode_action",
    "decode_event",
    "decode_outcome",
    "decode_record",
    "department_of",
    "encode_record",
    "event_types_for",
    "events_topic_for",
    "family_of",
    "kafka_key",
    "new_record_id",
    "outcome_id",
    "stable_id",
    "validation_context",
]
