"""What a department does with an action: statuses, allowed transitions, outcome records. Pure.

    open ──accepted──> accepted ──completed / failed──> (final)
      └──completed / declined / failed──> (final)
    open or accepted past ``expires_at`` ──> expired (reported, final)

Reporting the outcome an action already has is a no-op answered as the first time; any other
change of a final action is a conflict (409).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from lifecycle_schemas.catalogue import AnyAction, AnyOutcome
from lifecycle_schemas.outcomes import (
    ActionAccepted,
    ActionCompleted,
    ActionDeclined,
    ActionExpired,
    ActionFailed,
    DeclineReason,
    Outcome,
    outcome_id,
)
from lifecycle_schemas.vocabulary import Money, OwnerRef
from service_kit.problems import FieldProblem, ProblemError


class ActionStatus(StrEnum):
    """Where an action stands in its department."""

    OPEN = "open"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    DECLINED = "declined"
    FAILED = "failed"
    EXPIRED = "expired"


FINAL_STATUSES = frozenset(
    {ActionStatus.COMPLETED, ActionStatus.DECLINED, ActionStatus.FAILED, ActionStatus.EXPIRED}
)
ALLOWED_TRANSITIONS: dict[ActionStatus, frozenset[ActionStatus]] = {
    ActionStatus.OPEN: frozenset(
        {ActionStatus.ACCEPTED, ActionStatus.COMPLETED, ActionStatus.DECLINED, ActionStatus.FAILED}
    ),
    ActionStatus.ACCEPTED: frozenset({ActionStatus.COMPLETED, ActionStatus.FAILED}),
}
OUTCOME_MODELS: dict[ActionStatus, type[Outcome[Any]]] = {
    ActionStatus.ACCEPTED: ActionAccepted,
    ActionStatus.COMPLETED: ActionCompleted,
    ActionStatus.DECLINED: ActionDeclined,
    ActionStatus.FAILED: ActionFailed,
}


def effective_status(stored: ActionStatus, expires_at: datetime, now: datetime) -> ActionStatus:
    """The status to report: an unfinished action past its expiry is expired."""
    if stored in (ActionStatus.OPEN, ActionStatus.ACCEPTED) and expires_at <= now:
        return ActionStatus.EXPIRED
    return stored


class OutcomeRequest(BaseModel):
    """``POST /v1/actions/{id}/outcome``: what the department did, with the fields it needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Literal["accepted", "completed", "declined", "failed"]
    reason_code: DeclineReason | None = Field(default=None, description="Required to decline.")
    reason_text: str | None = Field(default=None, description="Required to decline.")
    assignee: OwnerRef | None = None
    expected_completion: AwareDatetime | None = None
    result_code: str | None = None
    note: str | None = None
    value_realised: Money | None = None
    error_code: str | None = Field(default=None, description="Required when failed.")
    error_text: str | None = None
    retryable: bool | None = Field(default=None, description="Required when failed.")


# The fields each outcome a department records may carry (the rest of its contract is filled in).
FIELDS_OF_OUTCOME: dict[ActionStatus, tuple[str, ...]] = {
    ActionStatus.ACCEPTED: ("assignee", "expected_completion"),
    ActionStatus.COMPLETED: ("result_code", "note", "value_realised"),
    ActionStatus.DECLINED: ("reason_code", "reason_text"),
    ActionStatus.FAILED: ("error_code", "error_text", "retryable"),
}


def check_transition(current: ActionStatus, requested: ActionStatus) -> bool:
    """True if ``requested`` is new for the action, False if it is a repeat; raise 409 otherwise."""
    if current == requested:
        return False
    if requested not in ALLOWED_TRANSITIONS.get(current, frozenset()):
        raise ProblemError(
            409,
            "invalid-transition",
            "The action cannot take this outcome",
            f"the action is {current.value}; it cannot become {requested.value}",
        )
    return True


def build_outcome(action: AnyAction, request: OutcomeRequest, now: datetime) -> AnyOutcome:
    """The outcome record of ``request`` for ``action``; raises 422 problems naming fields."""
    status = ActionStatus(request.outcome)
    model = OUTCOME_MODELS[status]
    given = request.model_dump(exclude_none=True, exclude={"outcome"})
    stray = sorted(set(given) - set(FIELDS_OF_OUTCOME[status]))
    if stray:
        raise ProblemError(
            422,
            "invalid-outcome",
            "Invalid outcome",
            f"fields not used by a {status.value} outcome",
            [
                FieldProblem(
                    pointer=f"/{name}",
                    rule="not_allowed",
                    detail=f"not part of a {status.value} outcome",
                )
                for name in stray
            ],
        )
    data: dict[str, Any] = {
        "customer_id": action.data.customer_id,
        "action_id": action.data.action_id,
        "action_type": action.type,
        "department": action.data.department,
    }
    for name in FIELDS_OF_OUTCOME[status]:
        value = getattr(request, name)
        if value is not None:
            data[name] = value
    try:
        payload = model.data_model().model_validate(data)
    except ValidationError as error:
        raise ProblemError(
            422,
            "invalid-outcome",
            "Invalid outcome",
            "the outcome does not satisfy the contract",
            [
                FieldProblem(
                    pointer="/" + "/".join(str(part) for part in detail["loc"]),
                    rule=detail["type"],
                    detail=detail["msg"],
                )
                for detail in error.errors(include_url=False, include_input=False)
            ],
        ) from None
    return _outcome_record(model, payload, action, now)


def build_expiry(action: AnyAction, now: datetime) -> AnyOutcome:
    """The ``outcome.expired`` record of an action nobody finished before its ``expires_at``."""
    payload = ActionExpired.data_model().model_validate(
        {
            "customer_id": action.data.customer_id,
            "action_id": action.data.action_id,
            "action_type": action.type,
            "department": action.data.department,
            "expired_at": action.data.expires_at,
        }
    )
    return _outcome_record(ActionExpired, payload, action, now)


def _outcome_record(
    model: type[Outcome[Any]], payload: Any, action: AnyAction, now: datetime
) -> AnyOutcome:
    record: AnyOutcome = model.build(  # type: ignore[assignment]
        payload,
        id=outcome_id(action.data.action_id, model.record_type()),
        time=now,
        correlationid=action.correlationid,
        causationid=action.id,
    )
    return record
