"""Each department service as a real process against the session's real Kafka broker."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from department_kit.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from lifecycle_schemas.catalogue import event_types_for
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS, actions_topic_for, events_topic_for
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    TopicRecord,
    fresh_action,
    poll_until,
    produce,
    read_topic,
)
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.processes import free_port

pytestmark = pytest.mark.kafka

DEPARTMENTS = list(Department)
OTHER = {
    Department.MARKETING: Department.SALES,
    Department.SALES: Department.SERVICE_DESK,
    Department.SERVICE_DESK: Department.MARKETING,
}
FIXTURES = Path(__file__).resolve().parents[2] / "unit" / "departments" / "fixtures"
NATIVE = {
    Department.MARKETING: ("hubspot", "hubspot_contact_events.json"),
    Department.SALES: ("pipedrive", "pipedrive_v2_deal_won.json"),
    Department.SERVICE_DESK: ("zendesk", "zendesk_ticket_created.json"),
}
StartService = Callable[..., ServiceProcess]


def canonical_events(department: Department) -> list[dict[str, Any]]:
    """Every example event type of the department, with fresh ids, as a client would post them."""
    events = []
    for event_type in sorted(event_types_for(department)):
        new_id = str(uuid.uuid4())
        record = EXAMPLES[event_type].model_copy(update={"id": new_id, "correlationid": new_id})
        events.append(json.loads(encode_record(record)))
    return events


def with_id(records: list[TopicRecord], event_id: str) -> list[TopicRecord]:
    return [r for r in records if r.value.get("id") == event_id]


@pytest.mark.parametrize("department", DEPARTMENTS, ids=lambda d: d.value)
def test_a_batch_is_acknowledged_and_readable_from_the_topic_with_key_and_envelope(
    department: Department, kafka: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    service = start_service(department, kafka.bootstrap_servers, kafka.prefix)
    events = canonical_events(department)

    answer = httpx.post(
        f"{service.base_url}/v1/events",
        json=events,
        headers=dev_keys.headers(department),
        timeout=20,
    )

    assert answer.status_code == 202, answer.text
    accepted = answer.json()["accepted"]
    assert [a["id"] for a in accepted] == [e["id"] for e in events]
    topic = kafka.topic(events_topic_for(department))
    records = read_topic(
        kafka.bootstrap_servers, topic, lambda rs: all(with_id(rs, e["id"]) for e in events)
    )
    for event in events:
        [record] = with_id(records, event["id"])
        assert record.key == event["subject"]
        assert record.value == event
        assert record.headers["content-type"].startswith(b"application/cloudevents+json")

    repeat = httpx.post(
        f"{service.base_url}/v1/events",
        json=events[:2],
        headers=dev_keys.headers(department),
        timeout=20,
    )
    assert repeat.status_code == 202
    assert repeat.json()["accepted"] == accepted[:2]
    again = read_topic(kafka.bootstrap_servers, topic, lambda rs: len(rs) >= len(events))
    assert len(again) == len(events), "a repeated event id must not be published twice"


@pytest.mark.parametrize("department", DEPARTMENTS, ids=lambda d: d.value)
def test_every_class_of_bad_input_is_refused_with_its_status_and_field_paths(
    department: Department, kafka: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    service = start_service(
        department,
        kafka.bootstrap_servers,
        kafka.prefix,
        DEPARTMENT_MAX_BODY_BYTES="65536",
        DEPARTMENT_MAX_BATCH_EVENTS="5",
    )
    url = f"{service.base_url}/v1/events"
    headers = dev_keys.headers(department)
    good = canonical_events(department)[0]
    foreign = canonical_events(OTHER[department])[0]
    broken = json.loads(json.dumps(good))
    broken["data"]["customer"] = {"email": "not-an-address"}
    del broken["time"]

    json_headers = {**headers, "Content-Type": "application/json"}

    def post(body: bytes, **kwargs: Any) -> httpx.Response:
        return httpx.post(url, content=body, **{"headers": json_headers, **kwargs}, timeout=20)

    cases: list[tuple[httpx.Response, int, set[str]]] = [
        (post(b'[{"id": '), 400, {""}),
        (
            post(json.dumps(good).encode(), headers={**headers, "Content-Type": "text/plain"}),
            415,
            set(),
        ),
        (
            post(
                json.dumps([good, broken]).encode(),
                headers=json_headers,
            ),
            422,
            {"/1/time", "/1/data/customer/email"},
        ),
        (
            post(
                json.dumps([foreign]).encode(),
                headers=json_headers,
            ),
            422,
            {"/0/type"},
        ),
        (
            post(b"[" + b" " * 70000 + b"]", headers=json_headers),
            413,
            {""},
        ),
        (
            post(
                json.dumps([good] * 6).encode(),
                headers=json_headers,
            ),
            422,
            {""},
        ),
        (post(b"{}", headers={"Content-Type": "application/json"}), 401, set()),
        (
            post(
                b"{}",
                headers={**dev_keys.headers(OTHER[department]), "Content-Type": "application/json"},
            ),
            403,
            set(),
        ),
    ]
    for answer, status, pointers in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["status"] == status
        assert {e["pointer"] for e in problem.get("errors", [])} >= pointers
    foreign_problem = cases[3][0].json()
    assert foreign_problem["errors"][0]["rule"] == "wrong_department"
    # Nothing of any refused request was published.
    metrics = httpx.get(f"{service.base_url}/metrics").text
    assert not [
        line
        for line in metrics.splitlines()
        if line.startswith("lifecycle_events_published_total{")
    ]
    assert 'lifecycle_events_rejected_total{reason="wrong_department"} 1.0' in metrics


@pytest.mark.parametrize("department", DEPARTMENTS, ids=lambda d: d.value)
def test_the_native_webhook_fixture_comes_out_as_canonical_events_on_the_topic(
    department: Department, kafka: KafkaNamespace, dev_keys: DevKeys, start_service: StartService
) -> None:
    service = start_service(department, kafka.bootstrap_servers, kafka.prefix)
    vendor, fixture = NATIVE[department]
    payload = json.loads((FIXTURES / fixture).read_text())["payload"]

    answer = httpx.post(
        f"{service.base_url}/v1/native/{vendor}",
        json=payload,
        headers=dev_keys.headers(department),
        timeout=20,
    )

    assert answer.status_code == 202, answer.text
    accepted = answer.json()["accepted"]
    assert accepted
    topic = kafka.topic(events_topic_for(department))
    records = read_topic(kafka.bootstrap_servers, topic, lambda rs: len(rs) >= len(accepted))
    assert sorted(r.value["type"] for r in records) == sorted(a["type"] for a in accepted)
    assert all(r.value["source"] == f"/services/{department.value}" for r in records)
    # The vendor retrying the same webhook is a no-op.
    retry = httpx.post(
        f"{service.base_url}/v1/native/{vendor}",
        json=payload,
        headers=dev_keys.headers(department),
        timeout=20,
    )
    assert retry.json()["accepted"] == accepted


class WebhookReceiver:
    """A real HTTP server checking each push's signature; each action's first attempt fails."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.deliveries: list[tuple[str, dict[str, Any]]] = []
        self.attempts: dict[str, int] = {}
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers[IDEMPOTENCY_HEADER]
                valid = verify_signature(
                    receiver.secret,
                    self.headers[TIMESTAMP_HEADER],
                    body,
                    self.headers[SIGNATURE_HEADER],
                    datetime.now(UTC),
                )
                receiver.attempts[key] = receiver.attempts.get(key, 0) + 1
                if not valid:
                    receiver.bad_signatures += 1
                    status = 401
                elif receiver.attempts[key] == 1:
                    status = 503  # the department's system is briefly down: expect a retry
                else:
                    receiver.deliveries.append((key, json.loads(body)))
                    status = 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/actions"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(hashlib.sha256(uuid.uuid4().bytes).hexdigest()) as running:
        yield running


