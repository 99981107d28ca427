"""What the orchestrator publishes besides actions: identity merges, segment changes,
ownership hand-offs, missed deadlines, the decision log and the customer profile."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self, TypeVar

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import (
    CloudEvent,
    CustomerIdData,
    EventId,
    RecordType,
    root_error,
    stable_id,
)
from lifecycle_schemas.identifiers import CustomerId, CustomerRef, ExternalId, IdentifierKind
from lifecycle_schemas.vocabulary import (
    MAX_AMOUNT_MINOR,
    CasePriority,
    Code,
    ConsentStatus,
    ContactChannel,
    ContactDecision,
    ContactPurpose,
    CurrencyCode,
    HandoffKind,
    Label,
    LifecycleStage,
    OwnerRef,
    PlayId,
    PlayVersion,
    SegmentId,
    ValueObject,
)

MAX_CANDIDATES = 64
MAX_SEGMENTS = 64
MAX_LINKED_IDENTIFIERS = 32
MAX_PROFILE_ATTRIBUTES = 32
MAX_OPEN_ACTIONS = 64


def decision_id(customer_id: str, trigger_event_id: str) -> str:
    """The stable id of the decision made for a customer on one event (replay gives the same)."""
    return stable_id("decision", customer_id, trigger_event_id)


OutputDataT = TypeVar("OutputDataT", bound=CustomerIdData)


class OrchestratorRecord(CloudEvent[OutputDataT]):
    """A record the orchestrator publishes about one resolved customer."""

    source: Literal["/services/orchestrator"] = "/services/orchestrator"


class CustomerMergedData(CustomerIdData):
    """``customer_id`` survives; ``merged_customer_id`` becomes its alias."""

    merged_customer_id: CustomerId
    matched_on: Annotated[tuple[IdentifierKind, ...], Field(min_length=1, max_length=6)] = Field(
        description="The identifier kinds both records shared."
    )
    evidence_event_id: EventId = Field(description="The event that proved they are one person.")

    @model_validator(mode="after")
    def _check_two_customers(self) -> Self:
        if self.merged_customer_id == self.customer_id:
            raise root_error(
                "merge_with_itself", "a customer cannot be merged into itself", "merged_customer_id"
            )
        return self


class CustomerMerged(OrchestratorRecord[CustomerMergedData]):
    """Two customer records were proven to be one person and merged."""

    type: Literal["com.customerlifecycle.orchestrator.customer.merged.v1"] = (
        "com.customerlifecycle.orchestrator.customer.merged.v1"
    )


class SegmentChangeData(CustomerIdData):
    segment_id: SegmentId
    segment_version: PlayVersion
    segment_name: Label | None = None
    manager: OwnerRef | None = Field(default=None, description="Who manages the segment.")


class SegmentEntered(OrchestratorRecord[SegmentChangeData]):
    """The customer now belongs to a segment."""

    type: Literal["com.customerlifecycle.orchestrator.segment.entered.v1"] = (
        "com.customerlifecycle.orchestrator.segment.entered.v1"
    )


class SegmentExited(OrchestratorRecord[SegmentChangeData]):
    """The customer no longer belongs to a segment."""

    type: Literal["com.customerlifecycle.orchestrator.segment.exited.v1"] = (
        "com.customerlifecycle.orchestrator.segment.exited.v1"
    )


class OwnerChangedData(CustomerIdData):
    owner: OwnerRef
    previous_owner: OwnerRef | None = None
    handoff: HandoffKind
    handoff_deadline: AwareDatetime | None = Field(
        default=None, description="When the new owner must have acted on the hand-off."
    )
    reason: Label | None = None


class OwnerChanged(OrchestratorRecord[OwnerChangedData]):
    """The one accountable owner of the customer changed (a hand-off)."""

    type: Literal["com.customerlifecycle.orchestrator.owner.changed.v1"] = (
        "com.customerlifecycle.orchestrator.owner.changed.v1"
    )


class HandoffDeadlineMissedData(CustomerIdData):
    action_id: EventId
    action_type: RecordType
    department: Department
    deadline: AwareDatetime
    play_id: PlayId
    play_version: PlayVersion
    escalated_to: OwnerRef | None = None


class HandoffDeadlineMissed(OrchestratorRecord[HandoffDeadlineMissedData]):
    """An action was not acknowledged by its deadline; it is escalated."""

    type: Literal["com.customerlifecycle.orchestrator.handoff.deadline-missed.v1"] = (
        "com.customerlifecycle.orchestrator.handoff.deadline-missed.v1"
    )


class Verdict(StrEnum):
    """What arbitration made of a candidate action."""

    WON = "won"
    LOST = "lost"
    SUPPRESSED = "suppressed"
    HELD_OUT = "held-out"


FiniteScore = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]


class Candidate(ValueObject):
    """One action a play proposed, its score, and what arbitration decided about it."""

    action_type: RecordType
    department: Department
    play_id: PlayId
    play_version: PlayVersion
    score: FiniteScore
    score_components: dict[Code, FiniteScore] = Field(
        default_factory=dict,
        max_length=8,
        description="The factors of the score, e.g. propensity, context, value, lever.",
    )
    verdict: Verdict
    reason_code: Code = Field(
        description="e.g. 'highest-score', 'frequency-cap', 'no-consent', 'open-urgent-case'."
    )
    reason: Label = Field(description="Why it won, lost, was suppressed or held out.")
    action_id: EventId | None = Field(
        default=None, description="The action's id (always set for the winners)."
    )

    @model_validator(mode="after")
    def _winners_have_an_action(self) -> Self:
        if self.verdict is Verdict.WON and self.action_id is None:
            raise root_error(
                "winner_without_action", "a won candidate needs action_id", "action_id"
            )
        return self


class PlaybookVersionRef(ValueObject):
    """The playbook version a decision was made under (docs/orchestrator.md, live playbook)."""

    number: Annotated[int, Field(ge=0)] = Field(
        description="0: the worker's own playbook files; n: the nth published version's "
        "number (its offset on the playbook-versions topic plus one)."
    )
    digest: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")] = Field(
        description="sha256 of the playbook's files: the same content, the same digest."
    )


class DecisionRecordedData(CustomerIdData):
    decision_id: EventId
    trigger_event_id: EventId
    trigger_event_type: RecordType
    control_group: bool = Field(description="The customer is held out of treatment.")
    candidates: Annotated[tuple[Candidate, ...], Field(max_length=MAX_CANDIDATES)]
    playbook: PlaybookVersionRef | None = Field(
        default=None, description="The playbook version the decision was made under."
    )


class DecisionRecorded(OrchestratorRecord[DecisionRecordedData]):
    """The decision log: every candidate action for one event, and why it won or did not."""

    type: Literal["com.customerlifecycle.orchestrator.decision.recorded.v1"] = (
        "com.customerlifecycle.orchestrator.decision.recorded.v1"
    )


class ContactDecidedData(CustomerIdData):
    """The answer to a department's contact request (``<department>.contact.requested``)."""

    contact_id: EventId = Field(
        description="Names the contact: the department reports it on campaign.message-sent."
    )
    request_id: EventId = Field(description="The contact request record's id.")
    department: Department
    channel: ContactChannel
    purpose: ContactPurpose
    campaign_id: ExternalId | None = None
    content_tag: Code | None = None
    decision: ContactDecision
    reason_code: Code = Field(
        description="e.g. 'within-policy', 'open-urgent-case', 'no-consent', 'frequency-cap', "
        "'control-group', 'unknown-customer'."
    )
    reason: Label
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="An allowed contact's reservation counts against the caps until the send "
        "is reported or until then.",
    )
    control_group: bool = Field(description="The customer is held out of treatment.")
    playbook: PlaybookVersionRef | None = Field(
        default=None, description="The playbook version the request was decided under."
    )


