"""Session fixtures shared by every test tier.

The broker fixture starts one real Apache Kafka broker per test session on free ports (or uses
KAFKA_BOOTSTRAP_SERVERS). A test that needs Kafka fails when the broker cannot start; it is
never skipped. Each test gets its own topic namespace and consumer group.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from lifecycle_admin.kafka_admin import create_topics, wait_for_broker
from lifecycle_testing.kafka import KafkaBroker, KafkaNamespace
from lifecycle_testing.paths import KAFKA_SCRIPT


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        wait_for_broker(external, 30)
        yield KafkaBroker(external, None)
        return
    data_dir = tmp_path_factory.mktemp("kafka")
    started = subprocess.run(
        [str(KAFKA_SCRIPT), "start", "--free-ports", "--dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        pytest.fail(
            "the Kafka broker for this test session did not start:\n" + started.stderr,
            pytrace=False,
        )
    bootstrap = started.stdout.strip().splitlines()[-1]
    try:
        yield KafkaBroker(bootstrap, data_dir)
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "stop", "--dir", str(data_dir)], check=False)


@pytest.fixture
def kafka(kafka_broker: KafkaBroker) -> KafkaNamespace:
    """A fresh namespace with every registry topic created in it."""
    token = uuid.uuid4().hex[:10]
    prefix = f"test-{token}."
    create_topics(kafka_broker.bootstrap_servers, prefix=prefix)
    return KafkaNamespace(kafka_broker.bootstrap_servers, prefix, f"test-group-{token}")
