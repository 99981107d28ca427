"""Who takes part: the departments and the services that speak for them.

Kept apart from the topic registry so that the record models can name departments without
importing the registry (the registry lists the record types, so it imports the models).
"""

from __future__ import annotations

from enum import StrEnum


class Department(StrEnum):
    """The departments that publish events and receive actions."""

    MARKETING = "marketing"
    SALES = "sales"
    SERVICE_DESK = "service-desk"


class Service(StrEnum):
    """Every service that produces to or consumes from a topic."""

    MARKETING = "marketing"
    SALES = "sales"
    SERVICE_DESK = "service-desk"
    ORCHESTRATOR = "orchestrator"


# The CloudEvents `source` of every record a service publishes.
MARKETING_SOURCE = "/services/marketing"
SALES_SOURCE = "/services/sales"
SERVICE_DESK_SOURCE = "/services/service-desk"
ORCHESTRATOR_SOURCE = "/services/orchestrator"

SOURCE_OF_SERVICE: dict[Service, str] = {
    Service.MARKETING: MARKETING_SOURCE,
    Service.SALES: SALES_SOURCE,
    Service.SERVICE_DESK: SERVICE_DESK_SOURCE,
    Service.ORCHESTRATOR: ORCHESTRATOR_SOURCE,
}

SERVICE_OF_DEPARTMENT: dict[Department, Service] = {
    Department.MARKETING: Service.MARKETING,
    Department.SALES: Service.SALES,
    Department.SERVICE_DESK: Service.SERVICE_DESK,
}


def source_of(service: Service) -> str:
    """The CloudEvents ``source`` a service writes on every record it publishes."""
    return SOURCE_OF_SERVICE[service]


def department_source(department: Department) -> str:
    """The CloudEvents ``source`` of the service that speaks for a department."""
    return SOURCE_OF_SERVICE[SERVICE_OF_DEPARTMENT[department]]


# How a department is spelled inside record `type` strings (one reverse-DNS label each).
TYPE_SEGMENT_OF_DEPARTMENT: dict[Department, str] = {
    Department.MARKETING: "marketing",
    Department.SALES: "sales",
    Department.SERVICE_DESK: "servicedesk",
}
