"""Segments, plays, contact policy and owner rules: versioned YAML data, validated and compiled.

A playbook directory holds four files: ``segments.yaml``, ``plays.yaml``, ``policy.yaml`` and
``owners.yaml``. Every expression is CEL (``common-expression-language``), compiled once at load;
nothing is ever passed to ``eval``. :func:`load_playbook` raises :class:`PlaybookError` listing
every problem with its file, line and field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import cel
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lifecycle_schemas.catalogue import ACTION_TYPES, DEPARTMENT_EVENT_TYPES, department_of
from lifecycle_schemas.envelope import TYPE_PREFIX
from lifecycle_schemas.playbook_versions import PLAYBOOK_FILES, playbook_digest
from lifecycle_schemas.vocabulary import ActionPriority, HandoffKind, LifecycleStage
from orchestrator.core.expressions import top_level_fields
from orchestrator.core.timescale import WALL_CLOCK, Calendar

DEFAULT_PLAYBOOK_DIR = Path(__file__).resolve().parent.parent / "playbook"

# Milliseconds are there for time-scaled playbooks (Playbook.time_scaled): 1h / 1440 = 2500ms.
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
DURATION_PATTERN = _DURATION.pattern
# Budget periods are counted from here (so a 1d period is a UTC day).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIT_MILLISECONDS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Duration = Annotated[str, Field(pattern=_DURATION.pattern)]


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"4h"``, ``"7d"`` (or ``"2500ms"``) as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 4h, 7d)")
    return timedelta(milliseconds=int(match.group(1)) * _UNIT_MILLISECONDS[match.group(2)])


def scaled_duration(text: str, factor: float) -> str:
    """A duration divided by ``factor``, in whole milliseconds (``"1h"`` / 1440 = ``"2500ms"``).

    Finer than a millisecond is below what the deadline checker can tell apart; never below 1ms,
    so a deadline stays a deadline.
    """
    if factor <= 0:
        raise ValueError(f"a time scale must be > 0, not {factor}")
    milliseconds = parse_duration(text) / timedelta(milliseconds=1) / factor
    return f"{max(1, round(milliseconds))}ms"


def event_type_of(short: str) -> str:
    """``"sales.deal.won"`` -> ``"com.customerlifecycle.sales.deal.won.v1"``."""
    return f"{TYPE_PREFIX}.{short}.v1"


def action_type_of(short: str) -> str:
    """``"sales.call-customer"`` -> ``"com.customerlifecycle.action.sales.call-customer.v1"``."""
    return f"{TYPE_PREFIX}.action.{short}.v1"


def short_type(record_type: str) -> str:
    """The inverse of :func:`event_type_of` / :func:`action_type_of` (drops prefix and version)."""
    name = record_type.removeprefix(f"{TYPE_PREFIX}.").removeprefix("action.")
    return name.rsplit(".v", 1)[0]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OwnerSpec(Spec):
    department: Literal["marketing", "sales", "service-desk"]
    owner_id: Annotated[str, Field(min_length=1, max_length=128)]
    display_name: str | None = None


class BudgetSpec(Spec):
    amount_minor: Annotated[int, Field(ge=0)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    # The budget renews every period (30d, 90d, 365d, ...), counted in whole periods from
    # 1970-01-01 UTC; without one it covers the playbook's lifetime.
    period: Duration | None = None

    @model_validator(mode="after")
    def _period_is_not_zero(self) -> Self:
        if self.period is not None and parse_duration(self.period) <= timedelta(0):
            raise ValueError("a budget period must be longer than zero")
        return self


class SegmentSpec(Spec):
    id: Slug
    name: str
    version: Annotated[int, Field(ge=1)] = 1
    manager: OwnerSpec
    budget: BudgetSpec | None = None
    when: str


def budget_key(segment: SegmentSpec, now: datetime) -> str:
    """Where spend on the segment's members is counted at ``now``: the segment's id, or
    ``<id>@<n>`` in the nth period of a budget that renews."""
    period = segment.budget.period if segment.budget is not None else None
    if period is None:
        return segment.id
    elapsed_ms = (now - _EPOCH) // timedelta(milliseconds=1)
    return f"{segment.id}@{elapsed_ms // (parse_duration(period) // timedelta(milliseconds=1))}"


class TriggerSpec(Spec):
    event: str | None = None
    segment_entered: Slug | None = None
    segment_exited: Slug | None = None
    deadline_missed: Slug | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [
            v
            for v in (self.event, self.segment_entered, self.segment_exited, self.deadline_missed)
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of event, segment_entered, segment_exited, deadline_missed"
            )
        if self.event is not None and event_type_of(self.event) not in DEPARTMENT_EVENT_TYPES:
            raise ValueError(f"unknown event type {self.event!r} (e.g. 'sales.deal.won')")
        return self


class ActionSpec(Spec):
    type: str
    # The play hands the customer to the process receiving this kind (owners.yaml processes):
    # the hand-off is timed from the play firing to the action's department taking it up.
    handoff: HandoffKind | None = None
    priority: ActionPriority = ActionPriority.NORMAL
    deadline: Duration = "1d"
    expires: Duration = "7d"
    expected_value_minor: Annotated[int, Field(ge=0)] = 0
    cost_minor: Annotated[int, Field(ge=0)] = 0
    propensity: Annotated[float, Field(gt=0, le=1)] = 0.5
    rationale: Annotated[str, Field(min_length=1, max_length=2000)]
    parameters: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_type(self) -> Self:
        if action_type_of(self.type) not in ACTION_TYPES:
            raise ValueError(f"unknown action type {self.type!r} (e.g. 'sales.call-customer')")
        if parse_duration(self.expires) < parse_duration(self.deadline):
            raise ValueError("expires must not be shorter than deadline")
        return self

    @property
    def record_type(self) -> str:
        return action_type_of(self.type)

    @property
    def department(self) -> str:
        department = department_of(self.record_type)
        assert department is not None
        return department.value


class PlaySpec(Spec):
    id: Slug
    version: Annotated[int, Field(ge=1)] = 1
    name: str
    description: str = ""
    trigger: TriggerSpec
    when: str = "true"
    actions: Annotated[list[ActionSpec], Field(min_length=1, max_length=8)]


Channel = Literal["email", "sms", "phone", "mail", "in-app"]
# Every channel together: an overall cap.
ANY_CHANNEL = "any"
_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class FrequencyCap(Spec):
    channel: Channel | Literal["any"]
    max: Annotated[int, Field(ge=0)]
    window: Duration
    promotional_only: bool = True


class QuietHours(Spec):
    """No contact on these channels between ``start`` and ``end`` (UTC clock times; a start
    after the end spans midnight). On the real clock, also under a time scale."""

    start: Annotated[str, Field(pattern=_CLOCK_TIME)]
    end: Annotated[str, Field(pattern=_CLOCK_TIME)]
    channels: Annotated[list[Channel], Field(min_length=1)]
    applies_to: Literal["promotional", "contact"] = "contact"

    def covers(self, now: datetime) -> bool:
        """Whether ``now`` falls in the quiet hours."""
        clock = now.astimezone(UTC).strftime("%H:%M")
        if self.start <= self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end


class ContactRequestPolicy(Spec):
    """How the departments' own contact requests are decided (core/contacts.py)."""

    # An allowed contact counts against the caps until its send is reported, or this long.
    reservation: Duration = "1h"


