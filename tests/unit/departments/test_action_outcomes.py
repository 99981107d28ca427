"""What a department does with an action: transitions and outcome records. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from department_kit.actions import (
    ActionStatus,
    OutcomeRequest,
    build_outcome,
    check_transition,
    effective_status,
)
from lifecycle_schemas.catalogue import AnyAction, action_types_for
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.outcomes import outcome_id
from service_kit.problems import ProblemError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def an_action(department: Department = Department.SALES) -> AnyAction:
    action: AnyAction = EXAMPLES[sorted(action_types_for(department))[0]]  # type: ignore[assignment]
    return action


@pytest.mark.parametrize(
    ("current", "requested", "is_new"),
    [
        (ActionStatus.OPEN, ActionStatus.ACCEPTED, True),
        (ActionStatus.OPEN, ActionStatus.COMPLETED, True),
        (ActionStatus.OPEN, ActionStatus.DECLINED, True),
        (ActionStatus.OPEN, ActionStatus.FAILED, True),
        (ActionStatus.ACCEPTED, ActionStatus.COMPLETED, True),
        (ActionStatus.ACCEPTED, ActionStatus.FAILED, True),
        (ActionStatus.ACCEPTED, ActionStatus.ACCEPTED, False),
        (ActionStatus.COMPLETED, ActionStatus.COMPLETED, False),
        (ActionStatus.DECLINED, ActionStatus.DECLINED, False),
    ],
)
def test_allowed_transitions_and_repeats(
    current: ActionStatus, requested: ActionStatus, is_new: bool
) -> None:
    assert check_transition(current, requested) is is_new


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (ActionStatus.DECLINED, ActionStatus.COMPLETED),
        (ActionStatus.COMPLETED, ActionStatus.DECLINED),
        (ActionStatus.ACCEPTED, ActionStatus.DECLINED),
        (ActionStatus.COMPLETED, ActionStatus.ACCEPTED),
        (ActionStatus.FAILED, ActionStatus.COMPLETED),
        (ActionStatus.EXPIRED, ActionStatus.ACCEPTED),
    ],
)
def test_invalid_transitions_are_conflicts(current: ActionStatus, requested: ActionStatus) -> None:
    with pytest.raises(ProblemError) as conflict:
        check_transition(current, requested)
    assert conflict.value.status == 409


def test_an_unfinished_action_past_its_expiry_is_reported_expired() -> None:
    expires = NOW
    assert effective_status(ActionStatus.OPEN, expires, NOW) == ActionStatus.EXPIRED
    assert effective_status(ActionStatus.ACCEPTED, expires, NOW) == ActionStatus.EXPIRED
    assert (
        effective_status(ActionStatus.OPEN, expires + timedelta(seconds=1), NOW)
        == ActionStatus.OPEN
    )
    assert effective_status(ActionStatus.COMPLETED, expires, NOW) == ActionStatus.COMPLETED


@pytest.mark.parametrize(
    ("request_body", "type_suffix"),
    [
        ({"outcome": "accepted"}, "outcome.accepted.v1"),
        ({"outcome": "completed", "result_code": "reached"}, "outcome.completed.v1"),
        (
            {"outcome": "declined", "reason_code": "bad-timing", "reason_text": "mid-migration"},
            "outcome.declined.v1",
        ),
        ({"outcome": "failed", "error_code": "crm-down", "retryable": True}, "outcome.failed.v1"),
    ],
)
def test_an_outcome_names_its_action_and_has_a_stable_id(
    request_body: dict[str, Any], type_suffix: str
) -> None:
    action = an_action()
    outcome = build_outcome(action, OutcomeRequest.model_validate(request_body), NOW)
    assert outcome.type.endswith(type_suffix)
    assert outcome.data.action_id == action.data.action_id
    assert outcome.data.action_type == action.type
    assert outcome.id == outcome_id(action.data.action_id, outcome.type)
    assert outcome.subject == action.data.customer_id
    assert outcome.source == "/services/sales"
    assert (outcome.correlationid, outcome.causationid) == (action.correlationid, action.id)


def test_declining_without_a_reason_names_the_missing_fields() -> None:
    with pytest.raises(ProblemError) as invalid:
        build_outcome(an_action(), OutcomeRequest(outcome="declined"), NOW)
    assert invalid.value.status == 422
    assert {e.pointer for e in invalid.value.errors} == {"/reason_code", "/reason_text"}


def test_fields_of_another_outcome_are_refused() -> None:
    request = OutcomeRequest(outcome="accepted", reason_text="why not")
    with pytest.raises(ProblemError) as invalid:
        build_outcome(an_action(), request, NOW)
    assert [(e.pointer, e.rule) for e in invalid.value.errors] == [("/reason_text", "not_allowed")]
