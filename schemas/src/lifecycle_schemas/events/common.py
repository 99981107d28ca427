"""The bases of department events, and the payloads several departments share."""

from __future__ import annotations

from typing import ClassVar, Literal, TypeVar

from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import CloudEvent, CustomerEventData
from lifecycle_schemas.identifiers import ExternalId
from lifecycle_schemas.vocabulary import Code, Label

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