class SuppressionRule(Spec):
    id: Slug
    applies_to: Literal["promotional", "contact", "all"] = "promotional"
    when: str
    reason: str


class ExclusiveGroup(Spec):
    id: Slug
    action_types: Annotated[list[str], Field(min_length=2)]


class ContactKind(Spec):
    channel: Channel
    promotional: bool = False


class PolicySpec(Spec):
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    contact_requests: ContactRequestPolicy = Field(default_factory=ContactRequestPolicy)
    suppressions: list[SuppressionRule] = Field(default_factory=list)
    exclusive_groups: list[ExclusiveGroup] = Field(default_factory=list)
    contact_kinds: dict[str, ContactKind] = Field(default_factory=dict)
    lever: dict[ActionPriority, float] = Field(
        default_factory=lambda: {
            ActionPriority.URGENT: 4.0,
            ActionPriority.HIGH: 3.0,
            ActionPriority.NORMAL: 2.0,
            ActionPriority.LOW: 1.0,
        }
    )
    negative_sentiment_context: Annotated[float, Field(gt=0, le=1)] = 0.5
    decline_flag_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    decline_flag_min_outcomes: Annotated[int, Field(ge=1)] = 5
    # The share of customers held out of treatment to measure its effect (docs/proof-of-value.md).
    control_group_share: Annotated[float, Field(ge=0, lt=1)] = 0.10


