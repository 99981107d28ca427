"""The HTTP layer of a department service, in process, with Kafka replaced by an in-memory
publisher (the real broker is exercised in tests/integration/departments)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import jsonschema
import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from department_kit.app import create_app
from department_kit.kafka_io import BrokerUnavailableError, Delivery, OutgoingRecord
from department_kit.runtime import DepartmentRuntime
from department_kit.settings import DepartmentSettings
from lifecycle_schemas.catalogue import AnyAction, action_types_for, event_types_for
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_testing.api_docs import foreign_or_broken_assets, page_urls, undeclared_retry_headers
from marketing_service.department import SPEC as MARKETING
from service_kit.api_keys import Scope, hash_key
from service_kit.http import install_problem_handlers
from service_kit.logs import JsonFormatter

KEYS = {
    "writer": ("marketing", [Scope.EVENTS_WRITE]),
    "reader": ("marketing", [Scope.ACTIONS_READ]),
    "actor": ("marketing", [Scope.ACTIONS_READ, Scope.ACTIONS_WRITE]),
    "sales": ("sales", list(Scope)),
}


class MemoryPublisher:
    """Acknowledges every record at once, or fails like an unreachable broker when told to."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.reachable = True
        self.failing = False

    def publish(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        if self.failing:
            raise BrokerUnavailableError("KafkaTimeoutError")
        start = len(self.records)
        self.records.extend(records)
        return [Delivery(r.topic, 0, start + i) for i, r in enumerate(records)]

    def close(self, timeout_s: float = 10.0) -> None:
        pass


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def runtime(tmp_path: Path, publisher: MemoryPublisher) -> DepartmentRuntime:
    keys = {
        "keys": [
            {
                "id": name,
                "department": dept,
                "scopes": [s.value for s in scopes],
                "sha256": hash_key(f"key-{name}"),
            }
            for name, (dept, scopes) in KEYS.items()
        ]
    }
    settings = DepartmentSettings(
        department=Department.MARKETING,
        port=8101,
        data_dir=tmp_path,
        api_keys_json=json.dumps(keys),
        max_batch_events=3,
        max_body_bytes=4096,
    )
    return DepartmentRuntime(MARKETING, settings, publisher=publisher)


@pytest.fixture
def client(runtime: DepartmentRuntime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, background=False)) as test_client:
        yield test_client


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer key-{name}"}


def event(index: int = 0) -> dict[str, Any]:
    example = EXAMPLES[sorted(event_types_for(Department.MARKETING))[index]]
    new_id = str(uuid.uuid4())
    document: dict[str, Any] = json.loads(
        encode_record(example.model_copy(update={"id": new_id, "correlationid": new_id}))
    )
    return {k: document[k] for k in ("id", "type", "time", "data")}


def stored_action(
    runtime: DepartmentRuntime, expires_in: timedelta = timedelta(hours=1)
) -> AnyAction:
    example: Any = EXAMPLES[sorted(action_types_for(Department.MARKETING))[0]]
    now = datetime.now(UTC)
    data = example.data.model_copy(update={"deadline": now, "expires_at": now + expires_in})
    action: AnyAction = type(example).build(data, id=example.id, time=now - timedelta(hours=1))
    runtime.store.add_action(action, now, "not-configured")
    return action


def test_without_a_key_every_route_but_operations_is_401(client: TestClient) -> None:
    assert client.post("/v1/events", json=event()).status_code == 401
    assert client.get("/v1/actions").status_code == 401
    assert client.post("/v1/events", json=event(), headers=auth("nobody")).status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_a_service_with_no_keys_configured_refuses_everyone(tmp_path: Path) -> None:
    settings = DepartmentSettings(department=Department.MARKETING, port=8101, data_dir=tmp_path)
    runtime = DepartmentRuntime(MARKETING, settings, publisher=MemoryPublisher())
    with TestClient(create_app(runtime, background=False)) as bare:
        answer = bare.post("/v1/events", json=event(), headers=auth("writer"))
    assert answer.status_code == 401


