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

from lifecycle_schemas.catalogue import (
    ACTION_TYPES,
    DEPARTMENT_EVENT_TYPES,
    ORCHESTRATOR_OUTPUT_TYPES,
    OUTCOME_TYPES,
    UnknownRecordTypeError,
    action_types_for,
    event_types_for,
)
from lifecycle_schemas.departments import Department, Service
from lifecycle_schemas.outputs import (
    ContactDecided,
    CustomerMerged,
    CustomerProfile,
    DecisionRecorded,
    HandoffDeadlineMissed,
    OwnerChanged,
    SegmentEntered,
    SegmentExited,
)

__all__ = [
    "DAY_MS",
    "TOPICS",
    "CleanupPolicy",
    "Department",
    "RecordKey",
    "Service",
    "TopicRegistry",
    "TopicSpec",
    "actions_topic_for",
    "contact_decisions_topic_for",
    "events_topic_for",
    "topic_for_type",
]

DAY_MS = 24 * 60 * 60 * 1000
# Production durability: with three or more brokers every topic keeps three copies and an
# acknowledged write needs two of them (deploy/README.md).
PRODUCTION_REPLICATION_FACTOR = 3
PRODUCTION_MIN_INSYNC_REPLICAS = 2
# Compacted topics whose deleted keys must leave the log soon (erasure): the cleaner runs once a
# tenth of the log is dirty and the active segment rolls hourly; a tombstone stays a day.
PROMPT_COMPACTION: dict[str, str] = {
    "min.cleanable.dirty.ratio": "0.1",
    "segment.ms": str(60 * 60 * 1000),
    "delete.retention.ms": str(DAY_MS),
}


def replication_for(broker_count: int) -> tuple[int, dict[str, str]]:
    """Replication factor and extra topic config for a cluster of `broker_count` brokers."""
    replication = max(1, min(PRODUCTION_REPLICATION_FACTOR, broker_count))
    extra: dict[str, str] = {}
    if replication >= PRODUCTION_REPLICATION_FACTOR:
        extra["min.insync.replicas"] = str(PRODUCTION_MIN_INSYNC_REPLICAS)
        extra["unclean.leader.election.enable"] = "false"
    return replication, extra


class CleanupPolicy(StrEnum):
    """How Kafka keeps a topic's records: by age, or the latest per key."""

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
    # A subject key record: "<kid>/<writer>/<key id>" (lifecycle_schemas.shredding).
    SUBJECT_KEY = "subject-key"
    # A fresh id per published playbook version (lifecycle_schemas.playbook_versions).
    PUBLICATION_ID = "publication-id"


# Partitions of the co-partitioned topics unless a deployment chooses otherwise
# (LIFECYCLE_TOPIC_PARTITIONS); the orchestrator reads the count from the cluster.
DEFAULT_PARTITIONS = 8


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, what its records are, and how Kafka keeps them."""

    name: str
    key: RecordKey
    # The record `type` strings a topic carries (see lifecycle_schemas.catalogue); empty for the
    # dead-letter topic, whose values are the original bytes of records that failed.
    value_types: tuple[str, ...]
    description: str
    producers: tuple[Service, ...]
    consumers: tuple[Service, ...]
    # The registry's default count. A deployment may choose another for every co-partitioned
    # topic (``lifecycle-admin create-topics --partitions N``): see :meth:`partitions_in`.
    partitions: int = DEFAULT_PARTITIONS
    # Keyed topics are co-partitioned (same key, same count) and follow the deployment's count;
    # a topic whose order spans all records (the dead-letter topic) keeps its own.
    copartitioned: bool = True
    cleanup_policy: CleanupPolicy = CleanupPolicy.DELETE
    retention_ms: int | None = 7 * DAY_MS
    # Settings applied to the topic on creation besides retention and cleanup.
    extra_config: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    # A copy, for one reader, of records whose own topic is another (the contact decisions a
    # department waits for): never the topic a record type is published to.
    reply: bool = False

    def name_in(self, prefix: str = "") -> str:
        """The topic's name inside a namespace (``""`` is the production namespace)."""
        return f"{prefix}{self.name}"

    def partitions_in(self, deployment_partitions: int | None) -> int:
        """The partition count of this topic in a deployment that chose
        ``deployment_partitions`` for its co-partitioned topics (``None``: the registry's)."""
        if deployment_partitions is None or not self.copartitioned:
            return self.partitions
        return deployment_partitions

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
        value_types=tuple(sorted(event_types_for(department))),
        description=f"Customer events published by the {department.value} department.",
        producers=(service,),
        consumers=(Service.ORCHESTRATOR,),
    )