class OwnerRule(Spec):
    id: Slug
    when: str
    owner: OwnerSpec
    use_account_owner: bool = False
    handoff: HandoffKind = HandoffKind.REASSIGNMENT
    # Without one, the SLA the receiving process gives this kind of hand-off.
    deadline: Duration | None = None


class HandoffSla(Spec):
    """A kind of hand-off a process receives, and how long it may take to be taken up."""

    handoff: HandoffKind
    sla: Duration


class ProcessSpec(Spec):
    """A lifecycle process, the one person accountable for it, and the hand-offs it receives."""

    id: LifecycleStage
    name: str
    owner: OwnerSpec
    receives: list[HandoffSla] = Field(default_factory=list)

    def sla(self, kind: str) -> timedelta | None:
        """How long this process gives a hand-off of ``kind``, if it receives that kind."""
        return next((parse_duration(r.sla) for r in self.receives if r.handoff == kind), None)


class SegmentsFile(Spec):
    segments: list[SegmentSpec]


class PlaysFile(Spec):
    plays: list[PlaySpec]


class OwnersFile(Spec):
    rules: Annotated[list[OwnerRule], Field(min_length=1)]
    processes: list[ProcessSpec]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a playbook file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field or '(file)'}: {self.message}"


class PlaybookError(ValueError):
    """The playbook is invalid; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression and its source.

    ``program`` reads ``customer.<field>`` as the variable ``customer__<field>``
    (``core/expressions.py``): evaluate it in a context from ``views.build_context``.
    """

    source: str
    program: Any

    def evaluate(self, context: Any) -> Any:
        """The expression's value in ``context`` (a ``cel.Context``)."""
        return self.program.execute(context)


@dataclass(frozen=True)
class PlaybookVersion:
    """Which playbook decides: its number (0: the worker's own files; n: the nth published
    version, ``lifecycle_schemas.playbook_versions``) and the digest of its files."""

    number: int
    digest: str

    def as_record(self) -> dict[str, Any]:
        """As the decision log names it (``PlaybookVersionRef``)."""
        return {"number": self.number, "digest": self.digest}

    def __str__(self) -> str:
        return f"{self.number} ({self.digest[:19]})"


# A playbook built in code (tests) rather than from files.
UNVERSIONED = PlaybookVersion(0, playbook_digest({}))


# A ``customer.<field>`` an expression reads.
CUSTOMER_FIELD = re.compile(r"\bcustomer\.(\w+)")
# ``customer`` not followed by ``.field`` (``customer["x"]``, ``has(customer)``, ...).
_WHOLE_CUSTOMER = re.compile(r"\bcustomer\b(?!\s*\.\s*\w)")


