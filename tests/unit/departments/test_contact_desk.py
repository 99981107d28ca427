"""The department side of contact requests, in process: the desk matches the orchestrator's
answers to the requests waiting for them, and gives each unanswered request its purpose's
fallback; the routes check keys and bodies (RFC 9457). The round trip through the real broker
and a worker is tests/integration/orchestrator/test_contact_requests_live.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from department_kit.app import create_app
from department_kit.contacts import (
    NO_ANSWER,
    UNREACHABLE,
    AwaitedAnswers,
    ContactDesk,
    ContactRequestBody,
)
from department_kit.kafka_io import BrokerUnavailableError, Delivery, OutgoingRecord
from department_kit.metrics import DepartmentMetrics
from department_kit.runtime import DepartmentRuntime
from department_kit.settings import DepartmentSettings, fail_open_purposes, load_settings
from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import CloudEvent
from lifecycle_schemas.events.common import contact_id
from lifecycle_schemas.outputs import ContactDecided, ContactDecidedData
from lifecycle_schemas.vocabulary import ContactDecision, ContactPurpose
from marketing_service.department import SPEC as MARKETING
from service_kit.api_keys import Scope, hash_key

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def body(email: str, purpose: str = "promotional") -> ContactRequestBody:
    return ContactRequestBody.model_validate_json(
        json.dumps({"customer": {"email": email}, "channel": "email", "purpose": purpose})
    )


def decided(request: CloudEvent[Any], decision: ContactDecision, code: str) -> ContactDecided:
    """The orchestrator's answer to ``request``."""
    data = ContactDecidedData(
        customer_id="c-1",
        contact_id=contact_id(request.id),
        request_id=request.id,
        department=Department.MARKETING,
        channel=request.data.channel,
        purpose=request.data.purpose,
        decision=decision,
        reason_code=code,
        reason="as the policy says",
        expires_at=NOW + timedelta(hours=1) if decision is ContactDecision.ALLOW else None,
        control_group=False,
    )
    return ContactDecided.build(data, id=f"decided-{request.id}", time=NOW)


def desk(
    publish: Callable[[list[CloudEvent[Any]]], None],
    awaited: AwaitedAnswers,
    *,
    watching: bool = True,
    timeout_s: float = 5.0,
) -> tuple[ContactDesk, DepartmentMetrics]:
    metrics = DepartmentMetrics()
    return (
        ContactDesk(
            Department.MARKETING,
            publish,
            awaited,
            lambda: watching,
            metrics,
            lambda: datetime.now(UTC),
            timeout_s,
            fail_open_purposes("service,transactional,legal"),
        ),
        metrics,
    )


def test_each_request_gets_the_answer_addressed_to_it() -> None:
    awaited = AwaitedAnswers()
    published: list[CloudEvent[Any]] = []

    def publish(records: list[CloudEvent[Any]]) -> None:
        published.extend(records)
        # Answered in reverse order, from another thread, as the topic watcher does.
        codes = ("within-policy", "frequency-cap")
        for record, code in reversed(list(zip(records, codes, strict=True))):
            verdict = ContactDecision.ALLOW if code == "within-policy" else ContactDecision.DENY
            awaited.answer(decided(record, verdict, code))

    contact_desk, metrics = desk(publish, awaited)
    answers = asyncio.run(contact_desk.ask([body("a@example.com"), body("b@example.com")]))
    assert [(a.decision.value, a.reason_code) for a in answers] == [
        ("allow", "within-policy"),
        ("deny", "frequency-cap"),
    ]
    assert [a.contact_id for a in answers] == [contact_id(r.id) for r in published]
    assert [r.data.customer.email for r in published] == ["a@example.com", "b@example.com"]
    assert all(r.data.answer_by > r.time for r in published)
    fallbacks = next(
        m for m in metrics.registry.collect() if m.name == "lifecycle_contact_request_fallbacks"
    )
    assert fallbacks.samples == []


def test_unanswered_requests_fail_closed_for_promotions_and_open_for_service() -> None:
    awaited = AwaitedAnswers()
    contact_desk, metrics = desk(lambda records: None, awaited, timeout_s=0.05)
    answers = asyncio.run(
        contact_desk.ask([body("a@example.com"), body("a@example.com", purpose="service")])
    )
    assert [(a.decision.value, a.reason_code, a.expires_at) for a in answers] == [
        ("deny", NO_ANSWER, None),
        ("allow", NO_ANSWER, None),
    ]
    labels = {"purpose": "promotional", "decision": "deny", "cause": NO_ANSWER}
    counted = metrics.registry.get_sample_value("lifecycle_contact_request_fallbacks_total", labels)
    assert counted == 1


