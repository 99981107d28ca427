"""The topic registry: every Kafka topic the system uses, in one place.

No other module spells a topic name. Services look topics up here by attribute
(``TOPICS.marketing_events``) or by department (``events_topic_for(Department.SALES)``),
and the admin command creates exactly these topics with these settings.

Tests and side-by-side deployments give every topic a namespace prefix
(``spec.name_in(prefix)``) so that runs never share topics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DAY_MS = 24 * 60 * 60 * 1000


class Department(StrEnum):
    """The departments that publish events and receive actions."""

    MARKETING = "marketing"
    SALES = "sales"
    SERVICE_DESK = "service-desk"


class Service(StrEnum):
    """Every service that produces to or consumes from a topic."""

    MARKETING = "marketing"
    SALES = "sales"
    SERVICE_DESK = "service-desk"
    ORCHESTRATOR = "orchestrator"


class CleanupPolicy(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


class RecordKey(StrEnum):
    """What the record key of a topic holds."""

    # The first identifier the publishing department has, as "<kind>:<value>" (e.g.
    # "email:ann@example.com"): keeps one department's view of a customer in order.
    CUSTOMER_REFERENCE = "customer-reference"
    # One resolved identifier ("<kind>:<value>"): identity resolution is keyed by it.
    IDENTIFIER = "identifier"
    # The orchestrator's customer id: state, actions and outcomes are co-partitioned on it.
    CUSTOMER_ID = "customer-id"
    # The key of the record that failed, unchanged.
    ORIGINAL_KEY = "original-key"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, what its records are, and how Kafka keeps them."""

    name: str
    key: RecordKey
    value_types: tuple[str, ...]
    description: str
    producers: tuple[Service, ...]
    consumers: tuple[Service, ...]
    partitions: int = 8
    cleanup_policy: CleanupPolicy = CleanupPolicy.DELETE
    retention_ms: int | None = 7 * DAY_MS
    # Settings applied to the topic on creation besides retention and cleanup.
    extra_config: dict[str, str] = field(default_factory=dict)
    internal: bool = False

    def name_in(self, prefix: str = "") -> str:
        """The topic's name inside a namespace (``""`` is the production namespace)."""
        return f"{prefix}{self.name}"

    def topic_config(self) -> dict[str, str]:
        """Kafka topic-level configuration for this topic."""
        config = {"cleanup.policy": self.cleanup_policy.value, **self.extra_config}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        return config


def _department_events(department: Department, service: Service) -> TopicSpec:
    return TopicSpec(
        name=f"lifecycle.{department.value}.events.v1",
        key=RecordKey.CUSTOMER_REFERENCE,
        value_types=(f"{department.value} events",),
        description=f"Customer events published by the {department.value} department.",
        producers=(service,),
        consumers=(Service.ORCHESTRATOR,),
    )


def _department_actions(department: Department, service: Service) -> TopicSpec:
    return TopicSpec(
        name=f"lifecycle.{department.value}.actions.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(f"{department.value} actions",),
        description=f"Treatment actions the orchestrator asks of the {department.value} department.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(service,),
    )


@dataclass(frozen=True)
class TopicRegistry:
    marketing_events: TopicSpec
    sales_events: TopicSpec
    service_desk_events: TopicSpec
    marketing_actions: TopicSpec
    sales_actions: TopicSpec
    service_desk_actions: TopicSpec
    action_outcomes: TopicSpec
    events_by_customer: TopicSpec
    decision_log: TopicSpec
    customer_profiles: TopicSpec
    customer_merges: TopicSpec
    segment_changes: TopicSpec
    owner_changes: TopicSpec
    deadlines_missed: TopicSpec
    dead_letter: TopicSpec

    def all(self) -> tuple[TopicSpec, ...]:
        """Every topic, in declaration order."""
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)