@dataclass(frozen=True)
class Playbook:
    """Everything the core decides with, compiled and ready."""

    segments: tuple[SegmentSpec, ...]
    plays: tuple[PlaySpec, ...]
    policy: PolicySpec
    owner_rules: tuple[OwnerRule, ...]
    expressions: dict[str, Expression] = field(default_factory=dict)
    # The lifecycle processes' owners and the SLA of each hand-off they receive (owners.yaml).
    processes: tuple[ProcessSpec, ...] = ()
    # The customers' calendar: simulated days under ORCHESTRATOR_TIME_SCALE (time_scaled).
    calendar: Calendar = WALL_CLOCK
    # Which version this is: every decision made with it names it.
    version: PlaybookVersion = UNVERSIONED

    def expression(self, source: str) -> Expression:
        """The compiled expression for a source text that the playbook holds."""
        return self.expressions[source]

    @cached_property
    def customer_fields(self) -> frozenset[str] | None:
        """The ``customer.<field>`` names any expression reads; ``None`` if one reads
        ``customer`` as a whole (then the whole view is needed).

        Converting the view to CEL values is the context's cost, so the core converts only
        these fields (about half the view with the default playbook).
        """
        fields: set[str] = set()
        for source in self.expressions:
            if _WHOLE_CUSTOMER.search(source):
                return None
            fields.update(CUSTOMER_FIELD.findall(source))
        return frozenset(fields)

    def current_budget_keys(self, now: datetime) -> dict[str, str]:
        """The spend key of each budgeted segment's current period, to the segment's id."""
        return {budget_key(s, now): s.id for s in self.segments if s.budget is not None}

    def receiving_process(self, kind: str, department: str | None) -> ProcessSpec | None:
        """The process a hand-off of ``kind`` goes to: the one receiving that kind in
        ``department`` (the new owner's, the action's), else the only one receiving it."""
        receivers = [p for p in self.processes if p.sla(kind) is not None]
        mine = [p for p in receivers if p.owner.department == department]
        if mine:
            return mine[0]
        return receivers[0] if len(receivers) == 1 else None

    def play(self, play_id: str) -> PlaySpec | None:
        """The play with this id, if any."""
        return next((p for p in self.plays if p.id == play_id), None)

    def time_scaled(self, factor: float) -> Playbook:
        """This playbook with every duration it holds divided by ``factor``.

        ``factor`` is simulated seconds per real second (``ORCHESTRATOR_TIME_SCALE``): against
        a simulated company running 1440 times faster than the wall clock, a 1h deadline is
        2.5 real seconds, so the orchestrator's real clock keeps the simulation's deadlines.
        Action deadlines and expiries, owner hand-off deadlines, process SLAs, frequency-cap
        windows, contact reservations and budget periods are all the durations a playbook has
        (quiet hours are clock times and stay on the real clock); its calendar counts
        days since and until things (``customer.days_since_complaint``, the value model's
        windows) ``factor`` times faster. ``factor == 1`` returns the playbook unchanged.
        """
        if factor <= 0:
            raise ValueError(f"a time scale must be > 0, not {factor}")
        if factor == 1:
            return self

        def scaled(duration: str) -> str:
            return scaled_duration(duration, factor)

        plays = tuple(
            play.model_copy(
                update={
                    "actions": [
                        action.model_copy(
                            update={
                                "deadline": scaled(action.deadline),
                                "expires": scaled(action.expires),
                            }
                        )
                        for action in play.actions
                    ]
                }
            )
            for play in self.plays
        )
        requests = self.policy.contact_requests
        policy = self.policy.model_copy(
            update={
                "frequency_caps": [
                    cap.model_copy(update={"window": scaled(cap.window)})
                    for cap in self.policy.frequency_caps
                ],
                "contact_requests": requests.model_copy(
                    update={"reservation": scaled(requests.reservation)}
                ),
            }
        )
        owner_rules = tuple(
            rule.model_copy(update={"deadline": scaled(rule.deadline) if rule.deadline else None})
            for rule in self.owner_rules
        )
        processes = tuple(
            process.model_copy(
                update={
                    "receives": [
                        r.model_copy(update={"sla": scaled(r.sla)}) for r in process.receives
                    ]
                }
            )
            for process in self.processes
        )

        def with_scaled_period(segment: SegmentSpec) -> SegmentSpec:
            budget = segment.budget
            if budget is None or budget.period is None:
                return segment
            period = scaled(budget.period)
            return segment.model_copy(
                update={"budget": budget.model_copy(update={"period": period})}
            )

        segments = tuple(with_scaled_period(segment) for segment in self.segments)
        return Playbook(
            segments=segments,
            plays=plays,
            policy=policy,
            owner_rules=owner_rules,
            expressions=self.expressions,
            processes=processes,
            calendar=Calendar(self.calendar.time_scale * factor),
            version=self.version,
        )


Loc = tuple[str | int, ...]
Lines = dict[Loc, int]


def _line_index(node: yaml.Node, path: Loc, out: Lines) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_index(item, (*path, index), out)


