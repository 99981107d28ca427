"""The orchestrator's read side behind keys, against a running worker (issue 13).

Unauthenticated reads get 401, a key without the route's scope 403, a foreign Host 400 (DNS
rebinding); the operational routes answer anyone; ``/internal/*`` needs the cluster secret and is
not in the OpenAPI document; the dashboard's session cookie is HttpOnly and SameSite=Strict and
stands for its key; every read of personal data leaves an audit line naming key, customers and
route, never the data; a dashboard-style (percent-encoded) lookup leaves no e-mail in the log;
a key past its rate limit gets 429 with Retry-After and RateLimit headers; a 1 MiB path or header
is refused at once while events keep flowing to actions.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from lifecycle_bench.hostile import hostile_clients
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import actions_topic_for
from lifecycle_testing.department_services import poll_until
from lifecycle_testing.orchestrator_io import Kafka, department_event
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.playbooks import fast_handoff_playbook_dir
from orchestrator.access import CLUSTER_SECRET_HEADER, SESSION_COOKIE
from orchestrator.core.identity import new_customer_id
from service_kit.api_keys import Scope

pytestmark = pytest.mark.kafka
# Everyone treated (no control group): every new customer's deal becomes actions.
playbook_dir = fast_handoff_playbook_dir


def canaries() -> tuple[str, str]:
    """An e-mail and a phone nobody else has (each test its own customer: a known e-mail
    would link a test's deal to an earlier test's customer)."""
    token = uuid.uuid4().hex[:8]
    return f"access.canary.{token}@example.com", f"+4915557{int(token, 16) % 10**6:06d}"


PERSONAL = ("/v1/customers/{id}", "/v1/customers/{id}/timeline", "/v1/customers/{id}/decisions",
            "/v1/dashboard/customers")  # fmt: skip
REPORTS = ("/v1/segments", "/v1/plays", "/v1/playbook", "/v1/dashboard/flow",
           "/v1/dashboard/funnel", "/v1/dashboard/history",
           "/v1/reports/proof-of-value")  # fmt: skip
INTERNAL = ("/internal/worker-stats", "/internal/proof-tally", "/internal/portfolio-tally",
            "/internal/flow-samples")  # fmt: skip
OPEN = ("/healthz", "/readyz", "/metrics")
MIB = 1024 * 1024


@pytest.fixture
def worker(make_worker: Callable[..., Worker]) -> Iterator[Worker]:
    """A worker of this test's own, stopped when the test ends: one worker at a time in the
    group, so no test waits for a rebalance among the module's workers."""
    started = make_worker()
    yield started
    started.stop()


def a_known_customer(
    worker: Worker, kafka_io: Kafka, email: str | None = None, phone: str | None = None
) -> str:
    """A customer with an e-mail and a phone, served by the worker; its customer id."""
    crm = f"crm-access-{uuid.uuid4().hex[:8]}"
    fresh_email, fresh_phone = canaries()
    customer = {"crm_account_id": crm, "email": email or fresh_email, "phone": phone or fresh_phone}
    kafka_io.publish(department_event("sales.deal.won", customer))
    customer_id = new_customer_id(f"crm_account_id:{crm}")
    url = f"{worker.url}/v1/customers/{customer_id}"
    poll_until(lambda: httpx.get(url, headers=TEST_KEYS.headers()).status_code == 200, 60)
    return customer_id


def is_problem(answer: httpx.Response, status: int) -> bool:
    return answer.status_code == status and answer.headers["content-type"].startswith(
        "application/problem+json"
    )


