"""The orchestrator's own internal topics, and the partitions and replication the cluster has.

The only module (with :mod:`orchestrator.streaming`, which uses faust) that talks to the Kafka
admin API. The partition count is read from the cluster: the topics the worker consumes must
all have one count (they are co-partitioned), and the tables' changelogs and the internal topics
get that count too. It is chosen once per deployment (``lifecycle-admin create-topics
--partitions N``); no other constant holds it. The replication factor comes from the registry's
durability policy for the cluster's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from lifecycle_schemas.departments import Department, Service
from lifecycle_schemas.topics import TOPICS, TopicSpec, events_topic_for, replication_for
from orchestrator.kafka_access import refusal, watching_refusals
from service_kit.kafka_security import KafkaSecurity

# The registry's internal topics the orchestrator produces to itself: created here when missing,
# since faust agents consume nothing from a topic that does not exist yet.
INTERNAL_TOPICS = tuple(
    spec for spec in TOPICS.all() if spec.internal and Service.ORCHESTRATOR in spec.producers
)
# What the agents consume: co-partitioned with each other and with the tables.
INPUT_TOPICS: tuple[TopicSpec, ...] = (
    *(events_topic_for(department) for department in Department),
    TOPICS.identity_messages,
    TOPICS.events_by_customer,
    TOPICS.customer_commands,
    TOPICS.action_outcomes,
)
_TOPIC_ALREADY_EXISTS = 36
# faust's table changelogs (`<app id>-<table>-changelog`), created up front: a fresh worker that
# met them missing in its first metadata crashed with PartitionsMismatch (docs/reliability.md).
TABLE_NAMES = ("identities", "customers")


class PartitionsMismatchError(RuntimeError):
    """Topics the worker reads together have different partition counts."""


@dataclass(frozen=True)
class ClusterLayout:
    """What the worker's topics and tables are sized by."""

    partitions: int
    replication_factor: int


def changelog_name(prefix: str, table: str) -> str:
    """The changelog topic faust names for one of the worker's tables."""
    return f"{prefix}lifecycle-orchestrator-{table}-changelog"


def partition_count(counts: dict[str, int], default: int) -> int:
    """The one partition count of the existing input topics (``default`` when none exists)."""
    distinct = sorted(set(counts.values()))
    if len(distinct) > 1:
        listed = ", ".join(f"{name}={count}" for name, count in sorted(counts.items()))
        raise PartitionsMismatchError(
            f"the orchestrator's input topics must have one partition count: {listed}"
        )
    return distinct[0] if distinct else default


class KafkaRefusedError(RuntimeError):
    """The broker refused the credentials or the TLS handshake (no retry helps)."""


async def prepare_cluster(
    bootstrap_servers: str,
    prefix: str,
    replication: int | None = None,
    security: KafkaSecurity | None = None,
) -> ClusterLayout:
    """Read the partition count, create the internal topics and changelogs if missing."""
    config = security.python_client_config() if security is not None else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), **config)
    with watching_refusals() as failures:
        try:
            await admin.start()
        except KafkaConnectionError:
            refused = refusal(failures.errors)
            if refused is not None:
                raise KafkaRefusedError(refused) from None
            raise
    try:
        cluster = await admin.describe_cluster()
        factor, extra = replication_for(len(cluster["brokers"]))
        if replication is not None:
            factor, extra = replication, {}
        existing = await _partitions_of_existing(admin)
        inputs = {spec.name_in(prefix) for spec in INPUT_TOPICS}
        partitions = partition_count(
            {name: count for name, count in existing.items() if name in inputs},
            TOPICS.events_by_customer.partitions,
        )
        changelogs = {changelog_name(prefix, table) for table in TABLE_NAMES}
        mismatched = {
            name: existing[name]
            for name in changelogs
            if name in existing and existing[name] != partitions
        }
        if mismatched:
            listed = ", ".join(f"{name}={count}" for name, count in sorted(mismatched.items()))
            raise PartitionsMismatchError(
                f"the tables' changelogs must have the input topics' {partitions} partitions: "
                f"{listed}"
            )
        topics = [
            NewTopic(
                spec.name_in(prefix),
                spec.partitions_in(partitions),
                factor,
                topic_configs={**spec.topic_config(), **extra},
            )
            for spec in INTERNAL_TOPICS
            if spec.name_in(prefix) not in existing
        ]
        topics += [
            NewTopic(name, partitions, factor, topic_configs={"cleanup.policy": "compact", **extra})
            for name in sorted(changelogs - set(existing))
        ]
        if topics:
            response = await admin.create_topics(topics)
            for name, code, *_ in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise RuntimeError(f"could not create topic {name}: error code {code}")
        return ClusterLayout(partitions=partitions, replication_factor=factor)
    finally:
        await admin.close()


async def _partitions_of_existing(admin: AIOKafkaAdminClient) -> dict[str, int]:
    """Every topic of the cluster with its partition count (listed first: a metadata request
    naming a missing topic may create it where the broker auto-creates topics)."""
    names = await admin.list_topics()
    if not names:
        return {}
    described = await admin.describe_topics(names)
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in described
        if topic.get("error_code", 0) == 0
    }