def read_sse_action(
    service: ServiceProcess,
    headers: dict[str, str],
    action_id: str,
    produce_action: Callable[[], None],
) -> dict[str, Any]:
    """Connect to the live stream, then produce the action, and return it as streamed."""
    with httpx.stream(
        "GET", f"{service.base_url}/v1/actions/stream", headers=headers, timeout=httpx.Timeout(20.0)
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        produce_action()
        for line in lines:
            if line.startswith("data: ") and action_id in line:
                streamed: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return streamed
    raise AssertionError("the action never appeared on the stream")


@pytest.mark.parametrize("department", DEPARTMENTS, ids=lambda d: d.value)
def test_an_action_reaches_inbox_stream_webhook_survives_restart_and_outcome_is_published_once(
    department: Department,
    kafka: KafkaNamespace,
    dev_keys: DevKeys,
    start_service: StartService,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    own = department.value.upper().replace("-", "_")
    webhook = {
        f"{own}_WEBHOOK_URL": receiver.url,
        f"{own}_WEBHOOK_SECRET": receiver.secret,
        "DEPARTMENT_WEBHOOK_BACKOFF_INITIAL_S": "0.2",
    }
    data_dir = tmp_path / "data"
    service = start_service(department, kafka.bootstrap_servers, kafka.prefix, data_dir, **webhook)
    service.wait_ready()
    headers = dev_keys.headers(department)
    action = fresh_action(department)
    actions_topic = kafka.topic(actions_topic_for(department))

    streamed = read_sse_action(
        service,
        headers,
        action.id,
        lambda: produce(kafka.bootstrap_servers, actions_topic, [action]),
    )
    assert streamed["record"]["id"] == action.id
    assert streamed["status"] == "open"

    inbox = httpx.get(
        f"{service.base_url}/v1/actions", params={"status": "open"}, headers=headers
    ).json()
    assert [item["action_id"] for item in inbox["items"]] == [action.id]
    assert inbox["items"][0]["summary"]

    poll_until(lambda: receiver.deliveries, 20)
    assert receiver.deliveries[0][0] == action.id
    assert receiver.deliveries[0][1]["id"] == action.id
    assert receiver.attempts[action.id] == 2, (
        "one refused attempt, then one retry with the same key"
    )
    assert receiver.bad_signatures == 0

    outcome_url = f"{service.base_url}/v1/actions/{action.id}/outcome"
    accepted = httpx.post(outcome_url, json={"outcome": "accepted"}, headers=headers, timeout=20)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["action"]["status"] == "accepted"

    service.stop()
    produce(
        kafka.bootstrap_servers, actions_topic, [action]
    )  # redelivered while the service is down
    restarted = start_service(
        department, kafka.bootstrap_servers, kafka.prefix, data_dir, **webhook
    )
    restarted.wait_ready()

    listing = httpx.get(f"{restarted.base_url}/v1/actions", headers=headers).json()
    assert [(i["action_id"], i["status"]) for i in listing["items"]] == [(action.id, "accepted")]

    outcome_url = f"{restarted.base_url}/v1/actions/{action.id}/outcome"
    completed = httpx.post(
        outcome_url, json={"outcome": "completed", "result_code": "done"}, headers=headers
    )
    repeat = httpx.post(
        outcome_url, json={"outcome": "completed", "result_code": "done"}, headers=headers
    )
    declined = httpx.post(
        outcome_url,
        json={"outcome": "declined", "reason_code": "bad-timing", "reason_text": "late"},
        headers=headers,
    )
    assert completed.status_code == 200
    assert repeat.status_code == 200
    assert repeat.json() == completed.json()
    assert declined.status_code == 409

    outcomes_topic = kafka.topic(TOPICS.action_outcomes)
    records = read_topic(kafka.bootstrap_servers, outcomes_topic, lambda rs: len(rs) >= 2)
    assert sorted(r.value["type"].split(".")[-2] for r in records) == ["accepted", "completed"]
    assert all(r.value["data"]["action_id"] == action.id for r in records)
    assert all(r.key == action.data.customer_id for r in records)
    assert len(receiver.deliveries) == 1, "the restart must not push the action again"
