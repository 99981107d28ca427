"""The shapes of the orchestrator API's answers, for its OpenAPI document.

The routes build their answers as plain dictionaries (some proxied from the worker that owns
a customer); these models say what those dictionaries hold, so that a client, Swagger UI and
schemathesis (``response_schema_conformance``) read the same contract. Documentation only:
the routes do not filter their answers through them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.state import CustomerState
from service_kit.http import inline_json_schema

# What GET /v1/customers/{key} leaves out of the state (its own routes, or internal).
CUSTOMER_EXCLUDED = frozenset({"timeline", "decisions", "applied_event_ids", "contact_log"})
SERVED_BY = {"type": "string", "description": "the URL of the worker that answered"}


class Status(BaseModel):
    """The process is alive."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Ready once faust recovered its tables."""

    status: Literal["ready", "starting"]


class SessionKey(BaseModel):
    """The key behind a session, and what it may do."""

    key_id: str
    scopes: list[str]


class SessionEnded(BaseModel):
    status: Literal["ended"]


class Segment(BaseModel):
    """A segment of the playbook and its members now, summed over every worker."""

    segment_id: str
    name: str
    version: int
    manager: dict[str, Any]
    budget: dict[str, Any] | None
    expression: str = Field(description="the CEL condition of membership")
    members: int = Field(ge=0)


class Segments(BaseModel):
    workers: list[str] = Field(description="the workers whose counts are summed")
    segments: list[Segment]


class PlayDeclines(BaseModel):
    department: str
    reason: str
    count: int


class PlayReport(BaseModel):
    """A play's actions and what the departments did with them."""

    model_config = ConfigDict(extra="allow")

    play_id: str
    name: str
    version: int
    emitted: int
    accepted: int
    completed: int
    declined: int
    failed: int
    expired: int
    decline_rate: float
    declines_by_department_and_reason: list[PlayDeclines]
    flagged: bool = Field(description="declined so often the play is flagged for review")


class Plays(BaseModel):
    workers: list[str]
    plays: list[PlayReport]


class PlaybookVersionEntry(BaseModel):
    """One playbook version the worker has read (0: its own files)."""

    number: int = Field(ge=0, description="the publication's offset on the topic plus one")
    digest: str = Field(description="sha256 of the files: a rollback repeats an earlier one")
    published_at: str | None
    published_by: str = Field(description="`cli:<user>`, `api:<key id>`, or `files`")
    note: str
    status: Literal["active", "superseded", "refused"]
    problem: str | None = Field(description="why the worker refused it")


class ActivePlaybook(BaseModel):
    number: int
    digest: str
    segments: int
    plays: int


class PlaybookVersions(BaseModel):
    """The version the worker decides under and every version it has read, newest first."""

    served_by: str
    active: ActivePlaybook
    history: list[PlaybookVersionEntry]


class ProofOfValue(BaseModel):
    """Treated versus control: each measure per group with its count and 95 % interval."""

    model_config = ConfigDict(extra="allow")

    control_group_share: float
    confidence: float
    time_scale: float
    groups: dict[str, dict[str, Any]] = Field(description="measures by group (treated, control)")
    simulation: dict[str, Any] = Field(description="the simulator's run summaries, by mode")
    lift: dict[str, dict[str, Any]] = Field(
        description="treated minus control per measure, with its 95 % interval"
    )


class Processes(BaseModel):
    """Per lifecycle process: its owner, hand-off SLAs, open hand-offs, SLA attainment."""

    model_config = ConfigDict(extra="allow")

    window: str
    window_seconds: float
    time_scale: float
    processes: list[dict[str, Any]]


class Flow(BaseModel):
    """This worker's counters since it started (the dashboard turns them into rates)."""

    at: float = Field(description="Unix time of the reading")
    events_in: dict[str, float] = Field(description="events processed, by source department")
    actions_out: dict[str, float] = Field(description="actions emitted, by department")
    outcomes_in: dict[str, float] = Field(description="outcomes received, by outcome")
    dead_letters: float
    deadlines_missed: dict[str, float] = Field(description="by department")
    suppressed: dict[str, float] = Field(description="candidates suppressed, by reason")
    contact_requests: dict[str, float] = Field(
        description="the departments' contact requests decided, by '<decision>: <reason>'"
    )
    lag: float = Field(description="consumer lag in records")


class History(BaseModel):
    """The last hour of the group's counters, sampled every few seconds by each worker and
    summed over the workers."""

    model_config = ConfigDict(extra="allow")

    step_seconds: int = Field(description="seconds between samples")
    span_seconds: int = Field(description="how far back the samples reach at most")
    workers: int = Field(description="workers whose samples are summed")
    series: dict[str, list[list[float]]] = Field(
        description="per series, [unix time, increase since the previous sample]"
    )
    rates: dict[str, dict[str, float | None]] = Field(
        description="per series: per minute over the rate window, its real length, increase"
    )
    hour: dict[str, float] = Field(description="per series, its increase over the samples")
    departments: dict[str, dict[str, Any]] = Field(
        description="per department: events in, actions out (over the samples and per "
        "minute), declines, missed deadlines and time to acknowledge (p50, p90 seconds)"
    )
    segments_spent: dict[str, list[list[float]]] = Field(
        description="per budgeted segment, [unix time, current period's spend, major units]"
    )


class Funnel(BaseModel):
    """Customers by lifecycle stage and status; value, spend and open plays by segment."""

    stages: dict[str, dict[str, int]]
    segment_value_minor: dict[str, int] = Field(description="revenue of members, minor units")
    segment_spend_minor: dict[str, int] = Field(description="budget spent, minor units")
    segment_open_actions: dict[str, dict[str, int]] = Field(description="by segment, play")


class CustomerCard(BaseModel):
    customer_id: str
    identifiers: list[str]
    revenue_to_date_minor: int
    segments: list[str]
    open_actions: int
    last_event_at: str | None


class RecentCustomers(BaseModel):
    customers: list[CustomerCard]


def customer_schema() -> dict[str, Any]:
    """``GET /v1/customers/{key}``: the customer's state without its timeline and decisions."""
    schema = inline_json_schema(CustomerState, mode="serialization")
    properties = {
        name: value for name, value in schema["properties"].items() if name not in CUSTOMER_EXCLUDED
    }
    return {
        **schema,
        "properties": {**properties, "served_by": SERVED_BY},
        "required": [n for n in schema.get("required", []) if n not in CUSTOMER_EXCLUDED],
    }


def customer_part_schema(part: Literal["timeline", "decisions"]) -> dict[str, Any]:
    """``GET /v1/customers/{key}/timeline`` and ``/decisions``."""
    state = inline_json_schema(CustomerState, mode="serialization")
    return {
        "type": "object",
        "title": f"Customer {part}",
        "properties": {
            "customer_id": {"type": "string"},
            "served_by": SERVED_BY,
            part: state["properties"][part],
        },
        "required": ["customer_id", "served_by", part],
    }


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI response entry with a JSON schema given by hand."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}
