"""API keys and personal data at a department service's door (a real process, a real broker).

Refused requests produce nothing (topic end offsets unchanged); canary personal data sent in
events never shows in the service's logs or metric labels.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS, events_topic_for
from lifecycle_testing.department_services import DevKeys, ServiceProcess, poll_until
from lifecycle_testing.kafka import KafkaNamespace
from service_kit.api_keys import hash_key, new_key

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
CANARY_EMAIL = "canary.security.41d2@example.com"
CANARY_PHONE = "+4915550001234"


def a_deal(**customer: str) -> list[dict[str, Any]]:
    """One sales event about a customer with the given identifiers, under a fresh id."""
    new_id = str(uuid.uuid4())
    document = json.loads(encode_record(EXAMPLES["com.customerlifecycle.sales.deal.won.v1"]))
    document.update(id=new_id, correlationid=new_id)
    document["data"]["customer"] = {"crm_account_id": f"crm-{new_id[:8]}", **customer}
    document["subject"] = f"crm_account_id:crm-{new_id[:8]}"
    return [document]


def end_offsets(namespace: KafkaNamespace) -> dict[Any, int]:
    """End offsets of every department event topic and the dead-letter topic."""
    consumer = KafkaConsumer(bootstrap_servers=namespace.bootstrap_servers)
    try:
        topics = [namespace.topic(events_topic_for(d)) for d in Department]
        topics.append(namespace.topic(TOPICS.dead_letter))
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def keys_json(department: Department, key: str, scopes: list[str], key_id: str) -> str:
    return json.dumps(
        {
            "keys": [
                {
                    "id": key_id,
                    "department": department.value,
                    "scopes": scopes,
                    "sha256": hash_key(key),
                }
            ]
        }
    )


def test_refused_keys_get_401_or_403_and_produce_nothing(
    namespace: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    read_only = new_key(Department.SALES)
    sales = start_service(
        Department.SALES,
        namespace.bootstrap_servers,
        namespace.prefix,
        DEPARTMENT_API_KEYS=keys_json(Department.SALES, read_only, ["actions:read"], "reader"),
    )
    sales.wait_ready()
    url = f"{sales.base_url}/v1/events"
    before = end_offsets(namespace)
    refused = {
        "no key": (None, 401),
        "unknown key": ("Bearer " + new_key(Department.SALES), 401),
        "not a bearer": ("Basic c2FsZXM6c2FsZXM=", 401),
        "another department's key": (f"Bearer {dev_keys.plain[Department.MARKETING]}", 403),
        "key without events:write": (f"Bearer {read_only}", 403),
    }
    for case, (authorization, status) in refused.items():
        headers = {"Authorization": authorization} if authorization else {}
        response = httpx.post(url, json=a_deal(), headers=headers)
        assert response.status_code == status, case
        assert response.headers["content-type"].startswith("application/problem+json"), case
    assert end_offsets(namespace) == before, "a refused request produced a record"
    # The read-only key does read its own department's inbox.
    inbox = httpx.get(
        f"{sales.base_url}/v1/actions", headers={"Authorization": f"Bearer {read_only}"}
    )
    assert inbox.status_code == 200
    # The measurement can see a produce: an accepted request moves the end offset.
    accepted = httpx.post(url, json=a_deal(), headers=dev_keys.headers(Department.SALES))
    assert accepted.status_code == 202, accepted.text
    assert end_offsets(namespace) != before


def test_a_revoked_key_is_refused_after_the_key_file_changes(
    namespace: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    key = new_key(Department.SALES)
    issued = keys_json(Department.SALES, key, ["events:write"], "crm-sync")
    sales = start_service(
        Department.SALES, namespace.bootstrap_servers, namespace.prefix, DEPARTMENT_API_KEYS=issued
    )
    sales.wait_ready()
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        httpx.post(f"{sales.base_url}/v1/events", json=a_deal(), headers=headers).status_code == 202
    )
    sales.stop()
    # Revocation: the key leaves the configured key set; the service is restarted with it.
    revoked = start_service(Department.SALES, namespace.bootstrap_servers, namespace.prefix)
    revoked.wait_ready()
    before = end_offsets(namespace)
    response = httpx.post(f"{revoked.base_url}/v1/events", json=a_deal(), headers=headers)
    assert response.status_code == 401
    assert end_offsets(namespace) == before


def test_canary_personal_data_never_reaches_logs_or_metric_labels(
    namespace: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    sales = start_service(Department.SALES, namespace.bootstrap_servers, namespace.prefix)
    sales.wait_ready()
    url = f"{sales.base_url}/v1/events"
    headers = dev_keys.headers(Department.SALES)
    canary = {"email": CANARY_EMAIL, "phone": CANARY_PHONE}
    assert httpx.post(url, json=a_deal(**canary), headers=headers).status_code == 202
    # Rejected input carrying the canaries: a bad e-mail next to them, and a foreign key.
    broken = a_deal(**canary)
    broken[0]["data"]["amount"] = {"amount_minor": "lots", "currency": "EUR"}
    rejected = httpx.post(url, json=broken, headers=headers)
    assert rejected.status_code == 422
    other = httpx.post(url, json=a_deal(**canary), headers=dev_keys.headers(Department.MARKETING))
    assert other.status_code == 403
    assert CANARY_EMAIL not in other.text
    metrics = httpx.get(f"{sales.base_url}/metrics").text
    sales.stop()  # flushes its log
    log = sales.log_path.read_text()
    for canary_value in (CANARY_EMAIL, CANARY_PHONE):
        assert canary_value not in log, canary_value
        assert canary_value not in metrics, canary_value


def raw_answer(base_url: str, chunks: list[bytes], pause_s: float = 0.0) -> bytes:
    """Send a request as raw chunks; the first bytes of the answer (the status line)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        for index, chunk in enumerate(chunks):
            if index and pause_s:
                time.sleep(pause_s)  # a slow client, by design
            connection.sendall(chunk)
        return connection.recv(256)


