"""Broker administration with kafka-python: wait for a broker, create the registry's topics
and the services' ACLs. Every function takes the cluster's security settings (None: PLAINTEXT).
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
)
from kafka.admin import ResourceType as KafkaResourceType
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lifecycle_schemas.access import KafkaAcl, PatternType, ResourceType, kafka_acls
from lifecycle_schemas.topics import TOPICS, TopicSpec, replication_for
from service_kit.kafka_security import KafkaSecurity


class BrokerUnavailableError(RuntimeError):
    """The broker did not answer a metadata request before the deadline."""


class BrokerRefusedError(BrokerUnavailableError):
    """The broker answered but refused the credentials or the TLS handshake: no retry helps."""


# kafka-python's errors for refused credentials (their names, stable across its versions).
_REFUSALS = frozenset({"SaslAuthenticationFailedError", "AuthenticationFailedError"})


class _ConnectionFailures(logging.Handler):
    """Collects the exceptions kafka-python logs when a connection fails: it retries a refused
    login until its bootstrap times out, and only its log says why."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.extend(a for a in record.args or () if isinstance(a, BaseException))


@contextlib.contextmanager
def _watching_connections() -> Iterator[_ConnectionFailures]:
    failures = _ConnectionFailures()
    watched = logging.getLogger("kafka")
    watched.addHandler(failures)
    try:
        yield failures
    finally:
        watched.removeHandler(failures)


def _admin(bootstrap_servers: str, security: KafkaSecurity | None, **options: Any) -> Any:
    config = security.python_client_config() if security is not None else {}
    return KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="lifecycle-admin", **config, **options
    )


def refusal(error: BaseException) -> str | None:
    """Why the broker refused us (credentials or certificate), or None for other errors."""
    seen: BaseException | None = error
    while seen is not None:
        if type(seen).__name__ in _REFUSALS:
            return f"authentication failed: {seen}"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"the broker's certificate is not trusted: {seen.verify_message}"
        seen = seen.__cause__ or seen.__context__
    return None


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
    security: KafkaSecurity | None = None,
) -> int:
    """Block until the cluster answers a metadata request naming at least `min_brokers` brokers;
    return the number of brokers.

    With more than one broker expected, the count must hold for `settle_s`: a freshly started
    broker can be fenced again for a late heartbeat, and a topic created in that gap would get
    a smaller automatic replication factor. Refused credentials or an untrusted certificate
    raise :class:`BrokerRefusedError` at once.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    enough_since: float | None = None
    # Watched across attempts: a slow handshake may report the refusal after an attempt ended.
    with _watching_connections() as failures:
        while time.monotonic() < deadline:
            try:
                admin = _admin(
                    bootstrap_servers,
                    security,
                    request_timeout_ms=3000,
                    bootstrap_timeout_ms=5000,
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
                for cause in failures.errors:
                    refused = refusal(cause)
                    if refused is not None:
                        raise BrokerRefusedError(f"{bootstrap_servers}: {refused}") from None
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
    security: KafkaSecurity | None = None,
) -> list[TopicCreation]:
    """Create every registry topic (under a name prefix) that does not exist yet.

    ``partitions``: the count of every co-partitioned topic (``None``: the registry's); the
    orchestrator reads it back from the cluster. Existing topics are left as they are: Kafka
    does not shrink partitions, and a topic's config is an operator's decision once it exists.
    """
    specs = tuple(topics) if topics is not None else TOPICS.all()
    admin = _admin(bootstrap_servers, security)
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
    bootstrap_servers: str,
    names: Iterable[str],
    timeout_s: float = 15.0,
    security: KafkaSecurity | None = None,
) -> dict[str, dict[str, str]]:
    """The current topic-level configuration of each named topic.

    A broker that has not yet seen a new topic's metadata answers with no entries, so this asks
    again (until `timeout_s`) until every topic is described.
    """
    wanted = list(names)
    admin = _admin(bootstrap_servers, security)
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


_RESOURCE_TYPES = {
    ResourceType.TOPIC: KafkaResourceType.TOPIC,
    ResourceType.GROUP: KafkaResourceType.GROUP,
    ResourceType.CLUSTER: KafkaResourceType.CLUSTER,
}
_PATTERNS = {
    PatternType.LITERAL: ACLResourcePatternType.LITERAL,
    PatternType.PREFIX: ACLResourcePatternType.PREFIXED,
}


def _kafka_acls(rule: KafkaAcl) -> list[ACL]:
    resource = ResourcePattern(
        _RESOURCE_TYPES[rule.resource_type], rule.name, _PATTERNS[rule.pattern]
    )
    return [
        ACL(
            principal=f"User:{rule.principal}",
            host="*",
            operation=ACLOperation[operation.name],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=resource,
        )
        for operation in rule.operations
    ]


def _key(acl: ACL) -> tuple[str, str, int, int]:
    pattern = acl.resource_pattern
    return (acl.principal, pattern.resource_name, int(acl.operation), int(pattern.pattern_type))


def create_acls(
    bootstrap_servers: str,
    prefix: str = "",
    security: KafkaSecurity | None = None,
    timeout_s: float = 30.0,
) -> list[KafkaAcl]:
    """Grant every service's ACLs (:func:`lifecycle_schemas.access.kafka_acls`) and return
    once the broker answering lists them all (the authorizer applies them asynchronously);
    creating an ACL that exists is a no-op. Needs a principal allowed to alter the ACLs."""
    rules = kafka_acls(prefix)
    admin = _admin(bootstrap_servers, security)
    try:
        acls = [acl for rule in rules for acl in _kafka_acls(rule)]
        result = admin.create_acls(acls)
        if result["failed"]:
            acl, error = result["failed"][0]
            raise KafkaError(f"could not create {acl}: {error}")
        every = ACLFilter(
            principal=None,
            host=None,
            operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(
                KafkaResourceType.ANY, None, ACLResourcePatternType.ANY
            ),
        )
        wanted = {_key(acl) for acl in acls}
        deadline = time.monotonic() + timeout_s
        while not wanted <= {_key(acl) for acl in admin.describe_acls(every)[0]}:
            if time.monotonic() > deadline:
                raise KafkaError(f"the ACLs were not in force within {timeout_s:.0f} s")
            time.sleep(0.1)
        return rules
    finally:
        admin.close()


class TopicsMissingError(RuntimeError):
    """Registry topics did not exist before the deadline."""


def wait_for_topics(
    bootstrap_servers: str,
    prefix: str = "",
    timeout_s: float = 300.0,
    security: KafkaSecurity | None = None,
) -> int:
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
            admin = _admin(bootstrap_servers, security, request_timeout_ms=5000)
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
