"""``PATCH /v1/segments/{segment_id}``: a segment manager changes their segment's budget.

The key needs `segments:write` and must name the segment (its `segments` list in the key
file). The change is made to the active version's files, checked exactly as
``orchestrator playbook publish`` checks a directory, and published as the next version on the
playbook topic: every worker switches to it as to any other (``orchestrator.live_playbook``).
Each change is an audit line (key, segment, budget before and after, version); nothing of a
customer is in it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from lifecycle_schemas.playbook_versions import PlaybookPublication
from orchestrator.access import Access, Caller
from orchestrator.core.playbook import (
    DURATION_PATTERN,
    PlaybookError,
    parse_playbook,
)
from orchestrator.core.playbook_checks import dry_run_problems
from orchestrator.core.segment_edits import UnknownSegmentError, with_segment_budget
from orchestrator.playbook_topic import publish
from orchestrator.streaming import Topology
from orchestrator.worker_port import WorkerPort
from service_kit.api_keys import Scope
from service_kit.http import problem_responses
from service_kit.problems import FieldProblem, ProblemError, forbidden

audit_log = logging.getLogger("orchestrator.audit")


class BudgetChange(BaseModel):
    """A segment's treatment budget."""

    model_config = ConfigDict(extra="forbid")

    amount_minor: Annotated[int, Field(ge=0, le=10**15)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    period: Annotated[str | None, Field(pattern=DURATION_PATTERN)] = None


class SegmentChange(BaseModel):
    """What a segment manager may change: the budget (caps are the contact policy's, for
    every segment alike)."""

    model_config = ConfigDict(extra="forbid")

    budget: BudgetChange
    note: Annotated[str, Field(max_length=300)] = ""


class SegmentChanged(BaseModel):
    segment_id: str
    budget_before: dict[str, Any] | None
    budget: dict[str, Any]
    version: int = Field(description="the published version: every worker switches to it")
    digest: str


def install_segment_changes(
    api: FastAPI, topology: Topology, access: Access, port: WorkerPort
) -> None:
    """Add ``PATCH /v1/segments/{segment_id}`` to ``api``."""
    writer = Depends(access.require(Scope.SEGMENTS_WRITE))
    settings = topology.settings

    @api.patch(
        "/v1/segments/{segment_id}",
        tags=["segments"],
        summary="Change a segment's budget",
        response_model=None,
        responses={
            200: {"model": SegmentChanged, "description": "Published as the next version"},
            **problem_responses(400, 401, 403, 404, 422, 429),
        },
    )
    async def change_segment(
        segment_id: str, change: SegmentChange, caller: Caller = writer
    ) -> dict[str, Any]:
        """Change the budget of a segment the key manages, and publish the playbook with it as
        the next version (every worker switches to it without a restart). Needs
        `segments:write` and the segment named in the key's `segments`."""
        if not caller.manages(segment_id):
            raise forbidden(f"this key does not manage segment {segment_id}")
        files, active = await port.read(lambda: (topology.live.active_files, topology.live.active))
        if not files:
            raise ProblemError(503, "no-playbook-files", "Unavailable", "no playbook files known")
        budget = change.budget.model_dump(exclude_none=True)
        try:
            edited, before = with_segment_budget(files, segment_id, budget, f"api:{caller.key_id}")
        except UnknownSegmentError:
            raise ProblemError(
                404, "not-found", "Not found", f"no segment {segment_id} in the playbook"
            ) from None
        try:
            problems = dry_run_problems(parse_playbook(edited))
        except PlaybookError as error:
            problems = [str(problem) for problem in error.problems]
        if problems:
            raise ProblemError(
                422,
                "invalid-playbook",
                "The change makes the playbook invalid",
                "; ".join(problems)[:1000],
                errors=[FieldProblem(pointer="/budget", rule="playbook", detail=problems[0])],
            )
        note = change.note or f"segment {segment_id}: budget changed"
        publication = PlaybookPublication.now(edited, f"api:{caller.key_id}", note)
        version = await publish(
            settings.kafka_bootstrap_servers,
            settings.lifecycle_topic_prefix,
            publication,
            settings.kafka_security,
        )
        audit_log.info(
            "segment changed",
            extra={
                "audit": True,
                "key_id": caller.key_id,
                "via": caller.via,
                "segment_id": segment_id,
                "budget_before": before,
                "budget": budget,
                "from_version": active.version.number,
                "version": version,
            },
        )
        return {
            "segment_id": segment_id,
            "budget_before": before,
            "budget": budget,
            "version": version,
            "digest": publication.digest,
        }