class ContactDecided(OrchestratorRecord[ContactDecidedData]):
    """A department's contact request was decided: allowed (and reserved) or denied, and why.

    On the decision log; a copy goes to the requesting department's contact-decisions topic.
    """

    type: Literal["com.customerlifecycle.orchestrator.contact.decided.v1"] = (
        "com.customerlifecycle.orchestrator.contact.decided.v1"
    )


class StageStatus(StrEnum):
    NOT_STARTED = "not-started"
    ACTIVE = "active"
    COMPLETED = "completed"
    STALLED = "stalled"


class LinkedIdentifier(ValueObject):
    """One identifier linked to the customer, and which department it came from."""

    kind: IdentifierKind
    value: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    department: Department | None = None
    first_seen: AwareDatetime

    @model_validator(mode="after")
    def _check_normalised(self) -> Self:
        # Reuse CustomerRef's rules so the profile never holds an un-normalised identifier.
        try:
            normalised = CustomerRef.model_validate({self.kind.value: self.value})
        except ValueError:
            raise root_error(
                "identifier_invalid", "value is not a valid identifier of its kind", "value"
            ) from None
        if getattr(normalised, self.kind.value) != self.value:
            raise root_error("identifier_not_normalised", "value must be normalised", "value")
        return self


class ProfileAttribute(ValueObject):
    """A profile field with the department it came from and when."""

    name: Code = Field(description="e.g. 'given_name', 'company', 'country'.")
    value: Label
    source: Department
    updated_at: AwareDatetime


