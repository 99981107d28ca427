"""Broker administration with kafka-python: wait for a broker, create the registry's topics."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lifecycle_schemas.topics import TOPICS, TopicSpec, replication_for


class BrokerUnavailableError(RuntimeError):
    """The broker did not answer a metadata request before the deadline."""


@dataclass(frozen=True)
class TopicCreation:
    name: str
    created: bool
    partitions: int
    replication_factor: int


def wait_for_broker(
    bootstrap_servers: str,
    timeout_s: float = 60.0,
    min_brokers: int = 1,
    settle_s: float = 2.0,
) -> int:
    """Block until the cluster answers a metadata request naming at least `min_brokers` brokers;
    return the number of brokers.

    With more than one broker expected, the count must hold for `settle_s`: a freshly started
    broker can be fenced again for a late heartbeat, and a topic created in that gap would get
    a smaller automatic replication factor.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    enough_since: float | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap_servers,
                request_timeout_ms=3000,
                client_id="lifecycle-admin",
            )
            try:
                cluster = admin.describe_cluster()
                brokers = len(cluster.get("brokers", []))
                if brokers < min_brokers:
                    enough_since = None
                else:
                    now = time.monotonic()
                    enough_since = enough_since if enough_since is not None else now
                    if min_brokers == 1 or now - enough_since >= settle_s:
                        return brokers
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as error:
            last_error = error
            enough_since = None
        time.sleep(0.2)
    raise BrokerUnavailableError(
        f"no Kafka broker answered at {bootstrap_servers} within {timeout_s:.0f}s: {last_error!r}"
    )


# The deployment's partition count for every co-partitioned topic (the registry's when unset).
PARTITIONS_VARIABLE = "LIFECYCLE_TOPIC_PARTITIONS"


def partitions_from_environment() -> int | None:
    """``LIFECYCLE_TOPIC_PARTITIONS`` as a count (``None`` when unset or empty)."""
    text = os.environ.get(PARTITIONS_VARIABLE, "").strip()
    if not text:
        return None
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{PARTITIONS_VARIABLE} must be a whole number, not {text!r}") from None
    if count < 1:
        raise ValueError(f"{PARTITIONS_VARIABLE} must be at least 1")
    return count


def create_topics(
    bootstrap_servers: str,
    prefix: str = "",
    topics: Iterable[TopicSpec] | None = None,
    replication_factor: int | None = None,
    partitions: int | None = None,
) -> list[TopicCreation]:
    """Create every registry topic (under a name prefix) that does not exist yet.

    ``partitions``: the count of every co-partitioned topic (``None``: the registry's); the
    orchestrator reads it back from the cluster. Existing topics are left as they are: Kafka
    does not shrink partitions, and a topic's config is an operator's decision once it exists.
    """
    specs = tuple(topics) if topics is not None else TOPICS.all()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="lifecycle-admin")
    try:
        brokers = len(admin.describe_cluster().get("brokers", []))
        auto_replication, durability_config = replication_for(max(brokers, 1))
        replication = replication_factor or auto_replication
        existing = set(admin.list_topics())
        results: list[TopicCreation] = []
        to_create: list[NewTopic] = []
        for spec in specs:
            name = spec.name_in(prefix)
            count = spec.partitions_in(partitions)
            results.append(TopicCreation(name, name not in existing, count, replication))
            if name not in existing:
                to_create.append(
                    NewTopic(
                        name=name,
                        num_partitions=count,
                        replication_factor=replication,
                        topic_configs={**spec.topic_config(), **durability_config},
                    )
                )
        if to_create:
            # Another process may create them between list and create: the outcome is the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(to_create, timeout_ms=30_000, wait_for_metadata=True)
        return results
    finally:
        admin.close()


def describe_topic_configs(
    bootstrap_servers: str, names: Iterable[str], timeout_s: float = 15.0
) -> dict[str, dict[str, str]]:
    """The current topic-level configuration of each named topic.

    A broker that has not yet seen a new topic's metadata answers with no entries, so this asks
    again (until `timeout_s`) until every topic is described.
    """
    wanted = list(names)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="lifecycle-admin")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
            by_type = admin.describe_configs(resources, config_filter="all")
            configs: dict[str, dict[str, str]] = {}
            for by_name in by_type.values():
                for name, entries in by_name.items():
                    if entries:
                        configs[name] = {
                            key: str(_config_value(data)) for key, data in entries.items()
                        }
            if set(configs) >= set(wanted) or time.monotonic() > deadline:
                return configs
            time.sleep(0.2)
    finally:
        admin.close()


def _config_value(data: object) -> object:
    # kafka-python 3 reports each entry as a dict with its value and source.
    if isinstance(data, dict):
        return data.get("value")
    return data


class TopicsMissingError(RuntimeError):
    """Registry topics did not exist before the deadline."""


def wait_for_topics(bootstrap_servers: str, prefix: str = "", timeout_s: float = 300.0) -> int:
    """Block until every registry topic (under `prefix`) exists; return how many there are.

    A worker started before its topics exist consumes nothing from them (faust subscribes to
    what exists), so the orchestrator's pods wait here while Strimzi's topic operator or the
    topics job creates them.
    """
    wanted = {spec.name_in(prefix) for spec in TOPICS.all()}
    deadline = time.monotonic() + timeout_s
    missing = sorted(wanted)
    while True:
        with contextlib.suppress(KafkaError, OSError):
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap_servers,
                request_timeout_ms=5000,
                client_id="lifecycle-admin",
            )
            try:
                missing = sorted(wanted - set(admin.list_topics()))
            finally:
                admin.close()
            if not missing:
                return len(wanted)
        if time.monotonic() > deadline:
            raise TopicsMissingError(
                f"{len(missing)} registry topics missing at {bootstrap_servers} after "
                f"{timeout_s:.0f}s: {', '.join(missing)}"
            )
        time.sleep(1.0)
