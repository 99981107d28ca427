"""The sales department's own part of its service."""

from __future__ import annotations

from department_kit.department import DepartmentSpec
from lifecycle_schemas.departments import Department
from sales_service.pipedrive import map_pipedrive

# Keyed by the action's name (the part of its type before the version).
_WORDING = {
    "call-customer": "Call the customer",
    "assign-owner": "Assign the account owner",
    "create-opportunity": "Open an opportunity",
    "offer-retention": "Make a retention offer",
    "erase-personal-data": "Erase the customer's data from the CRM",
}

SPEC = DepartmentSpec(
    department=Department.SALES,
    native_formats={"pipedrive": map_pipedrive},
    action_wording=_WORDING,
)
