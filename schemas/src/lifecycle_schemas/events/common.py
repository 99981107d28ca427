"""The bases of department events, and the payloads several departments share."""

from __future__ import annotations

from typing import ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, Field

from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import CloudEvent, CustomerEventData, stable_id
from lifecycle_schemas.identifiers import ExternalId
from lifecycle_schemas.vocabulary import Code, ContactChannel, ContactPurpose, Label

EventDataT = TypeVar("EventDataT", bound=CustomerEventData)


class DepartmentEvent(CloudEvent[EventDataT]):
    """Something that happened to a customer in one department's system."""

    department: ClassVar[Department]


class MarketingEvent(DepartmentEvent[EventDataT]):
    """An event published by the marketing department's service."""

    department: ClassVar[Department] = Department.MARKETING
    source: Literal["/services/marketing"] = "/services/marketing"


class SalesEvent(DepartmentEvent[EventDataT]):
    """An event published by the sales department's service."""

    department: ClassVar[Department] = Department.SALES
    source: Literal["/services/sales"] = "/services/sales"


class ServiceDeskEvent(DepartmentEvent[EventDataT]):
    """An event published by the service desk's service."""

    department: ClassVar[Department] = Department.SERVICE_DESK
    source: Literal["/services/service-desk"] = "/services/service-desk"


class ErasureRequestedData(CustomerEventData):
    """The customer asked for their personal data to be erased (e.g. GDPR article 17).

    The orchestrator answers with an erase-personal-data action to every department.
    """

    request_id: ExternalId
    regulation: Code = "gdpr-art-17"
    requested_via: Code | None = None
    note: Label | None = None


class ContactRequestedData(CustomerEventData):
    """A department asks before it contacts the customer itself (its own campaign or call).

    Made by the department service from ``POST /v1/contact-requests``; the orchestrator's
    worker owning the customer decides and reserves in one step and answers on the
    department's contact-decisions topic (docs/departments.md, contact requests).
    """

    channel: ContactChannel
    purpose: ContactPurpose
    campaign_id: ExternalId | None = None
    content_tag: Code | None = None
    answer_by: AwareDatetime = Field(
        description="When the department stops waiting (it then applies its fallback): a "
        "request decided later is logged but reserves nothing."
    )


def contact_id(request_id: str) -> str:
    """The contact id of a contact request (the request record's id): what the department
    reports back on ``campaign.message-sent`` once it sent the contact."""
    return stable_id("contact", request_id)
