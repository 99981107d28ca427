"""What makes one department's service its own: the only thing each department folder supplies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lifecycle_schemas.catalogue import AnyAction, event_types_for
from lifecycle_schemas.departments import Department
from service_kit.problems import FieldProblem


@dataclass(frozen=True)
class NativeMapping:
    """Canonical events (wire form, validated like any posted event) mapped from a vendor payload.

    ``ignored`` names the vendor events with no canonical meaning (acknowledged, not
    published).
    """

    events: list[dict[str, Any]]
    ignored: list[str] = field(default_factory=list)


class NativePayloadError(ValueError):
    """A vendor payload this adapter cannot read; ``errors`` point into the vendor's body."""

    def __init__(self, errors: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{e.pointer} {e.rule}" for e in errors))
        self.errors = errors


NativeAdapter = Callable[[Any], NativeMapping]


@dataclass(frozen=True)
class DepartmentSpec:
    """A department's own part: its catalogue, native webhook formats and action wording."""

    department: Department
    native_formats: Mapping[str, NativeAdapter]
    action_wording: Mapping[str, str] = field(default_factory=dict)

    def summarise_action(self, action: AnyAction) -> str:
        """How the department's people read an action in their inbox: headline, priority, why."""
        name = action.type.rsplit(".", 2)[-2]  # "...action.sales.call-customer.v1"
        headline = self.action_wording.get(name, name)
        return f"{headline} ({action.data.priority.value}): {action.data.rationale}"

    @property
    def event_types(self) -> frozenset[str]:
        """The event types this department may publish (from the contracts' catalogue)."""
        return event_types_for(self.department)
