"""Wiring: the faust app, its topics and tables, and the agents and timers that use them.

Nothing here handles a record; each job lives in a module of its own (identity agent, customer
agent, sending, upkeep, observing) and is handed the tables and the sender it needs.
"""

from __future__ import annotations

from typing import Any, cast

import faust

from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import TOPICS, events_topic_for
from orchestrator.core.effects import OrchestratorTopics
from orchestrator.core.playbook import Playbook
from orchestrator.kafka_access import faust_broker_credentials
from orchestrator.kafka_setup import ClusterLayout
from orchestrator.live_playbook import LivePlaybook
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.observed import WorkerView
from orchestrator.playbook_topic import VersionReader
from orchestrator.settings import OrchestratorSettings
from orchestrator.shredding import shredder_for
from orchestrator.streaming.customer_agent import CustomerAgent
from orchestrator.streaming.identity_agent import IdentityAgent
from orchestrator.streaming.observing import Observation
from orchestrator.streaming.reads import TableReads
from orchestrator.streaming.routing import LocalPartitions
from orchestrator.streaming.sending import Sender
from orchestrator.streaming.upkeep import SegmentSpend, Upkeep, keep_running

# How long the group waits for a silent worker (heartbeats every 3 s) before moving its partitions.
CRASHED_WORKER_SESSION_TIMEOUT_S = 10.0
PRODUCER_LINGER_S = 0.005
PRODUCER_MAX_BATCH_BYTES = 512 * 1024
GAUGES_INTERVAL_S = 5.0
# Per table partition (one RocksDB instance each). faust's defaults (3 x 64 MiB memtables and a
# 2 GiB block cache, each per instance) let a worker's memory grow for as long as it runs (the
# soak in docs/reliability.md); these bound it to about 10 MiB per instance. The block cache is
# small: a worker's hot customers sit in the memtables, while faust's per-block bloom filters,
# read for every new key, filled an 8 MiB cache per instance (about 1 KB per customer of a
# 100,000-customer worker, docs/benchmarks.md); misses read the OS page cache.
ROCKSDB_OPTIONS: dict[str, Any] = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 1024 * 1024,
    "block_cache_compressed_size": 1024 * 1024,
}
# Keys and values as bytes: faust uses its raw serializer, so a table key's bytes equal the
# source topic's key bytes, and key_store() finds the owning worker.
RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}
_TABLE: dict[str, Any] = {"key_type": bytes, "value_type": bytes}


def broker_urls(bootstrap_servers: str) -> list[str]:
    """``"a:9092,b:9092"`` as faust broker URLs."""
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")]


def broker_settings(settings: OrchestratorSettings) -> dict[str, Any]:
    """The faust app's Kafka client settings (brokers, producer, consumer group): the one place
    they are built, so connection settings (security) are added here for every client."""
    return {
        "broker": broker_urls(settings.kafka_bootstrap_servers),
        # TLS and SASL from KAFKA_SECURITY_* (None: PLAINTEXT), as every other client.
        "broker_credentials": faust_broker_credentials(settings.kafka_security),
        "producer_acks": -1,
        # Outputs are queued, not awaited per event: a few ms of linger lets aiokafka send
        # them in fewer, larger requests (socket writes were 15 % of a profile without it).
        "producer_linger": PRODUCER_LINGER_S,
        # faust's 16 KiB default holds one or two customer states: every batch was full at
        # once and went out in its own request (socket writes were 15 % of a profile).
        "producer_max_batch_size": PRODUCER_MAX_BATCH_BYTES,
        # A SIGKILLed worker's partitions stay with it until its session expires: faust's
        # 60 s default kept a restarted worker unready for a minute (tests/chaos).
        "broker_session_timeout": CRASHED_WORKER_SESSION_TIMEOUT_S,
        "consumer_auto_offset_reset": "earliest",
    }


def faust_app(settings: OrchestratorSettings, cluster: ClusterLayout) -> faust.App:
    """The worker's faust app: RocksDB tables, at-least-once, no web server of its own."""
    data_dir = settings.data_dir.resolve() / settings.app_id
    data_dir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.app_id,
        **broker_settings(settings),
        store="rocksdb://",
        datadir=str(data_dir),
        topic_replication_factor=cluster.replication_factor,
        topic_partitions=cluster.partitions,
        processing_guarantee="at_least_once",
        web_enabled=False,
        canonical_url=settings.canonical_url,
        autodiscover=False,
        # On a rebalance, wait for the event an agent is working on before partitions move:
        # without it, an event straddling the rebalance raced the table's recovery.
        stream_wait_empty=True,
        table_standby_replicas=0,
    )


