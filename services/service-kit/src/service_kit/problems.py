"""RFC 9457 problem details: every HTTP error a service answers.

Routes raise :class:`ProblemError`; one exception handler renders it as
``application/problem+json`` with the failing field paths in ``errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://customerlifecycle.example/problems/"


class FieldProblem(BaseModel):
    """One failing field: a JSON pointer into the request body, a stable rule and a message."""

    model_config = ConfigDict(frozen=True)

    pointer: str = Field(description="RFC 6901 pointer into the request body, e.g. /0/data/amount")
    rule: str
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem details document (with the ``errors`` extension member)."""

    model_config = ConfigDict(frozen=True)

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)


class ProblemError(Exception):
    """An HTTP error to be answered as problem details."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        errors: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}

    def problem(self, instance: str | None = None) -> Problem:
        """The problem document for this error."""
        return Problem(
            type=PROBLEM_TYPE_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The JSON body (absent members omitted)."""
        return self.problem(instance).model_dump(exclude_none=True)


def unauthorized(detail: str) -> ProblemError:
    """401: no key, or a key nobody issued."""
    return ProblemError(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str) -> ProblemError:
    """403: a valid key without the right department or scope."""
    return ProblemError(403, "forbidden", "Forbidden", detail)


def broker_unavailable(retry_after_s: int) -> ProblemError:
    """503: Kafka did not acknowledge in time; nothing was accepted."""
    return ProblemError(
        503,
        "broker-unavailable",
        "Kafka is unavailable",
        "The events were not acknowledged by Kafka; none was accepted. Retry later.",
        headers={"Retry-After": str(retry_after_s)},
    )
