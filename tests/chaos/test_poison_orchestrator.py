"""Poison on every orchestrator input topic: dead-lettered faithfully, the stream goes on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chaos.poison import (
    CANARY_EMAIL,
    CANARY_NAME,
    dead_letters,
    group_lag,
    headers_of,
    missing_dead_letters,
    produce_lookup_poison,
    produce_poison,
)

from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import TOPICS, events_topic_for
from lifecycle_testing.department_services import poll_until
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_io import Kafka
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.processes import poll_json
from orchestrator.core.identity import new_customer_id

pytestmark = pytest.mark.kafka


def test_poison_on_every_input_topic_is_dead_lettered_and_the_stream_goes_on(
    make_worker: Callable[..., Worker], kafka_io: Kafka, namespace: KafkaNamespace
) -> None:
    worker = make_worker()
    inputs = [namespace.topic(events_topic_for(d)) for d in Department] + [
        namespace.topic(spec)
        for spec in (
            TOPICS.events_by_customer,
            TOPICS.customer_commands,
            TOPICS.action_outcomes,
            TOPICS.identity_messages,
        )
    ]
    deal_won = "com.customerlifecycle.sales.deal.won.v1"
    poisons = produce_poison(namespace.bootstrap_servers, inputs, deal_won)
    poisons += produce_lookup_poison(
        namespace.bootstrap_servers, namespace.topic(TOPICS.identity_messages), deal_won
    )
    # A good event after the poison is still applied.
    ids = kafka_io.unique("after-poison")
    customer_id = new_customer_id(f"crm_account_id:{ids['crm']}")
    kafka_io.publish(kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"]}))
    poll_json(
        f"{worker.url}/v1/customers/{customer_id}",
        lambda body: body.get("purchases") == 1,
        60,
        headers=TEST_KEYS.headers(),
    )
    letters = dead_letters(kafka_io, poisons, 60)
    problems = missing_dead_letters(letters, poisons)
    assert not problems, "\n".join(problems)
    for letter in letters:
        text = str(headers_of(letter))
        assert CANARY_EMAIL not in text, text
        assert CANARY_NAME not in text, text
    # Lag back to zero: the group committed past every poison record.
    group = f"{namespace.prefix}lifecycle-orchestrator"
    poll_until(lambda: group_lag(namespace.bootstrap_servers, group, inputs) == 0, 30, 0.5)
    assert worker.process is not None
    assert worker.process.poll() is None, "the worker died on poison"
