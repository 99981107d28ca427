"""The marketing department's own part of its service."""

from __future__ import annotations

from department_kit.department import DepartmentSpec
from lifecycle_schemas.departments import Department
from marketing_service.hubspot import map_hubspot

# Keyed by the action's name (the part of its type before the version).
_WORDING = {
    "suppress-promotions": "Stop promotions to this customer",
    "resume-promotions": "Promotions may resume for this customer",
    "enrol-in-journey": "Enrol the customer in a journey",
    "send-offer": "Send the customer an offer",
    "erase-personal-data": "Erase the customer's data from marketing tools",
}


SPEC = DepartmentSpec(
    department=Department.MARKETING,
    native_formats={"hubspot": map_hubspot},
    action_wording=_WORDING,
)