def test_every_read_needs_a_key_with_its_scope_and_a_host_of_ours(
    worker: Worker, kafka_io: Kafka
) -> None:
    customer_id = a_known_customer(worker, kafka_io)
    routes = {path.format(id=customer_id): Scope.CUSTOMERS_READ for path in PERSONAL}
    routes |= dict.fromkeys(REPORTS, Scope.REPORTS_READ)
    with httpx.Client(base_url=worker.url, timeout=15) as client:
        for path, scope in routes.items():
            assert is_problem(client.get(path), 401), path
            forged = {"Authorization": "Bearer lk_op_not-a-key-anyone-issued"}
            assert is_problem(client.get(path, headers=forged), 401), path
            other = Scope.REPORTS_READ if scope is Scope.CUSTOMERS_READ else Scope.CUSTOMERS_READ
            assert is_problem(client.get(path, headers=TEST_KEYS.headers(other)), 403), path
            assert is_problem(client.get(path, headers=TEST_KEYS.headers(Scope.ADMIN)), 403), path
            assert client.get(path, headers=TEST_KEYS.headers(scope)).status_code == 200, path
            # DNS rebinding: a page's own name pointed at this address; refused, key or not.
            foreign = {**TEST_KEYS.headers(), "Host": "attacker.example"}
            assert is_problem(client.get(path, headers=foreign), 400), path
        assert is_problem(client.get("/dashboard", headers={"Host": "attacker.example"}), 400)
        for path in OPEN:  # probes and scrapes name a pod's address; no personal data here
            assert client.get(path, headers={"Host": "10.1.2.3:8100"}).status_code == 200, path
        for path in INTERNAL:
            assert is_problem(client.get(path, headers=TEST_KEYS.headers()), 403), path
            cluster = {CLUSTER_SECRET_HEADER: TEST_KEYS.cluster_secret}
            assert client.get(path, headers=cluster).status_code == 200, path
        documented = client.get("/openapi.json").json()["paths"]
        assert not [p for p in documented if p.startswith("/internal")]


def test_the_dashboard_session_is_an_httponly_samesite_cookie_standing_for_its_key(
    worker: Worker, kafka_io: Kafka
) -> None:
    customer_id = a_known_customer(worker, kafka_io)
    with httpx.Client(base_url=worker.url, timeout=15) as client:
        assert client.get("/v1/session").status_code == 401
        started = client.post("/v1/session", headers=TEST_KEYS.headers(Scope.REPORTS_READ))
        assert started.status_code == 200
        assert started.json()["scopes"] == ["reports:read"]
        cookie = started.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert TEST_KEYS.by_scope[Scope.REPORTS_READ] not in cookie
        # The cookie alone now reads what its key may, and no more.
        assert client.get("/v1/segments").status_code == 200
        assert is_problem(client.get(f"/v1/customers/{customer_id}"), 403)
        assert client.get("/v1/session").json()["scopes"] == ["reports:read"]
        ended = client.delete("/v1/session")
        assert ended.status_code == 200
        client.cookies.clear()
        assert is_problem(client.get("/v1/segments"), 401)
        # A cookie nobody signed, or one whose signature was kept but whose key was changed.
        value = started.cookies[SESSION_COOKIE]
        body, _, signature = value.partition(".")
        for forged in ("x.y", f"{body}.{'0' * len(signature)}", f"{body[:-4]}AAAA.{signature}"):
            client.cookies.set(SESSION_COOKIE, forged)
            assert is_problem(client.get("/v1/segments"), 401), forged
        # A key given as Basic credentials (or anything but Bearer) starts no session.
        assert (
            client.post("/v1/session", headers={"Authorization": "Basic eDp5"}).status_code == 401
        )


