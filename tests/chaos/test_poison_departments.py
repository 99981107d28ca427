"""Poison on every department service's input (its action topic): dead-lettered, inbox goes on."""

from __future__ import annotations

import functools
from collections.abc import Callable

import httpx
import pytest
from chaos.poison import (
    CANARY_EMAIL,
    dead_letters,
    headers_of,
    missing_dead_letters,
    produce_poison,
)

from lifecycle_schemas.catalogue import action_types_for
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import actions_topic_for
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    fresh_action,
    poll_until,
    produce,
)
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_io import Kafka

pytestmark = pytest.mark.kafka


def in_inbox(url: str, headers: dict[str, str]) -> bool:
    """The action is in the department's inbox."""
    return httpx.get(url, headers=headers).status_code == 200


def test_poison_on_every_action_topic_is_dead_lettered_and_the_inbox_goes_on(
    namespace: KafkaNamespace,
    kafka_io: Kafka,
    dev_keys: DevKeys,
    start_service: Callable[..., ServiceProcess],
) -> None:
    departments = [d for d in Department if action_types_for(d)]
    services = {
        d: start_service(d, namespace.bootstrap_servers, namespace.prefix) for d in departments
    }
    for service in services.values():
        service.wait_ready()
    topics = [namespace.topic(actions_topic_for(d)) for d in departments]
    poisons = []
    for department, topic in zip(departments, topics, strict=True):
        poisons += produce_poison(
            namespace.bootstrap_servers, [topic], sorted(action_types_for(department))[0]
        )
    letters = dead_letters(kafka_io, poisons, 60)
    problems = missing_dead_letters(letters, poisons)
    assert not problems, "\n".join(problems)
    for letter in letters:
        assert CANARY_EMAIL not in str(headers_of(letter))
    # A valid action after the poison reaches each inbox.
    for department, service in services.items():
        action = fresh_action(department)
        produce(
            namespace.bootstrap_servers,
            actions_topic_for(department).name_in(namespace.prefix),
            [action],
        )
        url = f"{service.base_url}/v1/actions/{action.id}"
        headers = dev_keys.headers(department)
        poll_until(functools.partial(in_inbox, url, headers), 30)
