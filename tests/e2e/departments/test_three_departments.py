"""The three department services side by side on one broker, through HTTP only.

Each department's system talks to its own service with its own key; actions reach only the
department they are addressed to; outcomes from all three land on the one outcomes topic.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lifecycle_schemas.catalogue import event_types_for
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS, actions_topic_for, events_topic_for
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    fresh_action,
    poll_until,
    produce,
    read_topic,
)
from lifecycle_testing.kafka import KafkaNamespace

pytestmark = pytest.mark.kafka


def last_event_of(department: Department) -> list[dict[str, Any]]:
    new_id = str(uuid.uuid4())
    example = EXAMPLES[sorted(event_types_for(department))[-1]]
    record = example.model_copy(update={"id": new_id, "correlationid": new_id})
    return [json.loads(encode_record(record))]


def test_each_department_publishes_its_events_and_gets_only_its_actions(
    kafka: KafkaNamespace, dev_keys: DevKeys, start_service: Callable[..., ServiceProcess]
) -> None:
    services = {d: start_service(d, kafka.bootstrap_servers, kafka.prefix) for d in Department}
    actions = {d: fresh_action(d) for d in Department}
    for department, service in services.items():
        service.wait_ready()
        produce(
            kafka.bootstrap_servers,
            kafka.topic(actions_topic_for(department)),
            [actions[department]],
        )

    for department, service in services.items():
        headers = dev_keys.headers(department)
        sent = last_event_of(department)
        answer = httpx.post(f"{service.base_url}/v1/events", json=sent, headers=headers, timeout=20)
        assert answer.status_code == 202, answer.text
        records = read_topic(
            kafka.bootstrap_servers, kafka.topic(events_topic_for(department)), lambda rs: bool(rs)
        )
        assert [r.value["id"] for r in records] == [sent[0]["id"]]

        inbox_url = f"{service.base_url}/v1/actions"

        def inbox_items(url: str = inbox_url, auth: dict[str, str] = headers) -> Any:
            return httpx.get(url, headers=auth).json()["items"]

        inbox = poll_until(inbox_items, 20)
        assert [item["action_id"] for item in inbox] == [actions[department].id]
        for other in Department:
            if other != department:
                refused = httpx.get(
                    f"{service.base_url}/v1/actions", headers=dev_keys.headers(other)
                )
                assert refused.status_code == 403

        accepted = httpx.post(
            f"{service.base_url}/v1/actions/{actions[department].id}/outcome",
            json={"outcome": "accepted"},
            headers=headers,
            timeout=20,
        )
        assert accepted.status_code == 200, accepted.text

    outcomes = read_topic(
        kafka.bootstrap_servers, kafka.topic(TOPICS.action_outcomes), lambda rs: len(rs) >= 3
    )
    assert sorted((r.value["source"], r.value["data"]["action_id"]) for r in outcomes) == sorted(
        (f"/services/{d.value}", actions[d].id) for d in Department
    )
