"""The orchestrator's own internal topics, and the replication the cluster allows.

The only module (with :mod:`orchestrator.streaming`, which uses faust) that talks to the Kafka
admin API. The internal topics come from the registry (with the prefix) and the replication
factor from the registry's durability policy for the cluster's size.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from lifecycle_schemas.departments import Service
from lifecycle_schemas.topics import TOPICS, replication_for
from orchestrator.kafka_access import refusal, watching_refusals
from service_kit.kafka_security import KafkaSecurity

# The registry's internal topics the orchestrator produces to itself: created here when missing,
# since faust agents consume nothing from a topic that does not exist yet.
INTERNAL_TOPICS = tuple(
    spec for spec in TOPICS.all() if spec.internal and Service.ORCHESTRATOR in spec.producers
)
_TOPIC_ALREADY_EXISTS = 36
# faust's table changelogs (`<app id>-<table>-changelog`), created up front: a fresh worker that
# met them missing in its first metadata crashed with PartitionsMismatch (docs/reliability.md).
TABLE_NAMES = ("identities", "customers")
TABLE_PARTITIONS = 8


class KafkaRefusedError(RuntimeError):
    """The broker refused the credentials or the TLS handshake (no retry helps)."""


async def prepare_cluster(
    bootstrap_servers: str,
    prefix: str,
    replication: int | None = None,
    security: KafkaSecurity | None = None,
) -> int:
    """Create the internal topics if missing; return the replication factor to use."""
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
        topics = [
            NewTopic(
                spec.name_in(prefix),
                spec.partitions,
                factor,
                topic_configs={**spec.topic_config(), **extra},
            )
            for spec in INTERNAL_TOPICS
        ]
        topics += [
            NewTopic(
                f"{prefix}lifecycle-orchestrator-{table}-changelog",
                TABLE_PARTITIONS,
                factor,
                topic_configs={"cleanup.policy": "compact", **extra},
            )
            for table in TABLE_NAMES
        ]
        response = await admin.create_topics(topics)
        for name, code, *_ in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {name}: error code {code}")
        return factor
    finally:
        await admin.close()