def _department_actions(department: Department, service: Service) -> TopicSpec:
    return TopicSpec(
        name=f"lifecycle.{department.value}.actions.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=tuple(sorted(action_types_for(department))),
        description=f"Treatment actions the orchestrator asks of the {department.value} "
        "department.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(service,),
    )


def _contact_decisions(department: Department, service: Service) -> TopicSpec:
    return TopicSpec(
        name=f"lifecycle.{department.value}.contact-decisions.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(ContactDecided.record_type(),),
        description=f"The answers to the {department.value} department's contact requests "
        "(copies of their decision-log records), read by every replica of its service.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(service,),
        # An answer matters for seconds: the requesting service waits no longer.
        retention_ms=DAY_MS,
        reply=True,
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
    identity_messages: TopicSpec
    customer_commands: TopicSpec
    decision_log: TopicSpec
    customer_profiles: TopicSpec
    customer_merges: TopicSpec
    segment_changes: TopicSpec
    owner_changes: TopicSpec
    deadlines_missed: TopicSpec
    dead_letter: TopicSpec
    subject_keys: TopicSpec
    marketing_contact_decisions: TopicSpec
    sales_contact_decisions: TopicSpec
    service_desk_contact_decisions: TopicSpec
    playbook_versions: TopicSpec

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
        value_types=tuple(sorted(OUTCOME_TYPES)),
        description="What a department did with an action: accepted, completed, declined, "
        "failed, expired.",
        producers=(Service.MARKETING, Service.SALES, Service.SERVICE_DESK),
        consumers=(Service.ORCHESTRATOR,),
    ),
    events_by_customer=TopicSpec(
        name="lifecycle.orchestrator.events-by-customer.v1",
        key=RecordKey.CUSTOMER_ID,
        # The department events unchanged; only the key is now the resolved customer id.
        value_types=tuple(sorted(DEPARTMENT_EVENT_TYPES)),
        description="Internal: events re-keyed by resolved customer id after identity "
        "resolution, so the state agent is co-partitioned with the customer table.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(Service.ORCHESTRATOR,),
        internal=True,
    ),
    identity_messages=TopicSpec(
        name="lifecycle.orchestrator.identity-messages.v1",
        key=RecordKey.IDENTIFIER,
        value_types=(),
        description="Internal: identity lookups and claims of the orchestrator's identity "
        "resolution, keyed by the identifier they concern.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(Service.ORCHESTRATOR,),
        internal=True,
    ),
    customer_commands=TopicSpec(
        name="lifecycle.orchestrator.customer-commands.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(),
        description="Internal: merges, absorbs and deadline checks for one customer, keyed by "
        "customer id.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(Service.ORCHESTRATOR,),
        internal=True,
    ),
    decision_log=TopicSpec(
        name="lifecycle.decision-log.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(DecisionRecorded.record_type(), ContactDecided.record_type()),
        description="Every candidate action with its score, and why it won, lost or was "
        "suppressed; every department contact request with its verdict.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
        retention_ms=30 * DAY_MS,
    ),
    customer_profiles=TopicSpec(
        name="lifecycle.customer-profiles.v1",
        key=RecordKey.CUSTOMER_ID,
        # A null value is a tombstone: the customer's profile is erased.
        value_types=(CustomerProfile.record_type(),),
        description="The current golden record per customer, for departments to read one truth.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(Service.MARKETING, Service.SALES, Service.SERVICE_DESK),
        cleanup_policy=CleanupPolicy.COMPACT,
        retention_ms=None,
        # Compact promptly so erased customers disappear from the topic soon after erasure.
        extra_config={**PROMPT_COMPACTION},
    ),
    customer_merges=TopicSpec(
        name="lifecycle.customer-merges.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(CustomerMerged.record_type(),),
        description="Two customer records proven to be one person: the surviving id and the alias.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
        retention_ms=30 * DAY_MS,
    ),
    segment_changes=TopicSpec(
        name="lifecycle.segment-changes.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(SegmentEntered.record_type(), SegmentExited.record_type()),
        description="Customers entering and leaving segments.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
    ),
    owner_changes=TopicSpec(
        name="lifecycle.owner-changes.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(OwnerChanged.record_type(),),
        description="The one accountable owner of a customer changed (a hand-off).",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
    ),
    deadlines_missed=TopicSpec(
        name="lifecycle.deadlines-missed.v1",
        key=RecordKey.CUSTOMER_ID,
        value_types=(HandoffDeadlineMissed.record_type(),),
        description="Actions not acknowledged by their deadline, escalated.",
        producers=(Service.ORCHESTRATOR,),
        consumers=(),
    ),
    dead_letter=TopicSpec(
        name="lifecycle.dead-letter.v1",
        key=RecordKey.ORIGINAL_KEY,
        value_types=(),
        description="Records that could not be decoded or applied, with topic, partition, "
        "offset, error class and message in headers.",
        producers=(Service.ORCHESTRATOR, Service.MARKETING, Service.SALES, Service.SERVICE_DESK),
        consumers=(),
        partitions=1,
        copartitioned=False,
        retention_ms=30 * DAY_MS,
    ),
    subject_keys=TopicSpec(
        name="lifecycle.subject-keys.v1",
        key=RecordKey.SUBJECT_KEY,
        # Key records (lifecycle_schemas.shredding), not contract records; a null value is a
        # tombstone: the key is shredded and every event sealed with it is unreadable.
        value_types=(),
        description="Crypto-shredding (LIFECYCLE_SHREDDING): one AES key per customer subject, "
        "written by the department that seals with it, tombstoned by the orchestrator on "
        "erasure.",
        producers=(Service.MARKETING, Service.SALES, Service.SERVICE_DESK, Service.ORCHESTRATOR),
        consumers=(Service.ORCHESTRATOR, Service.MARKETING, Service.SALES, Service.SERVICE_DESK),
        cleanup_policy=CleanupPolicy.COMPACT,
        retention_ms=None,
        # Like the profile topic: compact promptly so a shredded key leaves the log soon.
        extra_config={**PROMPT_COMPACTION},
    ),
    marketing_contact_decisions=_contact_decisions(Department.MARKETING, Service.MARKETING),
    sales_contact_decisions=_contact_decisions(Department.SALES, Service.SALES),
    service_desk_contact_decisions=_contact_decisions(
        Department.SERVICE_DESK, Service.SERVICE_DESK
    ),
    playbook_versions=TopicSpec(
        name="lifecycle.orchestrator.playbook-versions.v1",
        key=RecordKey.PUBLICATION_ID,
        # Publications (lifecycle_schemas.playbook_versions), not contract records.
        value_types=(),
        description="Internal: every published playbook version (the files as text), read by "
        "every orchestrator worker from the start; a version's number is its offset plus one.",
        # `orchestrator playbook publish` and PATCH /v1/segments run as the orchestrator.
        producers=(Service.ORCHESTRATOR,),
        consumers=(Service.ORCHESTRATOR,),
        # One partition: its order is the order of versions.
        partitions=1,
        copartitioned=False,
        # Every publication has a key of its own, so compaction keeps the whole history.
        cleanup_policy=CleanupPolicy.COMPACT,
        retention_ms=None,
        internal=True,
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

_CONTACT_DECISIONS_BY_DEPARTMENT = {
    Department.MARKETING: TOPICS.marketing_contact_decisions,
    Department.SALES: TOPICS.sales_contact_decisions,
    Department.SERVICE_DESK: TOPICS.service_desk_contact_decisions,
}


def events_topic_for(department: Department) -> TopicSpec:
    """The topic a department publishes its customer events to."""
    return _EVENTS_BY_DEPARTMENT[department]


def actions_topic_for(department: Department) -> TopicSpec:
    """The topic the orchestrator sends a department's actions to."""
    return _ACTIONS_BY_DEPARTMENT[department]


def contact_decisions_topic_for(department: Department) -> TopicSpec:
    """The topic the answers to a department's contact requests are copied to."""
    return _CONTACT_DECISIONS_BY_DEPARTMENT[department]


def _publish_topics() -> dict[str, TopicSpec]:
    by_type: dict[str, TopicSpec] = {}
    for spec in TOPICS.all():
        if spec.internal or spec.reply:
            continue
        for record_type in spec.value_types:
            if record_type in by_type:
                raise RuntimeError(f"{record_type} is carried by two public topics")
            by_type[record_type] = spec
    missing = (
        DEPARTMENT_EVENT_TYPES | ACTION_TYPES | OUTCOME_TYPES | ORCHESTRATOR_OUTPUT_TYPES
    ) - by_type.keys()
    if missing:
        raise RuntimeError(f"record types with no topic: {sorted(missing)}")
    return by_type


_TOPIC_OF_TYPE = _publish_topics()


def topic_for_type(record_type: str) -> TopicSpec:
    """The (public) topic records of this type are published to.

    Raises :class:`~lifecycle_schemas.catalogue.UnknownRecordTypeError` for an unknown type.
    """
    try:
        return _TOPIC_OF_TYPE[record_type]
    except KeyError:
        raise UnknownRecordTypeError(record_type) from None