class Topology:
    """The faust app with its topics, tables, agents and timers."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        playbook: Playbook,
        metrics: OrchestratorMetrics,
        cluster: ClusterLayout,
        live: LivePlaybook | None = None,
    ) -> None:
        self.settings = settings
        self.playbook = playbook
        # The versions read from the playbook topic (none: the files' playbook stays).
        self.live = live if live is not None else LivePlaybook(playbook)
        self.metrics = metrics
        self.cluster = cluster
        self.view = WorkerView()
        self.app = app = faust_app(settings, cluster)
        prefix = settings.lifecycle_topic_prefix
        self.topics = topics = OrchestratorTopics.in_namespace(prefix)
        department_topic = app.topic(
            *[events_topic_for(d).name_in(prefix) for d in Department], **RAW
        )
        identity_topic = app.topic(topics.identity, **RAW)
        customer_topic = app.topic(*topics.customer_topics, **RAW)
        # The topics the agents consume (and commit): what consumer lag is reported for.
        input_topics = frozenset(
            [*department_topic.topics, *identity_topic.topics, *customer_topic.topics]
        )
        self.identities = app.Table(
            "identities", partitions=cluster.partitions, options=ROCKSDB_OPTIONS, **_TABLE
        )
        self.customers = app.Table(
            "customers", partitions=cluster.partitions, options=ROCKSDB_OPTIONS, **_TABLE
        )
        self.reads = TableReads(app, self.identities, self.customers, settings.canonical_url)
        self.sender = Sender(app, metrics, TOPICS.dead_letter.name_in(prefix))
        # Crypto-shredding (LIFECYCLE_SHREDDING); a no-op shredder when off.
        shredder = shredder_for(settings, metrics, app)
        self.spend = SegmentSpend()
        self.observation = Observation(metrics, self.view, playbook)
        self.identity_agent = IdentityAgent(
            self.identities,
            self.sender,
            shredder,
            topics,
            partitions=LocalPartitions(app, topics.identity, cluster.partitions),
        )
        self.customer_agent = CustomerAgent(
            self.customers,
            self.sender,
            shredder,
            topics,
            playbook,
            self.spend,
            self.observation,
            self.committed_offsets,
            kept_values=settings.kept_values,
        )
        self.upkeep = Upkeep(
            self.customers.items,
            self.sender,
            topics.commands,
            playbook,
            metrics,
            self.view,
            self.spend,
            lambda: app.consumer,
            input_topics,
        )
        app.agent(department_topic, name="resolve-department-events")(
            self.identity_agent.resolve_department_events
        )
        app.agent(identity_topic, name="settle-identity-messages")(
            self.identity_agent.settle_identity_messages
        )
        app.agent(customer_topic, name="apply-customer-messages")(
            self.customer_agent.apply_customer_messages
        )
        app.timer(settings.deadline_check_interval_s)(keep_running(self.upkeep.check_deadlines))
        app.on_rebalance_complete.connect(cast(Any, self.upkeep.on_rebalanced))
        app.timer(GAUGES_INTERVAL_S)(keep_running(self.upkeep.refresh_gauges))
        metrics.playbook_version.set(playbook.version.number)
        if live is not None:
            self.live.on_switch = self.switch_playbook
            reader = VersionReader(
                settings.kafka_bootstrap_servers, prefix, settings.kafka_security
            )

            async def follow_playbook_versions() -> None:
                await reader.follow(self.live.receive)

            async def stop_reading(sender: Any, *args: Any, **kwargs: Any) -> None:
                await reader.stop()

            app.task(follow_playbook_versions)
            app.on_before_shutdown.connect(cast(Any, stop_reading))

    def switch_playbook(self, playbook: Playbook) -> None:
        """Decide under ``playbook`` from the next record on (``orchestrator.live_playbook``
        says when that is): every part that decides, counts or reports reads it."""
        self.playbook = playbook
        self.customer_agent.playbook = playbook
        self.upkeep.playbook = playbook
        self.observation.playbook = playbook
        self.metrics.playbook_version.set(playbook.version.number)

    @property
    def segment_spend(self) -> dict[str, int]:
        """Each segment's budget spent by this worker's customers (for the budget gauges)."""
        return self.spend.totals

    def committed_offsets(self) -> Any:
        """The source offsets faust committed (after flushing the producer), by partition."""
        return getattr(self.app.consumer, "_committed_offset", {})
