"""Session fixtures shared by every test tier.

The broker fixture starts one real Apache Kafka broker per test session on free ports (or uses
KAFKA_BOOTSTRAP_SERVERS). A test that needs Kafka fails when the broker cannot start; it is
never skipped. Each test gets its own topic namespace and consumer group.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from lifecycle_admin.kafka_admin import create_topics, wait_for_broker
from lifecycle_testing.kafka import BrokerStartError, KafkaBroker, KafkaNamespace, LocalBroker
from lifecycle_testing.postgres import LocalPostgres, started_postgres


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        wait_for_broker(external, 30)
        yield KafkaBroker(external, None)
        return
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"))
    try:
        bootstrap = broker.start()
    except BrokerStartError as error:
        pytest.fail(
            f"the Kafka broker for this test session did not start:\n{error}", pytrace=False
        )
    try:
        yield KafkaBroker(bootstrap, broker.data_dir)
    finally:
        broker.stop()


@pytest.fixture
def kafka(kafka_broker: KafkaBroker) -> KafkaNamespace:
    """A fresh namespace with every registry topic created in it."""
    token = uuid.uuid4().hex[:10]
    prefix = f"test-{token}."
    create_topics(kafka_broker.bootstrap_servers, prefix=prefix)
    return KafkaNamespace(kafka_broker.bootstrap_servers, prefix, f"test-group-{token}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """One real PostgreSQL server per session (started only by tests that ask for it)."""
    with started_postgres() as server:
        yield server


@pytest.fixture
def postgres_inbox(postgres_server: LocalPostgres) -> str:
    """The ``postgresql://`` URL of a fresh, empty database."""
    return postgres_server.database()