def test_another_departments_key_and_a_missing_scope_are_403(client: TestClient) -> None:
    assert client.post("/v1/events", json=event(), headers=auth("sales")).status_code == 403
    assert client.post("/v1/events", json=event(), headers=auth("reader")).status_code == 403
    assert client.get("/v1/actions", headers=auth("writer")).status_code == 403
    assert client.get("/v1/actions", headers={"X-API-Key": "key-reader"}).status_code == 200


def test_an_event_is_published_keyed_by_its_subject_and_answered_202(
    client: TestClient, publisher: MemoryPublisher
) -> None:
    sent = event()
    answer = client.post("/v1/events", json=sent, headers=auth("writer"))
    assert answer.status_code == 202
    assert [a["id"] for a in answer.json()["accepted"]] == [sent["id"]]
    [record] = publisher.records
    assert record.topic == "lifecycle.marketing.events.v1"
    published = json.loads(record.value)
    assert record.key == published["subject"]
    assert published["source"] == "/services/marketing"


def test_a_repeated_event_id_is_answered_as_the_first_time_and_not_republished(
    client: TestClient, publisher: MemoryPublisher
) -> None:
    sent = [event(0), event(1)]
    first = client.post("/v1/events", json=sent, headers=auth("writer"))
    again = client.post("/v1/events", json=sent, headers=auth("writer"))
    twice_in_one = client.post("/v1/events", json=[sent[0], sent[0]], headers=auth("writer"))
    assert again.status_code == 202
    assert again.json() == first.json()
    assert twice_in_one.json()["accepted"] == [first.json()["accepted"][0]] * 2
    assert len(publisher.records) == 2


def test_an_id_reused_with_another_body_is_409_and_publishes_nothing_of_the_request(
    client: TestClient, publisher: MemoryPublisher
) -> None:
    sent = event(0)
    assert client.post("/v1/events", json=sent, headers=auth("writer")).status_code == 202
    changed = {**sent, "time": "2020-01-01T00:00:00Z"}
    # Key order and spacing are not the body: the same event written differently is a replay.
    reordered = json.dumps(dict(reversed(list(sent.items()))), indent=2)

    single = client.post("/v1/events", json=changed, headers=auth("writer"))
    batch = client.post("/v1/events", json=[event(1), changed], headers=auth("writer"))
    replay = client.post(
        "/v1/events",
        content=reordered,
        headers={**auth("writer"), "Content-Type": "application/json"},
    )
    per_item = client.post(
        "/v1/events", params={"per_item": "true"}, json=[changed, event(2)], headers=auth("writer")
    )

    assert single.status_code == 409
    assert single.headers["content-type"] == "application/problem+json"
    assert single.json()["type"].endswith("/id-reused")
    assert [(e["pointer"], e["rule"]) for e in single.json()["errors"]] == [("/id", "id_reused")]
    assert batch.status_code == 409
    assert [e["pointer"] for e in batch.json()["errors"]] == ["/1/id"]
    assert replay.status_code == 202
    assert [(r["index"], r["status"]) for r in per_item.json()["results"]] == [(0, 409), (1, 202)]
    assert per_item.json()["results"][0]["errors"][0]["rule"] == "id_reused"
    # The first event, then the per-item request's valid one: the 409 batch sent nothing.
    assert len(publisher.records) == 2


def test_a_batch_with_one_bad_event_publishes_nothing(
    client: TestClient, publisher: MemoryPublisher
) -> None:
    bad = event()
    bad["data"]["customer"] = {}
    answer = client.post("/v1/events", json=[event(), bad], headers=auth("writer"))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["pointer"].startswith("/1/data/customer")
    assert publisher.records == []


def test_per_item_results_publish_the_valid_events_and_answer_207(
    client: TestClient, publisher: MemoryPublisher
) -> None:
    answer = client.post(
        "/v1/events",
        params={"per_item": "true"},
        json=[event(), {"id": "x"}],
        headers=auth("writer"),
    )
    assert answer.status_code == 207
    assert [(r["index"], r["status"]) for r in answer.json()["results"]] == [(0, 202), (1, 422)]
    assert len(publisher.records) == 1


