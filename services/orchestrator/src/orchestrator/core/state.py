"""The customer state (golden record) the orchestrator keeps per customer id.

Plain pydantic models with JSON round trip: the faust layer stores ``state.to_json()`` in its
RocksDB table and loads it back with :meth:`CustomerState.from_json`. Every collection has a
documented bound (see ``docs/orchestrator.md``) so a customer's state stays small.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Size bounds per customer (documented in docs/orchestrator.md).
MAX_TIMELINE = 50
MAX_DECISIONS = 20
MAX_APPLIED_EVENT_IDS = 256
MAX_OPEN_ACTIONS = 64
MAX_CONTACT_LOG = 100
MAX_OPEN_CASES = 64
MAX_OPEN_OPPORTUNITIES = 32
MAX_COMPLAINTS = 20
MAX_IDENTIFIERS = 32
MAX_MERGED_IDS = 32
MAX_ATTRIBUTES = 32


class ActionStatus(StrEnum):
    """Where an action stands, as far as the orchestrator knows."""

    OPEN = "open"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    DECLINED = "declined"
    FAILED = "failed"
    EXPIRED = "expired"
    MISSED = "missed"
    # Missed, then replaced by a newer action of its type to its department (an escalation),
    # or the younger of two such actions a merge brought together: one voice per type.
    SUPERSEDED = "superseded"


# An action in one of these states no longer waits for an acknowledgement.
ACKNOWLEDGED = frozenset(
    {
        ActionStatus.ACCEPTED,
        ActionStatus.COMPLETED,
        ActionStatus.DECLINED,
        ActionStatus.FAILED,
        ActionStatus.EXPIRED,
    }
)
CLOSED = ACKNOWLEDGED - {ActionStatus.ACCEPTED}
# Still with its department: at most one per action type (one voice, docs/orchestrator.md).
LIVE = frozenset({ActionStatus.OPEN, ActionStatus.ACCEPTED})


class StateModel(BaseModel):
    """Base of the state parts: validated on load, mutable inside the reducer only."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


# Each department's own system id for a customer (its e-mails and phones are shared kinds).
DEPARTMENT_SYSTEM_IDS = {
    "marketing": "marketing_contact_id",
    "sales": "crm_account_id",
    "service-desk": "helpdesk_requester_id",
}
CONTACT_KINDS = ("email", "phone")


class Identifier(StateModel):
    kind: str
    value: str
    department: str | None = None
    first_seen: datetime
    # Other departments that sent it since (an erase action names each department's own).
    also_from: list[str] = Field(default_factory=list)

    def sent_by(self, department: str) -> bool:
        """Whether ``department`` sent this identifier."""
        return self.department == department or department in self.also_from


class Attribute(StateModel):
    value: str
    source: str
    updated_at: datetime


class Owner(StateModel):
    department: str
    owner_id: str
    display_name: str | None = None


class Consent(StateModel):
    status: str
    updated_at: datetime


class OpenAction(StateModel):
    """An action the orchestrator sent, and what the department did with it."""

    action_id: str
    action_type: str
    department: str
    play_id: str
    play_version: int
    priority: str
    created_at: datetime
    deadline: datetime
    expires_at: datetime
    status: ActionStatus = ActionStatus.OPEN
    channel: str | None = None
    promotional: bool = False
    exclusive_group: str | None = None
    decline_reason: str | None = None
    trigger_event_id: str


class Handoff(StateModel):
    """The customer's latest hand-off of one kind between lifecycle processes (core/handoffs.py).

    Open until the receiving department takes it up (``ended_at``); ``breached`` once its SLA
    passed (counted once); ``first_seconds``: how long the customer's first one of this kind
    took (the proof-of-value report's one value per customer and kind).
    """

    from_department: str
    to_department: str
    started_at: datetime
    due_at: datetime
    ended_at: datetime | None = None
    breached: bool = False
    first_seconds: float | None = None


class Contact(StateModel):
    """One customer contact, for frequency caps: an action the orchestrator asked for, a
    department's reported send, or a department's reserved contact (core/contacts.py)."""

    at: datetime
    channel: str
    promotional: bool
    # A reservation: an allowed contact request not yet reported sent. It counts against the
    # caps until the send is reported (campaign.message-sent with this id) or until then.
    contact_id: str | None = None
    reserved_until: datetime | None = None

    def counts_at(self, now: datetime) -> bool:
        """Whether the contact counts against the caps at ``now`` (a lapsed reservation not)."""
        return self.reserved_until is None or now < self.reserved_until


