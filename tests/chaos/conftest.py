"""Fixtures of the chaos suite: a topic namespace per module, orchestrator workers, Kafka I/O.

Workers are the shared ``lifecycle_testing.orchestrator_worker`` processes and the Kafka helper
is the orchestrator integration suite's; this folder adds the faults and the oracles.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_testing.department_services import dev_keys, start_service
from lifecycle_testing.kafka import KafkaBroker, KafkaNamespace, LocalBroker, started_broker
from lifecycle_testing.orchestrator_io import Kafka
from lifecycle_testing.orchestrator_worker import Worker, worker_starter
from lifecycle_testing.playbooks import edited_playbook


@pytest.fixture(scope="module")
def namespace(kafka_broker: KafkaBroker) -> KafkaNamespace:
    """Every registry topic under a prefix of this module's own (its own consumer group too).

    The worker's table changelogs are made by the worker itself before it joins the group
    (``orchestrator.kafka_setup.prepare_cluster``).
    """
    token = uuid.uuid4().hex[:10]
    prefix = f"chaos-{token}."
    create_topics(kafka_broker.bootstrap_servers, prefix=prefix)
    return KafkaNamespace(kafka_broker.bootstrap_servers, prefix, f"chaos-group-{token}")


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker of this module's own, for tests that stop it (the session's broker stays up)."""
    with started_broker(tmp_path_factory.mktemp("own-kafka")) as broker:
        yield broker


@pytest.fixture(scope="module")
def own_namespace(own_broker: LocalBroker) -> KafkaNamespace:
    """Every registry topic on this module's own broker, under a prefix."""
    token = uuid.uuid4().hex[:10]
    create_topics(own_broker.bootstrap_servers, prefix=f"own-{token}.")
    return KafkaNamespace(own_broker.bootstrap_servers, f"own-{token}.", f"own-group-{token}")


@pytest.fixture(scope="module")
def playbook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the default playbook: workers and the oracle read the very same files."""
    return edited_playbook(tmp_path_factory.mktemp("playbook") / "playbook")


@pytest.fixture(scope="module")
def make_worker(
    namespace: KafkaNamespace, playbook_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Worker]]:
    """Start orchestrator workers (default playbook); every one is stopped at module end."""
    with worker_starter(namespace, playbook_dir, tmp_path_factory) as make:
        yield make


@pytest.fixture(scope="module")
def kafka_io(namespace: KafkaNamespace) -> Iterator[Kafka]:
    """Produce department events and read the orchestrator's outputs in this namespace."""
    io = Kafka(namespace)
    yield io
    io.close()


__all__ = ["dev_keys", "start_service"]