def test_ndjson_is_accepted(client: TestClient, publisher: MemoryPublisher) -> None:
    body = "\n".join(json.dumps(event(i)) for i in range(2)) + "\n"
    answer = client.post(
        "/v1/events",
        content=body,
        headers={**auth("writer"), "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 202
    assert len(publisher.records) == 2


def test_limits_give_413_and_422(client: TestClient) -> None:
    big = client.post(
        "/v1/events",
        content=b"[" + b" " * 5000 + b"]",
        headers={**auth("writer"), "Content-Type": "application/json"},
    )
    many = client.post("/v1/events", json=[event()] * 4, headers=auth("writer"))
    assert big.status_code == 413
    assert many.status_code == 422
    assert many.json()["errors"][0]["rule"] == "too_many_items"


def test_kafka_not_acknowledging_gives_503_with_retry_after_and_accepts_nothing(
    client: TestClient, publisher: MemoryPublisher
) -> None:
    publisher.failing = True
    sent = event()
    refused = client.post("/v1/events", json=sent, headers=auth("writer"))
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    publisher.failing = False
    retried = client.post("/v1/events", json=sent, headers=auth("writer"))
    assert retried.status_code == 202, "a refused id was not remembered as accepted"
    metrics = client.get("/metrics").text
    assert 'lifecycle_event_publish_failures_total{reason="KafkaTimeoutError"} 1.0' in metrics


def test_the_inbox_pages_filters_and_reports_expired_actions(
    client: TestClient, runtime: DepartmentRuntime
) -> None:
    action = stored_action(runtime, expires_in=timedelta(hours=1))
    page = client.get("/v1/actions", params={"status": "open", "limit": 1}, headers=auth("reader"))
    assert page.status_code == 200
    [item] = page.json()["items"]
    assert (item["action_id"], item["status"]) == (action.id, "open")
    assert item["summary"].startswith("Enrol the customer in a journey (normal): ")
    assert page.json()["next_after"] == item["cursor"]
    assert (
        client.get("/v1/actions", params={"after": item["cursor"]}, headers=auth("reader")).json()[
            "items"
        ]
        == []
    )
    assert (
        client.get("/v1/actions", params={"status": "bogus"}, headers=auth("reader")).status_code
        == 422
    )


def test_an_expired_action_is_reported_expired_and_takes_no_outcome(
    client: TestClient, runtime: DepartmentRuntime
) -> None:
    example: Any = EXAMPLES[sorted(action_types_for(Department.MARKETING))[1]]
    runtime.store.add_action(example, datetime.now(UTC), "not-configured")  # expired long ago
    listed = client.get("/v1/actions", params={"status": "expired"}, headers=auth("reader")).json()
    assert [i["action_id"] for i in listed["items"]] == [example.id]
    answer = client.post(
        f"/v1/actions/{example.id}/outcome", json={"outcome": "accepted"}, headers=auth("actor")
    )
    assert answer.status_code == 409


def test_outcomes_are_published_once_per_change_and_invalid_transitions_are_409(
    client: TestClient, runtime: DepartmentRuntime, publisher: MemoryPublisher
) -> None:
    action = stored_action(runtime)
    url = f"/v1/actions/{action.id}/outcome"
    declined = {
        "outcome": "declined",
        "reason_code": "not-relevant",
        "reason_text": "already a customer",
    }

    assert client.post(url, json={"outcome": "declined"}, headers=auth("actor")).status_code == 422
    first = client.post(url, json=declined, headers=auth("actor"))
    repeat = client.post(url, json=declined, headers=auth("actor"))
    conflict = client.post(url, json={"outcome": "completed"}, headers=auth("actor"))

    assert first.status_code == 200
    assert first.json()["action"]["status"] == "declined"
    assert repeat.json() == first.json()
    assert conflict.status_code == 409
    [published] = publisher.records
    assert published.topic == "lifecycle.action-outcomes.v1"
    assert json.loads(published.value)["data"]["reason_code"] == "not-relevant"
    assert client.post(url, json=declined, headers=auth("reader")).status_code == 403
    assert (
        client.post("/v1/actions/nope/outcome", json=declined, headers=auth("actor")).status_code
        == 404
    )
    json_type = {**auth("actor"), "Content-Type": "application/json"}
    assert client.post(url, content=b"{", headers=json_type).status_code == 400


@pytest.mark.parametrize(
    ("body", "content_type", "status", "pointer", "rule"),
    [
        (
            b'{"outcome": "failed", "error_code": "x", "retryable": "yes"}',
            "application/json",
            422,
            "/retryable",
            "bool_type",
        ),
        (
            b'{"outcome": "accepted", "outcome": "declined"}',
            "application/json",
            400,
            "/outcome",
            "duplicate_key",
        ),
        (
            b'{"outcome": "completed", '
            b'"value_realised": {"amount_minor": 1e999, "currency": "EUR"}}',
            "application/json",
            400,
            "/value_realised/amount_minor",
            "number_not_finite",
        ),
        (
            b'{"outcome": "completed", "note": NaN}',
            "application/json",
            400,
            "/note",
            "number_not_finite",
        ),
        (b'{"outcome": "completed"}', "text/plain", 415, None, None),
        (b'{"outcome": "completed"}', None, 415, None, None),
    ],
)
def test_the_outcome_endpoint_is_as_strict_as_events(
    client: TestClient,
    runtime: DepartmentRuntime,
    body: bytes,
    content_type: str | None,
    status: int,
    pointer: str | None,
    rule: str | None,
) -> None:
    url = f"/v1/actions/{stored_action(runtime).id}/outcome"
    headers = {**auth("actor"), **({"Content-Type": content_type} if content_type else {})}
    answer = client.post(url, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if pointer is not None:
        assert (pointer, rule) in {(e["pointer"], e["rule"]) for e in answer.json()["errors"]}


def test_an_unknown_native_format_is_404_and_a_bad_payload_names_its_field(
    client: TestClient,
) -> None:
    assert client.post("/v1/native/mailchimp", json={}, headers=auth("writer")).status_code == 404
    bad = client.post("/v1/native/hubspot", json=[{"eventId": 1}], headers=auth("writer"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/0/subscriptionType"


def test_metrics_follow_the_contract_names(client: TestClient, runtime: DepartmentRuntime) -> None:
    stored_action(runtime)
    client.post("/v1/events", json=event(), headers=auth("writer"))
    text = client.get("/metrics").text
    assert (
        'lifecycle_http_requests_total{method="POST",route="/v1/events",status="202"} 1.0' in text
    )
    assert 'lifecycle_http_request_duration_seconds_count{method="POST",route="/v1/events"}' in text
    assert 'lifecycle_events_published_total{type="com.customerlifecycle.marketing.' in text
    assert 'lifecycle_inbox_actions{status="open"} 1.0' in text
    [age] = [
        float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("lifecycle_inbox_oldest_open_action_age_seconds ")
    ]
    assert 0 <= age < 3600, "the open action was stored during this test"
    assert 'lifecycle_webhook_delivery_attempts_total{result="failed"} 0.0' in text


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/events",
        "/v1/actions",
        "/v1/actions/stream",
        "/v1/actions/{action_id}/outcome",
    } <= set(paths)


def test_the_docs_page_loads_everything_from_the_service_itself(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    urls = page_urls(page.text)
    assert "/docs/assets/swagger-ui-bundle.js" in urls
    assert "/openapi.json" in urls
    assert foreign_or_broken_assets(page.text, lambda url: client.get(url).status_code) == []
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN page is not there either


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema of the document that may ``$ref`` its components, as a standalone schema."""
    return {**schema, "components": document["components"]}


def test_events_are_documented_one_schema_per_type_with_the_catalogues_example(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/events"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    one_event = body["schema"]["oneOf"][0]
    mapping = one_event["discriminator"]["mapping"]
    assert one_event["discriminator"]["propertyName"] == "type"
    assert set(mapping) == event_types_for(Department.MARKETING)
    accepted_schema = resolve(
        document, operation["responses"]["202"]["content"]["application/json"]["schema"]
    )
    for record_type, reference in mapping.items():
        component = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
        assert component["properties"]["type"]["const"] == record_type
        [example] = component["examples"]
        jsonschema.validate(example, resolve(document, body["schema"]))
        # The example is a real event: the service takes it, answering as documented.
        answer = client.post("/v1/events", json=example, headers=auth("writer"))
        assert answer.status_code == 202, answer.text
        jsonschema.validate(answer.json(), accepted_schema)
        assert answer.json()["accepted"][0]["type"] == record_type
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**event(), "type": "com.customerlifecycle.sales.deal.won.v1"},
            resolve(document, body["schema"]),
        )
    assert set(body["examples"]) >= {"batch"}


def test_per_item_answers_match_their_documented_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schema = document["paths"]["/v1/events"]["post"]["responses"]["207"]["content"]
    answer = client.post(
        "/v1/events",
        params={"per_item": "true"},
        json=[event(0), {**event(1), "time": "yesterday"}],
        headers=auth("writer"),
    )
    assert answer.status_code == 207
    jsonschema.validate(answer.json(), resolve(document, schema["application/json"]["schema"]))
    assert [r["status"] for r in answer.json()["results"]] == [202, 422]


def test_outcomes_are_documented_one_schema_per_outcome(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/actions/{action_id}/outcome"]["post"]
    schema = resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])
    assert set(schema["discriminator"]["mapping"]) == {
        "accepted",
        "completed",
        "declined",
        "failed",
    }
    declined = document["components"]["schemas"]["DeclinedOutcome"]
    assert set(declined["required"]) == {"outcome", "reason_code", "reason_text"}
    for name in ("AcceptedOutcome", "CompletedOutcome", "DeclinedOutcome", "FailedOutcome"):
        [example] = document["components"]["schemas"][name]["examples"]
        jsonschema.validate(example, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"outcome": "declined"}, schema)  # a decline needs its reason
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"outcome": "accepted", "reason_code": "other"}, schema)


def test_429_and_503_answers_declare_when_to_retry(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert undeclared_retry_headers(document) == []
    declared = document["paths"]["/v1/events"]["post"]["responses"]
    assert {"429", "503"} <= set(declared)


def test_unfinished_actions_past_expiry_are_published_expired_once(
    client: TestClient, runtime: DepartmentRuntime, publisher: MemoryPublisher
) -> None:
    # Not the erase action (index 1): once delivered it would purge the example customer's others.
    example: Any = EXAMPLES[sorted(action_types_for(Department.MARKETING))[2]]
    runtime.store.add_action(example, datetime.now(UTC), "not-configured")  # expired long ago
    live = stored_action(runtime)

    assert runtime.expire_due_actions() == 1
    assert runtime.expire_due_actions() == 0
    [published] = publisher.records
    outcome = json.loads(published.value)
    assert outcome["type"] == "com.customerlifecycle.outcome.expired.v1"
    assert outcome["data"]["action_id"] == example.id
    listed = client.get("/v1/actions", params={"status": "expired"}, headers=auth("reader")).json()
    assert [i["action_id"] for i in listed["items"]] == [example.id]
    assert client.get(f"/v1/actions/{live.id}", headers=auth("reader")).json()["status"] == "open"


def test_expiry_is_retried_when_kafka_does_not_acknowledge(
    runtime: DepartmentRuntime, publisher: MemoryPublisher
) -> None:
    example: Any = EXAMPLES[sorted(action_types_for(Department.MARKETING))[1]]
    runtime.store.add_action(example, datetime.now(UTC), "not-configured")
    publisher.failing = True
    assert runtime.expire_due_actions() == 0
    publisher.failing = False
    assert runtime.expire_due_actions() == 1


def _problem(answer: Any) -> tuple[int, dict[str, Any]]:
    body = answer.json()
    body.pop("instance", None)
    return answer.status_code, body


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer key-nobody"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic key-writer"},
        {"Authorization": "Basic key-writer", "X-API-Key": "key-writer"},
        {"Authorization": "Bearer key-nobody", "X-API-Key": "key-writer"},
        {"X-API-Key": ""},
        {"X-API-Key": "key-sales"},
        {"X-API-Key": "key-reader"},
        {"Authorization": "bearer key-writer"},
    ],
)
def test_the_events_route_checks_keys_as_the_routes_with_the_dependency_do(
    client: TestClient, headers: dict[str, str]
) -> None:
    # POST /v1/events reads its key by hand; /v1/native/{vendor} still has the dependency.
    events = client.post("/v1/events?per_item=maybe", json=event(), headers=headers)
    native = client.post("/v1/native/nobody", json={}, headers=headers)
    if native.status_code in (401, 403):
        assert _problem(events) == _problem(native)
    else:
        assert native.status_code == 404
        assert events.status_code == 422  # the key passed; then per_item is checked


@pytest.mark.parametrize(
    "value", ["true", "TRUE", "1", "yes", "on", "false", "0", "off", "", "maybe"]
)
def test_per_item_is_read_as_a_query_parameter_of_fastapi_would_be(
    client: TestClient, value: str
) -> None:
    twin = FastAPI()
    install_problem_handlers(twin)

    @twin.post("/v1/events")
    def twin_route(per_item: Annotated[bool, Query()] = False) -> dict[str, bool]:
        return {"per_item": per_item}

    expected = TestClient(twin).post("/v1/events", params={"per_item": value})
    answer = client.post(
        "/v1/events", params={"per_item": value}, json=event(), headers=auth("writer")
    )
    if expected.status_code == 200:
        assert answer.status_code == (207 if expected.json()["per_item"] else 202)
    else:
        assert _problem(answer) == _problem(expected)


def test_an_erase_action_purges_the_customers_other_actions_once_delivered(
    client: TestClient, runtime: DepartmentRuntime
) -> None:
    live = stored_action(runtime)  # the example customer's, as the erase action's below
    erase: Any = EXAMPLES[sorted(action_types_for(Department.MARKETING))[1]]
    assert erase.type.endswith("erase-personal-data.v1")
    runtime.store.add_action(erase, datetime.now(UTC), "not-configured")
    # Stored, not delivered: the department still finds its earlier actions (and identifiers).
    assert client.get(f"/v1/actions/{live.id}", headers=auth("reader")).status_code == 200
    listed = client.get("/v1/actions", params={"limit": 200}, headers=auth("reader")).json()
    assert erase.id in [i["action_id"] for i in listed["items"]]
    # Delivered with that page: the rest of the customer's inbox is gone, the erase action stays.
    assert client.get(f"/v1/actions/{live.id}", headers=auth("reader")).status_code == 404
    assert client.get(f"/v1/actions/{erase.id}", headers=auth("reader")).status_code == 200


def test_a_scrape_has_process_metrics_and_no_created_series(client: TestClient) -> None:
    assert client.post("/v1/events", json=event(), headers=auth("writer")).status_code == 202
    families = list(text_string_to_metric_families(client.get("/metrics").text))
    names = {sample.name for family in families for sample in family.samples}
    assert "lifecycle_http_requests_total" in names
    assert "lifecycle_http_request_duration_seconds_count" in names
    assert not [name for name in names if name.endswith("_created")]
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names


class JsonLines(logging.Handler):
    """Keeps each record as the JSON line the services write."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_every_answer_names_its_request_and_so_does_every_line_logged_for_it(
    client: TestClient,
) -> None:
    lines = JsonLines()
    requests_logger = logging.getLogger("service_kit.http")  # the request line of each answer
    level = requests_logger.level
    requests_logger.setLevel(logging.INFO)
    requests_logger.addHandler(lines)
    try:
        given = client.get("/v1/actions", headers={"X-Request-ID": "crm-sync.4711"})
        made = client.post("/v1/events", json={"type": "nonsense"}, headers=auth("writer"))
        forged = client.get("/v1/actions", headers={"X-Request-ID": "a b\nlevel=error"})
    finally:
        requests_logger.removeHandler(lines)
        requests_logger.setLevel(level)
    assert given.status_code == 401
    assert given.headers["X-Request-ID"] == "crm-sync.4711"
    assert made.status_code == 422
    assert len(made.headers["X-Request-ID"]) == 16
    assert forged.headers["X-Request-ID"] != "a b\nlevel=error"  # replaced, never echoed
    assert client.get("/healthz").headers["X-Request-ID"] != made.headers["X-Request-ID"]
    logged = {line["request_id"] for line in lines.lines if line["message"] == "request"}
    assert {"crm-sync.4711", made.headers["X-Request-ID"], forged.headers["X-Request-ID"]} <= logged
    assert len(lines.lines) >= 3
