"""The catalogue: every record type, which department owns it, and its model.

``AnyRecord`` is the one discriminated union (on ``type``) that decodes any record;
``RECORD_MODELS`` maps each ``type`` string to its model class. Everything here is derived
from the unions below, so adding a record type means adding its class to one union.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, get_args

from pydantic import Field, TypeAdapter

from lifecycle_schemas.actions import (
    Action,
    AssignOwner,
    AssignSeniorAgent,
    CallCustomer,
    CreateOpportunity,
    EnrolInJourney,
    MarketingErasePersonalData,
    OfferRetention,
    PrioritiseCase,
    ProactiveOutreach,
    ResumePromotions,
    SalesErasePersonalData,
    SendOffer,
    ServiceDeskErasePersonalData,
    StartOnboarding,
    SuppressPromotions,
)
from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import CloudEvent, RecordData
from lifecycle_schemas.events import (
    AccountOwnerAssigned,
    CampaignMessageSent,
    CaseEscalated,
    CaseOpened,
    CaseResolved,
    ComplaintReceived,
    ConsentChanged,
    ContactCaptured,
    ContractCancelled,
    DealLost,
    DealWon,
    DepartmentEvent,
    EmailClicked,
    EmailOpened,
    FormSubmitted,
    FulfilmentProblemReported,
    LeadQualified,
    LeadScored,
    MarketingContactRequested,
    MarketingErasureRequested,
    OpportunityCreated,
    OpportunityStageChanged,
    OrderFulfilled,
    QuoteIssued,
    RenewalDue,
    SalesContactRequested,
    SalesErasureRequested,
    SatisfactionReceived,
    ServiceDeskContactRequested,
    ServiceDeskErasureRequested,
    Unsubscribed,
    WebPageVisited,
)
from lifecycle_schemas.outcomes import (
    ActionAccepted,
    ActionCompleted,
    ActionDeclined,
    ActionExpired,
    ActionFailed,
)
from lifecycle_schemas.outputs import (
    ContactDecided,
    CustomerMerged,
    CustomerProfile,
    DecisionRecorded,
    HandoffDeadlineMissed,
    OwnerChanged,
    SegmentEntered,
    SegmentExited,
)

AnyMarketingEvent = (
    ContactCaptured
    | CampaignMessageSent
    | EmailOpened
    | EmailClicked
    | WebPageVisited
    | FormSubmitted
    | LeadScored
    | ConsentChanged
    | Unsubscribed
    | MarketingErasureRequested
    | MarketingContactRequested
)
AnySalesEvent = (
    LeadQualified
    | OpportunityCreated
    | OpportunityStageChanged
    | QuoteIssued
    | DealWon
    | DealLost
    | OrderFulfilled
    | RenewalDue
    | ContractCancelled
    | AccountOwnerAssigned
    | SalesErasureRequested
    | SalesContactRequested
)
AnyServiceDeskEvent = (
    CaseOpened
    | CaseEscalated
    | CaseResolved
    | FulfilmentProblemReported
    | SatisfactionReceived
    | ComplaintReceived
    | ServiceDeskErasureRequested
    | ServiceDeskContactRequested
)
AnyMarketingAction = (
    SuppressPromotions | ResumePromotions | EnrolInJourney | SendOffer | MarketingErasePersonalData
)
AnySalesAction = (
    CallCustomer | AssignOwner | CreateOpportunity | OfferRetention | SalesErasePersonalData
)
AnyServiceDeskAction = (
    PrioritiseCase
    | AssignSeniorAgent
    | ProactiveOutreach
    | StartOnboarding
    | ServiceDeskErasePersonalData
)
AnyOutcomeRecord = ActionAccepted | ActionCompleted | ActionDeclined | ActionFailed | ActionExpired
AnyOrchestratorOutput = (
    CustomerMerged
    | SegmentEntered
    | SegmentExited
    | OwnerChanged
    | HandoffDeadlineMissed
    | DecisionRecorded
    | ContactDecided
    | CustomerProfile
)

# The discriminated unions: decode by `type` in one dictionary lookup.
AnyDepartmentEvent = Annotated[
    AnyMarketingEvent | AnySalesEvent | AnyServiceDeskEvent, Field(discriminator="type")
]
AnyAction = Annotated[
    AnyMarketingAction | AnySalesAction | AnyServiceDeskAction, Field(discriminator="type")
]
AnyOutcome = Annotated[AnyOutcomeRecord, Field(discriminator="type")]
AnyRecord = Annotated[
    AnyMarketingEvent
    | AnySalesEvent
    | AnyServiceDeskEvent
    | AnyMarketingAction
    | AnySalesAction
    | AnyServiceDeskAction
    | AnyOutcomeRecord
    | AnyOrchestratorOutput,
    Field(discriminator="type"),
]

RECORD_ADAPTER: TypeAdapter[AnyRecord] = TypeAdapter(AnyRecord)

RecordModel = type[CloudEvent[Any]]


class RecordFamily(StrEnum):
    """Who writes a record type, and to whom."""

    DEPARTMENT_EVENT = "department-event"
    ACTION = "action"
    OUTCOME = "outcome"
    ORCHESTRATOR_OUTPUT = "orchestrator-output"


class UnknownRecordTypeError(KeyError):
    """A ``type`` string that is not in the catalogue."""


def _models(union: Any) -> tuple[RecordModel, ...]:
    return tuple(get_args(union))


_EVENTS_BY_DEPARTMENT: dict[Department, tuple[RecordModel, ...]] = {
    Department.MARKETING: _models(AnyMarketingEvent),
    Department.SALES: _models(AnySalesEvent),
    Department.SERVICE_DESK: _models(AnyServiceDeskEvent),
}
_ACTIONS_BY_DEPARTMENT: dict[Department, tuple[RecordModel, ...]] = {
    Department.MARKETING: _models(AnyMarketingAction),
    Department.SALES: _models(AnySalesAction),
    Department.SERVICE_DESK: _models(AnyServiceDeskAction),
}
_FAMILY_MODELS: dict[RecordFamily, tuple[RecordModel, ...]] = {
    RecordFamily.DEPARTMENT_EVENT: tuple(m for ms in _EVENTS_BY_DEPARTMENT.values() for m in ms),
    RecordFamily.ACTION: tuple(m for ms in _ACTIONS_BY_DEPARTMENT.values() for m in ms),
    RecordFamily.OUTCOME: _models(AnyOutcomeRecord),
    RecordFamily.ORCHESTRATOR_OUTPUT: _models(AnyOrchestratorOutput),
}

RECORD_MODELS: dict[str, RecordModel] = {
    model.record_type(): model for models in _FAMILY_MODELS.values() for model in models
}
"""Every record ``type`` string, mapped to its model class (in catalogue order)."""

_FAMILY_OF_TYPE: dict[str, RecordFamily] = {
    model.record_type(): family for family, models in _FAMILY_MODELS.items() for model in models
}
_DEPARTMENT_OF_TYPE: dict[str, Department] = {
    model.record_type(): department
    for by_department in (_EVENTS_BY_DEPARTMENT, _ACTIONS_BY_DEPARTMENT)
    for department, models in by_department.items()
    for model in models
}

DEPARTMENT_EVENT_TYPES: frozenset[str] = frozenset(
    m.record_type() for m in _FAMILY_MODELS[RecordFamily.DEPARTMENT_EVENT]
)
ACTION_TYPES: frozenset[str] = frozenset(
    m.record_type() for m in _FAMILY_MODELS[RecordFamily.ACTION]
)
OUTCOME_TYPES: frozenset[str] = frozenset(
    m.record_type() for m in _FAMILY_MODELS[RecordFamily.OUTCOME]
)
ORCHESTRATOR_OUTPUT_TYPES: frozenset[str] = frozenset(
    m.record_type() for m in _FAMILY_MODELS[RecordFamily.ORCHESTRATOR_OUTPUT]
)

# The erasure flow: a request from any department is answered by one action to every department.
ERASURE_REQUEST_TYPES: frozenset[str] = frozenset(
    {
        MarketingErasureRequested.record_type(),
        SalesErasureRequested.record_type(),
        ServiceDeskErasureRequested.record_type(),
    }
)
# Contact requests: a department asks before its own send (docs/departments.md).
CONTACT_REQUEST_OF_DEPARTMENT: dict[Department, RecordModel] = {
    Department.MARKETING: MarketingContactRequested,
    Department.SALES: SalesContactRequested,
    Department.SERVICE_DESK: ServiceDeskContactRequested,
}
ERASE_ACTION_OF_DEPARTMENT: dict[Department, type[Action[Any]]] = {
    Department.MARKETING: MarketingErasePersonalData,
    Department.SALES: SalesErasePersonalData,
    Department.SERVICE_DESK: ServiceDeskErasePersonalData,
}


def model_for(record_type: str) -> RecordModel:
    """The model class of a record type; raises :class:`UnknownRecordTypeError`."""
    try:
        return RECORD_MODELS[record_type]
    except KeyError:
        raise UnknownRecordTypeError(record_type) from None


def data_model_for(record_type: str) -> type[RecordData]:
    """The model of a record type's ``data`` payload (e.g. to validate a department's input)."""
    return model_for(record_type).data_model()


def family_of(record_type: str) -> RecordFamily:
    """Whether a type is a department event, an action, an outcome or an orchestrator output."""
    try:
        return _FAMILY_OF_TYPE[record_type]
    except KeyError:
        raise UnknownRecordTypeError(record_type) from None


def department_of(record_type: str) -> Department | None:
    """The department that publishes an event type, or that an action type is addressed to.

    ``None`` for outcomes (any department) and orchestrator outputs (no department).
    Raises :class:`UnknownRecordTypeError` for a type not in the catalogue.
    """
    if record_type not in RECORD_MODELS:
        raise UnknownRecordTypeError(record_type)
    return _DEPARTMENT_OF_TYPE.get(record_type)


def event_types_for(department: Department) -> frozenset[str]:
    """The event types a department publishes."""
    return frozenset(m.record_type() for m in _EVENTS_BY_DEPARTMENT[department])


def action_types_for(department: Department) -> frozenset[str]:
    """The action types the orchestrator may send to a department."""
    return frozenset(m.record_type() for m in _ACTIONS_BY_DEPARTMENT[department])


def is_department_event(model: RecordModel) -> bool:
    """Whether a model class is a department event."""
    return issubclass(model, DepartmentEvent)