def test_reads_of_personal_data_are_audited_and_no_encoding_leaks_it_into_the_log(
    worker: Worker, kafka_io: Kafka
) -> None:
    canary_email, canary_phone = canaries()
    customer_id = a_known_customer(worker, kafka_io, canary_email, canary_phone)
    with httpx.Client(base_url=worker.url, timeout=15, headers=TEST_KEYS.headers()) as client:
        # As the dashboard looks a customer up: encodeURIComponent of what was typed.
        for typed in (canary_email, canary_phone, f"email:{canary_email}"):
            answer = client.get(f"/v1/customers/{quote(typed, safe='')}")
            assert answer.json()["customer_id"] == customer_id, typed
        assert client.get("/v1/dashboard/customers").status_code == 200
        # Not found, and a foreign key: refused lookups carry the e-mail too.
        assert client.get(f"/v1/customers/{quote('nobody.' + canary_email)}").status_code == 404
        anonymous = httpx.get(f"{worker.url}/v1/customers/{quote(canary_email, safe='')}")
        assert anonymous.status_code == 401
    worker.stop()  # flushes its log
    lines = [
        json.loads(line)
        for line in worker.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    audit = [line for line in lines if line.get("audit") is True]
    assert len(audit) >= 4
    for line in audit:
        assert line["key_id"] == "test-operator"
        assert line["route"].startswith("/v1/")
        assert "time" in line
    assert any(line["customer_ids"] == [customer_id] for line in audit)
    assert any(
        customer_id in line["customer_ids"] for line in audit if "dashboard" in line["route"]
    )
    text = worker.log_path.read_text()
    for canary in (canary_email, canary_phone, quote(canary_email, safe=""), canary_phone[1:]):
        assert canary not in text, canary


def test_a_key_past_its_rate_limit_gets_429_with_retry_after(
    make_worker: Callable[..., Worker],
) -> None:
    worker = make_worker(ORCHESTRATOR_RATE_LIMIT="5/minute")
    try:
        assert_rate_limited(worker)
    finally:
        worker.stop()


def assert_rate_limited(worker: Worker) -> None:
    with httpx.Client(base_url=worker.url, timeout=15) as client:
        answers = [client.get("/v1/segments", headers=TEST_KEYS.headers()) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert [a.headers["RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
        refused = answers[-1]
        assert is_problem(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another key has its own limit; requests without a key are limited by address.
        assert (
            client.get("/v1/segments", headers=TEST_KEYS.headers(Scope.REPORTS_READ)).status_code
            == 200
        )
        anonymous = [client.get("/v1/segments").status_code for _ in range(6)]
        assert anonymous == [401] * 5 + [429]


def publish_paced(kafka_io: Kafka, events: list[Any], gap_s: float) -> None:
    """Publish one event every ``gap_s``: a flow that goes on during an attack, not before it."""
    for event in events:
        kafka_io.publish(event)
        time.sleep(gap_s)  # the flow's pace; it waits for nothing


def raw_status(url: str, request: bytes) -> int:
    """Send raw bytes; the status line's code (the server answers before reading them all)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as connection:
        connection.sendall(request)
        return int(connection.recv(64).split(b" ")[1])


def test_a_megabyte_path_or_header_is_refused_at_once_while_events_flow_to_actions(
    worker: Worker, kafka_io: Kafka
) -> None:
    host = f"Host: {worker.url.removeprefix('http://')}\r\n".encode()
    path = b"GET /v1/customers/" + b"A" * MIB + b" HTTP/1.1\r\n" + host + b"\r\n"
    header = b"GET /v1/segments HTTP/1.1\r\n" + host + b"X-Pad: " + b"B" * MIB + b"\r\n\r\n"
    assert raw_status(worker.url, path) == 414
    assert raw_status(worker.url, header) == 431

    # While 20 clients keep sending such requests, new customers' events become actions.
    actions_topic = actions_topic_for(Department.SERVICE_DESK).name  # the reader adds the prefix
    with hostile_clients(worker.url, 20) as answers:
        crms = [f"crm-flow-{uuid.uuid4().hex[:8]}" for _ in range(5)]
        customers = {new_customer_id(f"crm_account_id:{crm}") for crm in crms}
        deals = [department_event("sales.deal.won", {"crm_account_id": crm}) for crm in crms]
        publish_paced(kafka_io, deals, gap_s=0.2)
        kafka_io.read(
            [actions_topic],
            lambda messages: (
                customers <= {json.loads(m.value)["subject"] for m in messages if m.value}
            ),
            90,
        )
        assert httpx.get(f"{worker.url}/healthz", timeout=15).status_code == 200
    served: dict[Any, int] = dict(answers)
    assert sum(served.values()) >= 20, served
    assert not [status for status in served if status is not None and status >= 500], served