TOPICS = TopicRegistry(
    marketing_events=_department_events(Department.MARKETING, Service.MARKETING),
    sales_events=_department_events(Department.SALES, Service.SALES),
    service_desk_events=_department_events(Department.SERVICE_DESK, Service.SERVICE_DESK),
    marketing_actions=_department_actions(Department.MARKETING, Service.MARKETING),
    sales_actions=_department_actions(Department.SALES, Service.SALES),
    service_desk_actions=_department_actions(Department.SERVICE_DESK, Service.SERVICE_DESK),
    action_outcomes=TopicSpec(
        name="lifecycle.action-outcomes.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("action outcomes",),
        description="What a department did with an action: accepted, completed, declined, "
        "failed, expired.",
        producers=(Service.MARKETING, Service.SALES, Service.SERVICE_DESK),
        consumers=(Service.ORCHESTRATOR,),
    ),
    events_by_customer=TopicSpec(
        name="lifecycle.orchestrator.events-by-customer.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("department events with their resolved customer id",),
        description="Internal: events re-keyed by resolved customer id after identity "
        "resolution, so the state agent is co-partitioned with the customer table.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(Service.ORCHESTRATOR,),
        internal=True,
    ),
    decision_log=TopicSpec(
        name="lifecycle.decision-log.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("decision log records",),
        description="Every candidate action with its score, and why it won, lost or was "
        "suppressed.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
        retention_ms=30 * DAY_MS,
    ),
    customer_profiles=TopicSpec(
        name="lifecycle.customer-profiles.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("customer profile (golden record); null is a tombstone after erasure",),
        description="The current golden record per customer, for departments to read one truth.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(Service.MARKETING, Service.SALES, Service.SERVICE_DESK),
        cleanup_policy=CleanupPolicy.COMPACT,
        retention_ms=None,
        # Compact promptly so erased customers disappear from the topic soon after erasure.
        extra_config={
            "min.cleanable.dirty.ratio": "0.1",
            "segment.ms": str(60 * 60 * 1000),
            "delete.retention.ms": str(DAY_MS),
        },
    ),
    customer_merges=TopicSpec(
        name="lifecycle.customer-merges.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("customer merged",),
        description="Two customer records proven to be one person: the surviving id and the alias.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
        retention_ms=30 * DAY_MS,
    ),
    segment_changes=TopicSpec(
        name="lifecycle.segment-changes.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("segment entered", "segment exited"),
        description="Customers entering and leaving segments.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
    ),
    owner_changes=TopicSpec(
        name="lifecycle.owner-changes.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("owner changed",),
        description="The one accountable owner of a customer changed (a hand-off).",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
    ),
    deadlines_missed=TopicSpec(
        name="lifecycle.deadlines-missed.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=("hand-off deadline missed",),
        description="Actions not acknowledged by their deadline, escalated.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
    ),
    dead_letter=TopicSpec(
        name="lifecycle.dead-letter.v1",
        key=RecordKey.ORIGINAL_KEY,
        value_types=("the original record bytes; the reason is in the headers",),
        description="Records that could not be decoded or applied, with topic, partition, "
        "offset, error class and message in headers.",
        producers=(Service.ORCHESTRATOR, Service.MARKETING, Service.SALES, Service.SERVICE_DESK),
        consumers=(),
        partitions=1,
        retention_ms=30 * DAY_MS,
    ),
)

_EVENTS_BY_DEPARTMENT = {
    Department.MARKETING: TOPICS.marketing_events,
    Department.SALES: TOPICS.sales_events,
    Department.SERVICE_DESK: TOPICS.service_desk_events,
}
_ACTIONS_BY_DEPARTMENT = {
    Department.MARKETING: TOPICS.marketing_actions,
    Department.SALES: TOPICS.sales_actions,
    Department.SERVICE_DESK: TOPICS.service_desk_actions,
}


def events_topic_for(department: Department) -> TopicSpec:
    """The topic a department publishes its customer events to."""
    return _EVENTS_BY_DEPARTMENT[department]


def actions_topic_for(department: Department) -> TopicSpec:
    """The topic the orchestrator sends a department's actions to."""
    return _ACTIONS_BY_DEPARTMENT[department]