class CustomerValue(ValueObject):
    """The customer's economic value, in one currency (minor units)."""

    currency: CurrencyCode
    revenue_to_date_minor: Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR)] = 0
    open_pipeline_minor: Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR)] = 0
    predicted_lifetime_value_minor: Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR)] = 0


OpenCount = Annotated[int, Field(ge=0, le=100_000)]


class CustomerHealth(ValueObject):
    open_cases: dict[CasePriority, OpenCount] = Field(
        default_factory=dict, description="Open cases by priority."
    )
    open_complaints: OpenCount = 0
    last_csat: int | None = Field(default=None, ge=1, le=5)
    last_nps: int | None = Field(default=None, ge=0, le=10)
    sentiment: float | None = Field(
        default=None, ge=-1.0, le=1.0, allow_inf_nan=False, description="-1 hostile .. 1 delighted."
    )


class ConsentState(ValueObject):
    channel: ContactChannel
    status: ConsentStatus
    updated_at: AwareDatetime


class CustomerProfileData(CustomerIdData):
    """The golden record: one truth about the customer, for every department to read."""

    profile_version: int = Field(ge=1, description="Increases with every change.")
    identifiers: Annotated[
        tuple[LinkedIdentifier, ...], Field(min_length=1, max_length=MAX_LINKED_IDENTIFIERS)
    ]
    merged_customer_ids: Annotated[tuple[CustomerId, ...], Field(max_length=32)] = ()
    attributes: Annotated[
        tuple[ProfileAttribute, ...], Field(max_length=MAX_PROFILE_ATTRIBUTES)
    ] = ()
    stages: dict[LifecycleStage, StageStatus] = Field(default_factory=dict)
    value: CustomerValue | None = None
    health: CustomerHealth = Field(default_factory=CustomerHealth)
    # One state per channel (contact requests added mail and in-app to the first three).
    consents: Annotated[tuple[ConsentState, ...], Field(max_length=len(ContactChannel))] = ()
    segments: Annotated[tuple[SegmentId, ...], Field(max_length=MAX_SEGMENTS)] = ()
    owner: OwnerRef | None = None
    last_engaged_at: AwareDatetime | None = None
    control_group: bool = False
    open_action_ids: Annotated[tuple[EventId, ...], Field(max_length=MAX_OPEN_ACTIONS)] = ()


class CustomerProfile(OrchestratorRecord[CustomerProfileData]):
    """The current golden record of a customer (compacted topic; a null value erases it)."""

    type: Literal["com.customerlifecycle.orchestrator.customer.profile.v1"] = (
        "com.customerlifecycle.orchestrator.customer.profile.v1"
    )
