"""The service desk's own part of its service."""

from __future__ import annotations

from department_kit.department import DepartmentSpec
from lifecycle_schemas.departments import Department
from service_desk_service.zendesk import map_zendesk

# Keyed by the action's name (the part of its type before the version).
_WORDING = {
    "prioritise-case": "Raise the case's priority",
    "assign-senior-agent": "Give the case to a senior agent",
    "proactive-outreach": "Contact the customer proactively",
    "start-onboarding": "Start onboarding the customer",
    "erase-personal-data": "Erase the customer's data from the help desk",
}

SPEC = DepartmentSpec(
    department=Department.SERVICE_DESK,
    native_formats={"zendesk": map_zendesk},
    action_wording=_WORDING,
)
