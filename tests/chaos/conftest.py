"""Fixtures of the chaos suite: a topic namespace per module, orchestrator workers, Kafka I/O.

The worker and Kafka helpers are the orchestrator integration suite's (one implementation of
"run a worker as a real process"); this folder adds the faults and the oracles.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from integration.departments.service_helpers import dev_keys, start_service
from integration.orchestrator.conftest import PLAYBOOK, Kafka, Worker
from kafka.admin import KafkaAdminClient, NewTopic

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_testing.kafka import KafkaBroker, KafkaNamespace


@pytest.fixture(scope="module")
def namespace(kafka_broker: KafkaBroker) -> KafkaNamespace:
    """Every registry topic under a prefix of this module's own (its own consumer group too)."""
    token = uuid.uuid4().hex[:10]
    prefix = f"chaos-{token}."
    create_topics(kafka_broker.bootstrap_servers, prefix=prefix)
    create_table_changelogs(kafka_broker.bootstrap_servers, prefix)
    return KafkaNamespace(kafka_broker.bootstrap_servers, prefix, f"chaos-group-{token}")


def create_table_changelogs(bootstrap: str, prefix: str) -> None:
    """The worker's table changelogs, made before its first start.

    Known race (docs/reliability.md): a fresh worker sometimes saw its changelog missing from
    the metadata at assignment, and its customer agent crashed with ``PartitionsMismatch``. The
    fix belongs in ``orchestrator.kafka_setup.prepare_cluster``; until then the suite makes them.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(
                    f"{prefix}lifecycle-orchestrator-{table}-changelog",
                    num_partitions=8,
                    replication_factor=1,
                    topic_configs={"cleanup.policy": "compact"},
                )
                for table in ("customers", "identities")
            ]
        )
    finally:
        admin.close()


@pytest.fixture(scope="module")
def playbook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the default playbook: workers and the oracle read the very same files."""
    target = tmp_path_factory.mktemp("playbook") / "playbook"
    shutil.copytree(PLAYBOOK, target)
    return target


@pytest.fixture(scope="module")
def make_worker(
    namespace: KafkaNamespace, playbook_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Worker]]:
    """Start orchestrator workers (default playbook); every one is stopped at module end."""
    started: list[Worker] = []

    def make(data_dir: Path | None = None) -> Worker:
        base = tmp_path_factory.mktemp("worker")
        worker = Worker(namespace, data_dir or base / "data", base / "worker.log", playbook_dir)
        started.append(worker)
        return worker.start()

    yield make
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def kafka_io(namespace: KafkaNamespace) -> Iterator[Kafka]:
    """Produce department events and read the orchestrator's outputs in this namespace."""
    io = Kafka(namespace)
    yield io
    io.close()


__all__ = ["dev_keys", "start_service"]
