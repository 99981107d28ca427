"""Talking to orchestrator workers through Kafka in tests: department events about a customer,
and a reader of what the workers wrote (integration and chaos suites)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from lifecycle_schemas.codec import KAFKA_HEADERS, encode_record, kafka_key
from lifecycle_schemas.topics import TOPICS, topic_for_type
from lifecycle_testing.core_events import build_event
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.waiting import eventually
from orchestrator.core.identity import new_customer_id


def department_event(short: str, customer: dict[str, str], **fields: Any) -> Any:
    """A department event from the contract example of ``short``, about ``customer``, now."""
    return build_event(short, customer, id=str(uuid.uuid4()), at=datetime.now(UTC), **fields)


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
        try:
            partitions = [
                TopicPartition(self.namespace.prefix + topic, partition)
                for topic in topics
                for partition in consumer.partitions_for_topic(self.namespace.prefix + topic) or ()
            ]
            assert partitions, f"no partitions found for {topics}"
            consumer.assign(partitions)
            consumer.seek_to_beginning()

            def poll() -> list[Any]:
                records.extend(consumer)  # until nothing came for consumer_timeout_ms
                return records

            def where_the_reader_stood(got: list[Any]) -> str:
                ends = consumer.end_offsets(partitions)
                behind = {
                    f"{tp.topic}[{tp.partition}]": (consumer.position(tp), end)
                    for tp, end in ends.items()
                    if consumer.position(tp) != end
                }
                return (
                    f"{len(got)} records; partitions not read to their end (position, end): "
                    f"{behind or 'none'}"
                )

            return eventually(
                poll,
                accept,
                timeout_s=timeout_s,
                interval_s=0,  # the consumer's iteration waits by itself
                what=f"the expected records on {', '.join(topics)}",
                describe=where_the_reader_stood,
            )
        finally:
            consumer.close()

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
