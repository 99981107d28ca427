"""Given a cluster's size, the registry's durability policy picks replication and in-sync rules."""

from __future__ import annotations

import pytest

from lifecycle_schemas.departments import Service
from lifecycle_schemas.topics import TOPICS, replication_for

DURABLE = {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}


@pytest.mark.parametrize(
    ("brokers", "factor", "extra"),
    [(1, 1, {}), (2, 2, {}), (3, 3, DURABLE), (5, 3, DURABLE)],
)
def test_replication_follows_the_cluster(brokers: int, factor: int, extra: dict[str, str]) -> None:
    assert replication_for(brokers) == (factor, extra)


def test_the_orchestrators_internal_topics_are_in_the_registry() -> None:
    internal = {spec.name for spec in TOPICS.all() if spec.internal}
    assert internal == {
        "lifecycle.orchestrator.events-by-customer.v1",
        "lifecycle.orchestrator.identity-messages.v1",
        "lifecycle.orchestrator.customer-commands.v1",
        "lifecycle.orchestrator.playbook-versions.v1",
    }
    for spec in TOPICS.all():
        if spec.internal:
            assert spec.producers == (Service.ORCHESTRATOR,)
            assert spec.consumers == (Service.ORCHESTRATOR,)
