"""The orchestrator's own internal topics, and the replication the cluster allows.

The only module (with :mod:`orchestrator.streaming`, which uses faust) that talks to the Kafka
admin API. Internal topics follow the registry's conventions (prefix, 8 partitions, retention)
and are created before the worker starts, because faust agents consume nothing from a topic that
does not exist yet.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from lifecycle_schemas.departments import Service
from lifecycle_schemas.topics import RecordKey, TopicSpec

# Internal topics this service needs besides the registry's events_by_customer (reported to the
# lead for the registry).
IDENTITY_MESSAGES = TopicSpec(
    name="lifecycle.orchestrator.identity-messages.v1",
    key=RecordKey.IDENTIFIER,
    value_types=(),
    description="Internal: identity lookups and claims, keyed by the identifier they concern.",
    producers=(Service.ORCHESTRATOR,),
    consumers=(Service.ORCHESTRATOR,),
    internal=True,
)
CUSTOMER_COMMANDS = TopicSpec(
    name="lifecycle.orchestrator.customer-commands.v1",
    key=RecordKey.CUSTOMER_ID,
    value_types=(),
    description="Internal: merges, absorbs and deadline checks, keyed by customer id.",
    producers=(Service.ORCHESTRATOR,),
    consumers=(Service.ORCHESTRATOR,),
    internal=True,
)
INTERNAL_TOPICS = (IDENTITY_MESSAGES, CUSTOMER_COMMANDS)
MAX_REPLICATION = 3
_TOPIC_ALREADY_EXISTS = 36


def replication_for(broker_count: int) -> tuple[int, dict[str, str]]:
    """Replication factor and extra config for a cluster of ``broker_count`` brokers."""
    factor = max(1, min(MAX_REPLICATION, broker_count))
    extra = {"min.insync.replicas": "2"} if factor >= MAX_REPLICATION else {}
    return factor, extra


async def prepare_cluster(
    bootstrap_servers: str, prefix: str, replication: int | None = None
) -> int:
    """Create the internal topics if missing; return the replication factor to use."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","))
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        factor, extra = replication_for(len(cluster["brokers"]))
        if replication is not None:
            factor, extra = replication, {}
        topics = [
            NewTopic(
                spec.name_in(prefix),
                spec.partitions,
                factor,
                topic_configs={**spec.topic_config(), **extra},
            )
            for spec in INTERNAL_TOPICS
        ]
        response = await admin.create_topics(topics)
        for name, code, *_ in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {name}: error code {code}")
        return factor
    finally:
        await admin.close()
