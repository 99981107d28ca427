"""Outcomes: what a department did with an action (accepted, completed, declined, failed, expired).

Each outcome names the action by its id. A department may decline with a reason code from a
fixed list, so decline rates per play and reason can be counted and bad plays pushed back on.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self, TypeVar

from pydantic import AwareDatetime, Field, model_validator

from lifecycle_schemas.departments import (
    TYPE_SEGMENT_OF_DEPARTMENT,
    Department,
    department_source,
)
from lifecycle_schemas.envelope import (
    TYPE_PREFIX,
    CloudEvent,
    CustomerIdData,
    EventId,
    RecordData,
    RecordType,
    root_error,
    stable_id,
)
from lifecycle_schemas.vocabulary import Code, Money, Note, OwnerRef


def outcome_id(action_id: str, outcome_type: str) -> str:
    """The stable record id of an outcome, so a re-sent outcome is recognised as the same."""
    return stable_id("outcome", action_id, outcome_type)


class DeclineReason(StrEnum):
    """Why a department declined an action."""

    NOT_RELEVANT = "not-relevant"
    ALREADY_DONE = "already-done"
    BAD_TIMING = "bad-timing"
    CONFLICTS_WITH_CUSTOMER_SITUATION = "conflicts-with-customer-situation"
    CUSTOMER_UNREACHABLE = "customer-unreachable"
    CUSTOMER_REFUSED = "customer-refused"
    NO_CAPACITY = "no-capacity"
    POLICY = "policy"
    OTHER = "other"


class OutcomeData(CustomerIdData):
    """What every outcome carries: which action, for whom, from which department."""

    action_id: EventId
    action_type: RecordType
    department: Department

    @model_validator(mode="after")
    def _check_action_type(self) -> Self:
        expected = f"{TYPE_PREFIX}.action.{TYPE_SEGMENT_OF_DEPARTMENT[self.department]}."
        if not self.action_type.startswith(expected):
            raise root_error(
                "action_type_not_of_department",
                "action_type must be an action type addressed to department",
                "action_type",
            )
        return self


OutcomeDataT = TypeVar("OutcomeDataT", bound=OutcomeData)


class Outcome(CloudEvent[OutcomeDataT]):
    """An outcome record: published by the department service the action was addressed to."""

    source: Literal["/services/marketing", "/services/sales", "/services/service-desk"]

    @classmethod
    def _default_source(cls, data: RecordData) -> str | None:
        # An outcome comes from the service of the department the action was addressed to.
        if isinstance(data, OutcomeData):
            return department_source(data.department)
        return None

    @model_validator(mode="after")
    def _check_source_is_department(self) -> Self:
        if self.source != department_source(self.data.department):
            raise root_error(
                "source_not_department",
                "source must be the service of data.department",
                "source",
            )
        return self


class ActionAcceptedData(OutcomeData):
    assignee: OwnerRef | None = None
    expected_completion: AwareDatetime | None = None


class ActionAccepted(Outcome[ActionAcceptedData]):
    """The department acknowledged the action and will carry it out."""

    type: Literal["com.customerlifecycle.outcome.accepted.v1"] = (
        "com.customerlifecycle.outcome.accepted.v1"
    )


class ActionCompletedData(OutcomeData):
    result_code: Code | None = Field(
        default=None, description="e.g. 'reached', 'offer-accepted', 'erased'."
    )
    note: Note | None = None
    value_realised: Money | None = None


class ActionCompleted(Outcome[ActionCompletedData]):
    """The department carried out the action."""

    type: Literal["com.customerlifecycle.outcome.completed.v1"] = (
        "com.customerlifecycle.outcome.completed.v1"
    )


class ActionDeclinedData(OutcomeData):
    reason_code: DeclineReason
    reason_text: Note


class ActionDeclined(Outcome[ActionDeclinedData]):
    """The department declined the action, with a reason code and an explanation."""

    type: Literal["com.customerlifecycle.outcome.declined.v1"] = (
        "com.customerlifecycle.outcome.declined.v1"
    )


class ActionFailedData(OutcomeData):
    error_code: Code
    error_text: Note | None = None
    retryable: bool


class ActionFailed(Outcome[ActionFailedData]):
    """The department tried and could not carry out the action."""

    type: Literal["com.customerlifecycle.outcome.failed.v1"] = (
        "com.customerlifecycle.outcome.failed.v1"
    )


class ActionExpiredData(OutcomeData):
    expired_at: AwareDatetime = Field(description="The action's expires_at, now passed.")


class ActionExpired(Outcome[ActionExpiredData]):
    """The action expired before the department carried it out; it will not be."""

    type: Literal["com.customerlifecycle.outcome.expired.v1"] = (
        "com.customerlifecycle.outcome.expired.v1"
    )
