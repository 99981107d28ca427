"""Real orchestrator workers (subprocesses) against the session's Kafka broker.

Starting a faust worker takes seconds, so one worker serves a whole module; tests keep apart by
using their own customers. Each module gets its own topic namespace (prefix), hence its own
consumer group and changelog topics.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_testing.department_services import dev_keys, start_service
from lifecycle_testing.kafka import KafkaBroker, KafkaNamespace
from lifecycle_testing.orchestrator_io import Kafka
from lifecycle_testing.orchestrator_worker import Worker, worker_starter
from lifecycle_testing.playbooks import fast_handoff_playbook_dir


@pytest.fixture(scope="module")
def namespace(kafka_broker: KafkaBroker) -> KafkaNamespace:
    token = uuid.uuid4().hex[:10]
    prefix = f"test-{token}."
    create_topics(kafka_broker.bootstrap_servers, prefix=prefix)
    return KafkaNamespace(kafka_broker.bootstrap_servers, prefix, f"test-group-{token}")


__all__ = ["dev_keys", "start_service"]

# The default playbook with the hot-lead hand-off deadline cut to seconds, everyone treated.
playbook_dir = fast_handoff_playbook_dir


@pytest.fixture(scope="module")
def make_worker(
    namespace: KafkaNamespace, playbook_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Worker]]:
    with worker_starter(namespace, playbook_dir, tmp_path_factory) as make:
        yield make


@pytest.fixture(scope="module")
def kafka_io(namespace: KafkaNamespace) -> Iterator[Kafka]:
    io = Kafka(namespace)
    yield io
    io.close()