def test_a_broker_that_refuses_the_request_is_an_unreachable_orchestrator() -> None:
    def refuse(records: list[CloudEvent[Any]]) -> None:
        raise BrokerUnavailableError("AllBrokersDown")

    contact_desk, _ = desk(refuse, AwaitedAnswers())
    answers = asyncio.run(
        contact_desk.ask([body("a@example.com"), body("a@example.com", purpose="legal")])
    )
    assert [(a.decision.value, a.reason_code) for a in answers] == [
        ("deny", UNREACHABLE),
        ("allow", UNREACHABLE),
    ]


def test_the_fail_open_purposes_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTMENT_CONTACT_FAIL_OPEN", "promotional, legal")
    monkeypatch.setenv("DEPARTMENT_CONTACT_TIMEOUT_S", "0.5")
    settings = load_settings(Department.SALES)
    assert settings.contact_fail_open_purposes == {ContactPurpose.PROMOTIONAL, ContactPurpose.LEGAL}
    assert settings.contact_timeout_s == 0.5
    monkeypatch.setenv("DEPARTMENT_CONTACT_FAIL_OPEN", "promotional,marketing")
    with pytest.raises(ValueError, match="not a list of contact purposes"):
        load_settings(Department.SALES)


class Refusing:
    """A publisher for the routes' tests: they never reach it (no topic watcher runs)."""

    reachable = False

    def publish(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        raise AssertionError("nothing is published while answers cannot be read")

    def close(self, timeout_s: float = 10.0) -> None:
        pass


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    keys = {
        "keys": [
            {
                "id": name,
                "department": "marketing",
                "scopes": [s.value for s in scopes],
                "sha256": hash_key(f"key-{name}"),
            }
            for name, scopes in {
                "asker": [Scope.CONTACTS_REQUEST],
                "writer": [Scope.EVENTS_WRITE],
            }.items()
        ]
    }
    settings = DepartmentSettings(
        department=Department.MARKETING,
        port=8101,
        data_dir=tmp_path,
        api_keys_json=json.dumps(keys),
    )
    runtime = DepartmentRuntime(MARKETING, settings, publisher=Refusing())
    with TestClient(create_app(runtime, background=False)) as test_client:
        yield test_client


def test_the_routes_need_the_contacts_request_scope(client: TestClient) -> None:
    request = {"customer": {"email": "a@example.com"}, "channel": "sms", "purpose": "service"}
    refused = client.post(
        "/v1/contact-requests", json=request, headers={"Authorization": "Bearer key-writer"}
    )
    assert refused.status_code == 403
    assert "contacts:request" in refused.json()["detail"]
    answered = client.post(
        "/v1/contact-requests", json=request, headers={"Authorization": "Bearer key-asker"}
    )
    assert answered.status_code == 200
    assert answered.json()["decision"] == "allow"
    assert answered.json()["reason_code"] == UNREACHABLE


def test_bad_bodies_are_problems_with_field_paths(client: TestClient) -> None:
    headers = {"Authorization": "Bearer key-asker"}
    wrong = client.post(
        "/v1/contact-requests",
        json={"customer": {"email": "a@example.com"}, "channel": "fax", "purpose": "promotional"},
        headers=headers,
    )
    assert wrong.status_code == 422
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert [e["pointer"] for e in wrong.json()["errors"]] == ["/channel"]
    too_many = client.post(
        "/v1/contact-requests/batch",
        json={
            "customers": [{"email": f"c{n}@example.com"} for n in range(1001)],
            "channel": "email",
            "purpose": "promotional",
        },
        headers=headers,
    )
    assert too_many.status_code == 422
    assert [e["pointer"] for e in too_many.json()["errors"]] == ["/customers"]
    duplicate = client.post(
        "/v1/contact-requests",
        content=b'{"customer": {"email": "a@example.com"}, "channel": "sms", "channel": "email",'
        b' "purpose": "service"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert duplicate.status_code == 400
