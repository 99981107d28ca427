"""Service desk events: cases, fulfilment problems, satisfaction, complaints."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from lifecycle_schemas.envelope import CustomerEventData, root_error
from lifecycle_schemas.events.common import (
    ContactRequestedData,
    ErasureRequestedData,
    ServiceDeskEvent,
)
from lifecycle_schemas.identifiers import ExternalId
from lifecycle_schemas.vocabulary import (
    CaseChannel,
    CasePriority,
    Code,
    Label,
    Note,
    OwnerRef,
)

# Ten years: anything longer is a broken clock, not a slow case.
MAX_RESOLUTION_SECONDS = 10 * 365 * 24 * 60 * 60


class CaseOpenedData(CustomerEventData):
    case_id: ExternalId
    priority: CasePriority
    category: Code = Field(description="e.g. 'billing', 'outage', 'how-to', 'delivery'.")
    channel: CaseChannel
    summary: Label | None = None
    order_id: ExternalId | None = None


class CaseOpened(ServiceDeskEvent[CaseOpenedData]):
    """The customer opened a support case (P1 most urgent .. P4)."""

    type: Literal["com.customerlifecycle.servicedesk.case.opened.v1"] = (
        "com.customerlifecycle.servicedesk.case.opened.v1"
    )


class CaseEscalatedData(CustomerEventData):
    case_id: ExternalId
    priority: CasePriority = Field(description="The case's priority after escalation.")
    escalation_level: int = Field(ge=1, le=5)
    reason: Label | None = None
    escalated_to: OwnerRef | None = None


class CaseEscalated(ServiceDeskEvent[CaseEscalatedData]):
    """A case was escalated (a hand-off inside the service desk)."""

    type: Literal["com.customerlifecycle.servicedesk.case.escalated.v1"] = (
        "com.customerlifecycle.servicedesk.case.escalated.v1"
    )


class CaseResolvedData(CustomerEventData):
    case_id: ExternalId
    resolution_code: Code = Field(description="e.g. 'fixed', 'workaround', 'no-fault-found'.")
    resolution_time_seconds: int = Field(
        ge=0, le=MAX_RESOLUTION_SECONDS, description="From opening to resolution."
    )
    first_contact_resolution: bool | None = None


class CaseResolved(ServiceDeskEvent[CaseResolvedData]):
    """A case was resolved, with how long it took."""

    type: Literal["com.customerlifecycle.servicedesk.case.resolved.v1"] = (
        "com.customerlifecycle.servicedesk.case.resolved.v1"
    )


class FulfilmentProblemReportedData(CustomerEventData):
    order_id: ExternalId
    problem: Code = Field(description="e.g. 'late-delivery', 'damaged', 'wrong-item'.")
    description: Note | None = None
    case_id: ExternalId | None = None


class FulfilmentProblemReported(ServiceDeskEvent[FulfilmentProblemReportedData]):
    """The customer reported a problem with the delivery of an order."""

    type: Literal["com.customerlifecycle.servicedesk.fulfilment.problem-reported.v1"] = (
        "com.customerlifecycle.servicedesk.fulfilment.problem-reported.v1"
    )


class SatisfactionReceivedData(CustomerEventData):
    """A survey answer: a CSAT score, an NPS score, a comment, or several of them."""

    survey_id: ExternalId | None = None
    case_id: ExternalId | None = None
    csat: int | None = Field(default=None, ge=1, le=5, description="1 very unhappy .. 5.")
    nps: int | None = Field(default=None, ge=0, le=10, description="Likelihood to recommend.")
    comment: Note | None = None

    @model_validator(mode="after")
    def _require_an_answer(self) -> Self:
        if self.csat is None and self.nps is None and self.comment is None:
            raise root_error(
                "satisfaction_empty", "a satisfaction answer needs csat, nps or comment", "csat"
            )
        return self


class SatisfactionReceived(ServiceDeskEvent[SatisfactionReceivedData]):
    """The customer answered a satisfaction survey (CSAT 1-5, NPS 0-10, comment)."""

    type: Literal["com.customerlifecycle.servicedesk.satisfaction.received.v1"] = (
        "com.customerlifecycle.servicedesk.satisfaction.received.v1"
    )


class ComplaintReceivedData(CustomerEventData):
    complaint_id: ExternalId
    category: Code = Field(description="e.g. 'billing', 'staff', 'product-quality'.")
    channel: CaseChannel
    case_id: ExternalId | None = None
    summary: Note | None = None


class ComplaintReceived(ServiceDeskEvent[ComplaintReceivedData]):
    """The customer complained (promotions are suppressed after a complaint)."""

    type: Literal["com.customerlifecycle.servicedesk.complaint.received.v1"] = (
        "com.customerlifecycle.servicedesk.complaint.received.v1"
    )


class ServiceDeskErasureRequested(ServiceDeskEvent[ErasureRequestedData]):
    """The customer asked the service desk to erase their personal data."""

    type: Literal["com.customerlifecycle.servicedesk.erasure.requested.v1"] = (
        "com.customerlifecycle.servicedesk.erasure.requested.v1"
    )


class ServiceDeskContactRequested(ServiceDeskEvent[ContactRequestedData]):
    """The service desk department asks whether it may contact the customer now."""

    type: Literal["com.customerlifecycle.servicedesk.contact.requested.v1"] = (
        "com.customerlifecycle.servicedesk.contact.requested.v1"
    )