def _line_of(lines: Lines, loc: Loc) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _field_path(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _read(
    files: Mapping[str, str], name: str, model: type[Spec], problems: list[Problem]
) -> tuple[Spec | None, Lines]:
    text = files.get(name)
    if text is None:
        problems.append(Problem(name, None, "", "file is missing"))
        return None, {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problems.append(Problem(name, mark.line + 1 if mark else None, "", f"not YAML: {error}"))
        return None, {}
    lines: Lines = {}
    if node is not None:
        _line_index(node, (), lines)
    try:
        return model.model_validate(data if data is not None else {}), lines
    except ValidationError as error:
        for item in error.errors():
            loc = tuple(part for part in item["loc"] if not str(part).startswith("function-"))
            problems.append(Problem(name, _line_of(lines, loc), _field_path(loc), item["msg"]))
        return None, lines


@dataclass
class _Checker:
    """Collects problems (with file, line, field) and compiled expressions."""

    problems: list[Problem] = field(default_factory=list)
    expressions: dict[str, Expression] = field(default_factory=dict)

    def problem(self, file: str, lines: Lines, loc: Loc, message: str) -> None:
        self.problems.append(Problem(file, _line_of(lines, loc), _field_path(loc), message))

    def compile(self, source: str, file: str, lines: Lines, loc: Loc) -> None:
        if source in self.expressions:
            return
        try:
            program = cel.compile(source)
        except Exception as error:  # the binding raises ValueError, or RuntimeError on panics
            self.problem(file, lines, loc, f"invalid CEL expression: {error}")
            return
        unknown = set(program.references()["variables"]) - {"customer", "event"}
        if unknown:
            self.problem(
                file, lines, loc, f"unknown variables {sorted(unknown)}: use customer and event"
            )
            return
        try:
            flat = cel.compile(top_level_fields(source))
        except Exception:  # a rewrite CEL refuses: the program as written reads the whole map
            flat = program
        self.expressions[source] = Expression(source, flat)


def _template_sources(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith("="):
        return [value[1:]]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _template_sources(v)]
    if isinstance(value, list):
        return [s for v in value for s in _template_sources(v)]
    return []


def read_playbook_files(directory: Path | str = DEFAULT_PLAYBOOK_DIR) -> dict[str, str]:
    """The texts of a playbook directory's files, by name (a missing file is left out)."""
    directory = Path(directory)
    return {
        name: (directory / name).read_text(encoding="utf-8")
        for name in PLAYBOOK_FILES
        if (directory / name).exists()
    }


def load_playbook(directory: Path | str = DEFAULT_PLAYBOOK_DIR) -> Playbook:
    """Read, validate and compile a playbook directory (version 0: the files themselves);
    raise :class:`PlaybookError`."""
    return parse_playbook(read_playbook_files(directory))


def parse_playbook(files: Mapping[str, str], number: int = 0) -> Playbook:
    """Validate and compile a playbook from its files' texts, as version ``number``; raise
    :class:`PlaybookError` listing every problem with its file, line and field."""
    problems: list[Problem] = []
    segments, segment_lines = _read(files, "segments.yaml", SegmentsFile, problems)
    plays, play_lines = _read(files, "plays.yaml", PlaysFile, problems)
    policy, policy_lines = _read(files, "policy.yaml", PolicySpec, problems)
    owners, owner_lines = _read(files, "owners.yaml", OwnersFile, problems)
    if problems:
        raise PlaybookError(problems)
    assert isinstance(segments, SegmentsFile)
    assert isinstance(plays, PlaysFile)
    assert isinstance(policy, PolicySpec)
    assert isinstance(owners, OwnersFile)
    check = _Checker(problems)
    _check_unique(
        [s.id for s in segments.segments], "segments.yaml", "segments", segment_lines, check
    )
    _check_unique([p.id for p in plays.plays], "plays.yaml", "plays", play_lines, check)
    for i, segment in enumerate(segments.segments):
        check.compile(segment.when, "segments.yaml", segment_lines, ("segments", i, "when"))
    segment_ids = {s.id for s in segments.segments}
    play_ids = {p.id for p in plays.plays}
    for i, play in enumerate(plays.plays):
        check.compile(play.when, "plays.yaml", play_lines, ("plays", i, "when"))
        named = play.trigger.segment_entered or play.trigger.segment_exited
        if named is not None and named not in segment_ids:
            check.problem(
                "plays.yaml", play_lines, ("plays", i, "trigger"), f"unknown segment {named!r}"
            )
        missed = play.trigger.deadline_missed
        if missed is not None and missed not in play_ids:
            check.problem(
                "plays.yaml", play_lines, ("plays", i, "trigger"), f"unknown play {missed!r}"
            )
        for j, action in enumerate(play.actions):
            for source in _template_sources(action.parameters):
                check.compile(
                    source, "plays.yaml", play_lines, ("plays", i, "actions", j, "parameters")
                )
    for i, suppression in enumerate(policy.suppressions):
        check.compile(suppression.when, "policy.yaml", policy_lines, ("suppressions", i, "when"))
    for i, group in enumerate(policy.exclusive_groups):
        for j, short in enumerate(group.action_types):
            if action_type_of(short) not in ACTION_TYPES:
                check.problem(
                    "policy.yaml",
                    policy_lines,
                    ("exclusive_groups", i, "action_types", j),
                    f"unknown action type {short!r}",
                )
    for short in policy.contact_kinds:
        if action_type_of(short) not in ACTION_TYPES:
            check.problem(
                "policy.yaml",
                policy_lines,
                ("contact_kinds", short),
                f"unknown action type {short!r}",
            )
    for i, rule in enumerate(owners.rules):
        check.compile(rule.when, "owners.yaml", owner_lines, ("rules", i, "when"))
    _check_processes(owners, plays, owner_lines, play_lines, check)
    expressions = check.expressions
    if problems:
        raise PlaybookError(problems)
    return Playbook(
        segments=tuple(segments.segments),
        plays=tuple(plays.plays),
        policy=policy,
        owner_rules=tuple(owners.rules),
        expressions=expressions,
        processes=tuple(owners.processes),
        version=PlaybookVersion(number, playbook_digest(files)),
    )


def _check_processes(
    owners: OwnersFile, plays: PlaysFile, owner_lines: Lines, play_lines: Lines, check: _Checker
) -> None:
    """Every lifecycle process named once, no hand-off kind received twice in one department,
    and every hand-off the rules and plays start received by a process (a play's by a process
    of its action's department)."""
    named = [p.id for p in owners.processes]
    missing = [stage.value for stage in LifecycleStage if stage not in named]
    if missing:
        check.problem(
            "owners.yaml", owner_lines, ("processes",), f"no owner for process {', '.join(missing)}"
        )
    received: dict[tuple[str, str], str] = {}
    for i, process in enumerate(owners.processes):
        if process.id in named[:i]:
            loc: Loc = ("processes", i, "id")
            check.problem("owners.yaml", owner_lines, loc, f"duplicate process {process.id}")
        for j, handoff in enumerate(process.receives):
            key = (process.owner.department, handoff.handoff.value)
            if key in received:
                loc = ("processes", i, "receives", j, "handoff")
                message = f"{key[1]} is received in {key[0]} already (by {received[key]})"
                check.problem("owners.yaml", owner_lines, loc, message)
            received.setdefault(key, process.id)
    book = Playbook((), (), PolicySpec(), (), processes=tuple(owners.processes))
    for i, rule in enumerate(owners.rules):
        if book.receiving_process(rule.handoff, rule.owner.department) is None:
            loc = ("rules", i, "handoff")
            message = f"no process receives {rule.handoff} (add it to a process's receives)"
            check.problem("owners.yaml", owner_lines, loc, message)
    for i, play in enumerate(plays.plays):
        for j, action in enumerate(play.actions):
            if action.handoff is None:
                continue
            loc = ("plays", i, "actions", j, "handoff")
            if (action.department, action.handoff.value) not in received:
                message = f"no {action.department} process receives {action.handoff}"
                check.problem("plays.yaml", play_lines, loc, message)
            stated = action.parameters.get("handoff")
            if isinstance(stated, str) and not stated.startswith("=") and stated != action.handoff:
                message = f"the action's parameters say {stated}"
                check.problem("plays.yaml", play_lines, loc, message)


def _check_unique(ids: list[str], file: str, section: str, lines: Lines, check: _Checker) -> None:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            check.problem(file, lines, (section, i, "id"), f"duplicate id {item!r}")
        seen.add(item)