def test_huge_or_slow_request_heads_are_refused_before_any_route_runs(
    namespace: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    sales = start_service(
        Department.SALES,
        namespace.bootstrap_servers,
        namespace.prefix,
        LIFECYCLE_HTTP_HEAD_TIMEOUT_S="2",
        LIFECYCLE_HTTP_BODY_TIMEOUT_S="2",
    )
    sales.wait_ready()
    key = f"Authorization: Bearer {dev_keys.plain[Department.SALES]}\r\n".encode()
    host = b"Host: 127.0.0.1\r\n"
    mib = 1024 * 1024
    path = b"GET /v1/actions/" + b"A" * mib + b" HTTP/1.1\r\n" + host + key + b"\r\n"
    assert raw_answer(sales.base_url, [path]).startswith(b"HTTP/1.1 414 ")
    header = b"GET /v1/actions HTTP/1.1\r\n" + host + key + b"X-Pad: " + b"B" * mib + b"\r\n\r\n"
    assert raw_answer(sales.base_url, [header]).startswith(b"HTTP/1.1 431 ")
    # Slowloris: a head that never ends is cut off; so is a body that stops coming.
    slow_head = [b"GET /v1/actions HTTP/1.1\r\n", host, key, b"X-Slow: 1\r\n"]
    assert raw_answer(sales.base_url, slow_head, pause_s=1.0).startswith(b"HTTP/1.1 408 ")
    slow_body = [
        b"POST /v1/events HTTP/1.1\r\n" + host + key
        + b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n[",
    ]  # fmt: skip
    before = end_offsets(namespace)
    assert raw_answer(sales.base_url, slow_body).startswith(b"HTTP/1.1 408 ")
    assert end_offsets(namespace) == before
    # The service goes on answering, and its log says nothing failed.
    accepted = httpx.post(
        f"{sales.base_url}/v1/events", json=a_deal(), headers=dev_keys.headers(Department.SALES)
    )
    assert accepted.status_code == 202, accepted.text
    sales.stop()
    assert "Exception in ASGI application" not in sales.log_path.read_text()


def test_a_key_holds_at_most_its_share_of_action_streams(
    namespace: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    sales = start_service(
        Department.SALES,
        namespace.bootstrap_servers,
        namespace.prefix,
        DEPARTMENT_MAX_STREAMS_PER_KEY="2",
    )
    sales.wait_ready()
    url = f"{sales.base_url}/v1/actions/stream"
    headers = dev_keys.headers(Department.SALES)
    with httpx.Client(timeout=30) as client:
        first = client.stream("GET", url, headers=headers)
        second = client.stream("GET", url, headers=headers)
        with first as one, second as two:
            assert (one.status_code, two.status_code) == (200, 200)
            third = client.get(url, headers=headers)
            assert third.status_code == 429
            assert third.headers["content-type"].startswith("application/problem+json")
            assert "Retry-After" in third.headers

        # Both closed: their slots are given back (once the server has seen them go).
        def opens() -> bool:
            with client.stream("GET", url, headers=headers) as again:
                return again.status_code == 200

        poll_until(opens, 30)
