"""Real orchestrator workers (subprocesses) against the session's Kafka broker.

Starting a faust worker takes seconds, so one worker serves a whole module; tests keep apart by
using their own customers. Each module gets its own topic namespace (prefix), hence its own
consumer group and changelog topics.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_schemas.codec import KAFKA_HEADERS, decode_record, encode_record, kafka_key
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS, topic_for_type
from lifecycle_testing.kafka import KafkaBroker, KafkaNamespace
from lifecycle_testing.orchestrator_worker import Worker, worker_starter
from lifecycle_testing.playbooks import NOBODY_HELD_OUT, edited_playbook
from orchestrator.core.identity import new_customer_id


@pytest.fixture(scope="module")
def namespace(kafka_broker: KafkaBroker) -> KafkaNamespace:
    token = uuid.uuid4().hex[:10]
    prefix = f"test-{token}."
    create_topics(kafka_broker.bootstrap_servers, prefix=prefix)
    return KafkaNamespace(kafka_broker.bootstrap_servers, prefix, f"test-group-{token}")


@pytest.fixture(scope="module")
def playbook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default playbook, with the hot-lead hand-off deadline cut to seconds."""
    marker = "      - type: sales.assign-owner\n        priority: high\n        deadline: 4h"
    # Everyone treated: these tests follow plays end to end; the control group is tested apart.
    return edited_playbook(
        tmp_path_factory.mktemp("playbook") / "playbook",
        {
            "plays.yaml": (marker, marker.replace("deadline: 4h", "deadline: 3s")),
            "policy.yaml": NOBODY_HELD_OUT,
        },
    )


@pytest.fixture(scope="module")
def make_worker(
    namespace: KafkaNamespace, playbook_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Worker]]:
    with worker_starter(namespace, playbook_dir, tmp_path_factory) as make:
        yield make


def department_event(short: str, customer: dict[str, str], **fields: Any) -> Any:
    """A department event from the contract example of ``short``, about ``customer``, now."""
    document = json.loads(encode_record(EXAMPLES[f"com.customerlifecycle.{short}.v1"]))
    document["data"]["customer"] = customer
    for name, value in fields.items():
        if value is None:
            document["data"].pop(name, None)
        else:
            document["data"][name] = value
    document["id"] = str(uuid.uuid4())
    document["correlationid"] = document["id"]
    document.pop("causationid", None)
    document["time"] = datetime.now(UTC).isoformat()
    first = next(iter(customer))
    document["subject"] = f"{first}:{customer[first]}"
    return decode_record(json.dumps(document).encode(), now=None)


def values(messages: list[Any], customer_id: str | None = None) -> list[dict[str, Any]]:
    """The JSON values of the messages (tombstones left out), optionally for one customer."""
    out = [json.loads(m.value) for m in messages if m.value is not None]
    return [v for v in out if customer_id is None or v.get("subject") == customer_id]


def unique(tag: str) -> dict[str, str]:
    """Identifiers of a fresh customer for one test."""
    token = f"{tag}-{uuid.uuid4().hex[:8]}"
    return {
        "crm": f"crm-{token}",
        "desk": f"zd-{token}",
        "mkt": f"hs-{token}",
        "email": f"{token}@example.com",
    }


class Kafka:
    """Produce department events; read what the orchestrator wrote, with a deadline."""

    def __init__(self, namespace: KafkaNamespace) -> None:
        self.namespace = namespace
        self.producer = KafkaProducer(bootstrap_servers=namespace.bootstrap_servers)

    def publish(self, *records: Any) -> None:
        for record in records:
            topic = topic_for_type(record.type).name_in(self.namespace.prefix)
            self.producer.send(
                topic,
                key=kafka_key(record).encode(),
                value=encode_record(record),
                headers=list(KAFKA_HEADERS),
            ).get(timeout=10)

    def publish_raw(self, topic: str, key: bytes, value: bytes) -> None:
        self.producer.send(self.namespace.prefix + topic, key=key, value=value).get(timeout=10)

    def read(
        self, topics: list[str], accept: Callable[[list[Any]], bool], timeout_s: float = 30.0
    ) -> list[Any]:
        """Every record on ``topics`` (from the start) until ``accept(records)`` holds.

        Partitions are assigned explicitly: a group-less ``subscribe`` assigns them only from a
        metadata answer, and once (under load) such a reader saw nothing for 30 s. A timeout
        says where the reader stood against the log ends.
        """
        consumer = KafkaConsumer(
            bootstrap_servers=self.namespace.bootstrap_servers,
            enable_auto_commit=False,
            consumer_timeout_ms=500,
        )
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        try:
            partitions = [
                TopicPartition(self.namespace.prefix + topic, partition)
                for topic in topics
                for partition in consumer.partitions_for_topic(self.namespace.prefix + topic) or ()
            ]
            assert partitions, f"no partitions found for {topics}"
            consumer.assign(partitions)
            consumer.seek_to_beginning()
            while time.monotonic() < deadline:
                for message in consumer:
                    records.append(message)
                if accept(records):
                    return records
            ends = consumer.end_offsets(partitions)
            behind = {
                f"{tp.topic}[{tp.partition}]": (consumer.position(tp), end)
                for tp, end in ends.items()
                if consumer.position(tp) != end
            }
        finally:
            consumer.close()
        raise AssertionError(
            f"expected records did not arrive within {timeout_s}s; got {len(records)} records; "
            f"partitions not read to their end (position, end): {behind or 'none'}"
        )

    def customer_who_bought(self, tag: str) -> tuple[dict[str, str], str]:
        """A fresh customer (CRM id and e-mail) who won a deal, once onboarding was sent."""
        ids = unique(tag)
        customer_id = new_customer_id(f"crm_account_id:{ids['crm']}")
        customer = {"crm_account_id": ids["crm"], "email": ids["email"]}
        self.publish(department_event("sales.deal.won", customer))
        self.wait_for_onboarding(customer_id)
        return ids, customer_id

    def wait_for_onboarding(self, customer_id: str) -> None:
        """Until the deal-won play's actions for the customer are on the service desk topic."""
        self.read(
            [TOPICS.service_desk_actions.name],
            lambda ms: any(
                v["data"]["play_id"] == "deal-won-onboarding" for v in values(ms, customer_id)
            ),
        )

    def close(self) -> None:
        self.producer.close()

    event = staticmethod(department_event)
    values = staticmethod(values)
    unique = staticmethod(unique)


@pytest.fixture(scope="module")
def kafka_io(namespace: KafkaNamespace) -> Iterator[Kafka]:
    io = Kafka(namespace)
    yield io
    io.close()
