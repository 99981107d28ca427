"""Kafka down: the services stay alive, answer 503 with Retry-After, and never a false 202."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_schemas.catalogue import event_types_for
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import actions_topic_for
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    fresh_action,
    poll_until,
    produce,
)
from lifecycle_testing.kafka import LocalBroker, started_broker
from lifecycle_testing.processes import free_port

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]


def an_event(department: Department) -> list[dict[str, Any]]:
    new_id = str(uuid.uuid4())
    example = EXAMPLES[sorted(event_types_for(department))[0]]
    return [
        json.loads(
            encode_record(example.model_copy(update={"id": new_id, "correlationid": new_id}))
        )
    ]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own (stopping the session's broker would break other tests)."""
    with started_broker(tmp_path / "kafka") as broker:
        yield broker


def is_found(url: str, dev_keys: DevKeys, department: Department) -> bool:
    return httpx.get(url, headers=dev_keys.headers(department)).status_code == 200


def test_stopping_the_broker_mid_test_gives_503_and_no_false_202_and_loses_no_action(
    own_broker: LocalBroker, dev_keys: DevKeys, start_service: StartService
) -> None:
    bootstrap = own_broker.bootstrap_servers
    prefix = "outage."
    create_topics(bootstrap, prefix=prefix)
    services = {d: start_service(d, bootstrap, prefix) for d in Department}
    before_outage = {d: fresh_action(d) for d in Department}
    # Index 2: never an erase action (once delivered it purges the example customer's others).
    after_outage = {d: fresh_action(d, index=2) for d in Department}
    for department, service in services.items():
        service.wait_ready()
        produce(
            bootstrap, actions_topic_for(department).name_in(prefix), [before_outage[department]]
        )
        before = httpx.post(
            f"{service.base_url}/v1/events",
            json=an_event(department),
            headers=dev_keys.headers(department),
            timeout=20,
        )
        assert before.status_code == 202, before.text
        stored = f"{service.base_url}/v1/actions/{before_outage[department].id}"
        poll_until(functools.partial(is_found, stored, dev_keys, department), 20)

    own_broker.stop()

    for department, service in services.items():
        during = httpx.post(
            f"{service.base_url}/v1/events",
            json=an_event(department),
            headers=dev_keys.headers(department),
            timeout=30,
        )
        assert during.status_code == 503, during.text
        assert int(during.headers["Retry-After"]) > 0
        assert during.headers["content-type"].startswith("application/problem+json")
        assert "accepted" not in during.json()
        assert httpx.get(f"{service.base_url}/healthz").status_code == 200
        metrics = httpx.get(f"{service.base_url}/metrics").text
        assert "lifecycle_event_publish_failures_total{" in metrics
        assert "lifecycle_kafka_reachable 0.0" in metrics

    assert own_broker.start() == bootstrap  # back with its data, on the same port
    for department, service in services.items():
        produce(
            bootstrap, actions_topic_for(department).name_in(prefix), [after_outage[department]]
        )
        service.wait_ready(60)
        headers = dev_keys.headers(department)
        again = httpx.post(
            f"{service.base_url}/v1/events", json=an_event(department), headers=headers, timeout=30
        )
        assert again.status_code == 202, again.text

        def inbox(
            url: str = f"{service.base_url}/v1/actions", auth: dict[str, str] = headers
        ) -> Any:
            items = httpx.get(url, headers=auth).json()["items"]
            return items if len(items) >= 2 else None

        items = poll_until(inbox, 30)
        expected = [before_outage[department].id, after_outage[department].id]
        assert [item["action_id"] for item in items] == expected, "none lost, none twice"


def test_a_service_without_kafka_is_alive_but_not_ready_and_refuses_with_503(
    dev_keys: DevKeys, start_service: StartService
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    service = start_service(Department.SALES, nowhere, "")

    assert httpx.get(f"{service.base_url}/healthz").status_code == 200
    assert httpx.get(f"{service.base_url}/readyz").status_code == 503
    answer = httpx.post(
        f"{service.base_url}/v1/events",
        json=an_event(Department.SALES),
        headers=dev_keys.headers(Department.SALES),
        timeout=30,
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