class TimelineEntry(StateModel):
    at: datetime
    kind: str
    type: str
    summary: str
    record_id: str | None = None


class CustomerState(StateModel):
    """Everything the orchestrator knows about one customer."""

    customer_id: str
    created_at: datetime | None = None
    profile_version: int = 0
    # Fingerprint of the last profile published (one is published only when it changes).
    profile_digest: str | None = None
    alias_of: str | None = None
    alias_of_created_at: datetime | None = None
    merged_customer_ids: list[str] = Field(default_factory=list)
    identifiers: list[Identifier] = Field(default_factory=list)
    attributes: dict[str, Attribute] = Field(default_factory=dict)
    stages: dict[str, str] = Field(default_factory=dict)
    # Value, in one currency (the first one seen); minor units.
    currency: str | None = None
    revenue_to_date_minor: int = 0
    open_opportunities: dict[str, int] = Field(default_factory=dict)
    purchases: int = 0
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    predicted_ltv_minor: int = 0
    # Health.
    open_cases: dict[str, str] = Field(default_factory=dict)
    complaints: list[datetime] = Field(default_factory=list)
    last_csat: int | None = None
    last_nps: int | None = None
    sentiment: float | None = None
    # Engagement and sales funnel.
    lead_score: int | None = None
    lead_qualified: bool = False
    last_engaged_at: datetime | None = None
    renewal_due_at: datetime | None = None
    churned_at: datetime | None = None
    consents: dict[str, Consent] = Field(default_factory=dict)
    segments: list[str] = Field(default_factory=list)
    owner: Owner | None = None
    owner_rule: str | None = None
    account_owner: Owner | None = None
    promotions_suppressed: bool = False
    # Promotions a department sent while a P1/P2 case was open (docs/proof-of-value.md).
    conflicting_contacts: int = 0
    # The lead-to-sales hand-off: when an owner rule handed the lead to sales, and when sales
    # first contacted them (a qualification, an opportunity, a completed call).
    handoff_started_at: datetime | None = None
    first_sales_contact_at: datetime | None = None
    # The latest hand-off of each kind (lead-to-sales, sale-to-onboarding, ...), open or ended.
    handoffs: dict[str, Handoff] = Field(default_factory=dict)
    # Actions sent to this customer that were not acknowledged by their deadline, ever.
    deadlines_missed: int = 0
    # The cost of actions sent to this customer, charged to each budgeted segment it was in.
    segment_spend_minor: dict[str, int] = Field(default_factory=dict)
    erased: bool = False
    # Set by an erasure for the decisions of that same step, never stored: what each department
    # knew the customer by (its system id, the e-mails and phones it sent), for its erase action.
    erasure_refs: dict[str, dict[str, str]] = Field(default_factory=dict, exclude=True)
    open_actions: dict[str, OpenAction] = Field(default_factory=dict)
    contact_log: list[Contact] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    applied_event_ids: list[str] = Field(default_factory=list)
    last_event_at: datetime | None = None

    @classmethod
    def new(cls, customer_id: str) -> CustomerState:
        """An empty state for a customer id seen for the first time."""
        return cls(customer_id=customer_id)

    def to_json(self) -> str:
        """The state as JSON text (what the table stores)."""
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> CustomerState:
        """Load a state written by :meth:`to_json`."""
        return cls.model_validate_json(text)

    def identifier_keys(self) -> list[str]:
        """Every linked identifier as ``"<kind>:<value>"``."""
        return [f"{i.kind}:{i.value}" for i in self.identifiers]

    def next_deadline(self) -> datetime | None:
        """The earliest deadline of an action still waiting for an acknowledgement, or SLA of
        a hand-off still waiting for its receiving department."""
        waiting = [a.deadline for a in self.open_actions.values() if a.status is ActionStatus.OPEN]
        waiting += [
            h.due_at for h in self.handoffs.values() if h.ended_at is None and not h.breached
        ]
        return min(waiting) if waiting else None

    def open_urgent_cases(self) -> int:
        """Open cases of priority P1 or P2."""
        return sum(1 for priority in self.open_cases.values() if priority in ("P1", "P2"))
