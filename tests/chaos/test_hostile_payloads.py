"""Hostile payloads against running department services: every answer 2xx or a 4xx problem,
never a 5xx (issue 13).

hypothesis mutates real vendor webhooks (HubSpot, Pipedrive, Zendesk), canonical events (one, a
JSON array, NDJSON) and outcome bodies: any value may become an extreme number (1e20, 10^400,
-10^15, 1e999 as a number or as text), a list, an object, a deeply nested value, text or null;
keys may go missing; raw bodies add NaN, duplicate keys and nesting 10,000 deep. Each example is
one real HTTP request to a real service process (on the session's broker); a 4xx must be
problem details, and a 400 or 422 must name at least one field (a pointer, "" for the whole
body). The example counts are small: CI time is spent where the failures were.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lifecycle_schemas.catalogue import action_types_for
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
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.paths import REPOSITORY_ROOT

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
FIXTURES = REPOSITORY_ROOT / "tests" / "unit" / "departments" / "fixtures"
VENDORS = {
    Department.MARKETING: ("hubspot", ["hubspot_contact_events.json"]),
    Department.SALES: (
        "pipedrive",
        [
            "pipedrive_v2_deal_created.json",
            "pipedrive_v2_deal_won.json",
            "pipedrive_v2_deal_lost.json",
            "pipedrive_v2_deal_stage_changed.json",
        ],
    ),
    Department.SERVICE_DESK: (
        "zendesk",
        ["zendesk_ticket_created.json", "zendesk_ticket_solved.json"],
    ),
}
EXAMPLES_PER_FORMAT = 100
EXTREMES: list[Any] = [
    10**20,
    1e20,
    10**400,
    -(10**15),
    -1,
    0,
    1.5e308,
    "1e999",
    "-1e999",
    "NaN",
    "9" * 400,
    "",
    " ",
    True,
    None,
    [],
    {},
    [1, 2, 3],
    {"a": {"b": {"c": []}}},
    "x" * 5000,
    "2026-13-45T99:99:99Z",
    "+99999-01-01T00:00:00",
    "\u0000\ud7ff\ufffd",
]


def hypothesis_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same inputs on every run: a failure is reproducible
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )


def leaf_paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``document``, containers included."""
    paths = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            paths.extend(leaf_paths(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            paths.extend(leaf_paths(value, (*prefix, index)))
    return paths


def replaced(document: Any, path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced (or its key dropped)."""
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if drop and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return copy


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


values = st.one_of(
    st.sampled_from(EXTREMES),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.builds(nested, st.integers(min_value=10, max_value=200)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    ),
)


@st.composite
def mutated(draw: st.DrawFn, originals: list[Any]) -> bytes:
    """A real document with up to three values replaced or dropped, as JSON bytes."""
    document = draw(st.sampled_from(originals))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(leaf_paths(document)))
        document = replaced(document, path, draw(values), drop=draw(st.booleans()))
    return json.dumps(document, allow_nan=False).encode()


RAW_BODIES = [
    b'{"a": NaN}',
    b'{"a": 1e999}',
    b'{"a": 1, "a": 2}',
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"1" * 5000,
    b"\xff\xfe\x00",
    b"",
    b"null",
    b'"text"',
    b"[]",
    b"{}",
]


def raw_or_mutated(originals: list[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(RAW_BODIES), mutated(originals), mutated(originals))


def check_answer(answer: httpx.Response, what: str) -> None:
    """2xx, or a 4xx problem (naming a field when the body was refused); never a 5xx."""
    assert answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:500]}"
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("application/problem+json"), what
        problem = answer.json()
        if answer.status_code in (400, 422):
            pointers = [e["pointer"] for e in problem.get("errors", [])]
            assert pointers, f"{what}: no field named: {answer.text[:500]}"


@pytest.fixture(scope="module")
def services(
    namespace: KafkaNamespace, dev_keys: DevKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Department, ServiceProcess]]:
    """One service per department for the module (hypothesis calls them many times)."""
    base = tmp_path_factory.mktemp("hostile")
    started: dict[Department, ServiceProcess] = {}
    try:
        for department in Department:
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": namespace.bootstrap_servers,
                "LIFECYCLE_TOPIC_PREFIX": namespace.prefix,
                "DEPARTMENT_DATA_DIR": str(base / department.value),
                "LIFECYCLE_API_KEYS_FILE": str(dev_keys.hashed_file),
                "DEPARTMENT_PUBLISH_TIMEOUT_S": "3",
            }
            started[department] = ServiceProcess(
                department, env, base / f"{department.value}.log"
            ).start(timeout_s=90)
        for service in started.values():
            service.wait_ready(timeout_s=120)
        yield started
    finally:
        for service in started.values():
            service.stop()


def fixtures(names: list[str]) -> list[Any]:
    return [json.loads((FIXTURES / name).read_text())["payload"] for name in names]


# Every field of every fixture is also tried with each of these (the shapes of the 500s issue 13
# reported: huge and negative times, numbers no float holds, a list where an object was).
EVERY_FIELD_WITH = [10**20, 1e20, 10**400, -(10**15), "1e999", [1], {"a": 1}, None]
NOT_A_FLOAT = "__not_a_float__"


def every_field_replaced(originals: list[Any]) -> Iterator[bytes]:
    """Each fixture with one field at a time set to each shape (and to the bare number 1e999,
    which JSON writers refuse to write)."""
    for document in originals:
        for path in leaf_paths(document)[1:]:
            for value in [*EVERY_FIELD_WITH, NOT_A_FLOAT]:
                text = json.dumps(replaced(document, path, value, drop=False))
                yield text.replace(f'"{NOT_A_FLOAT}"', "1e999").encode()


@pytest.mark.parametrize("department", list(Department), ids=lambda d: d.value)
def test_native_webhooks_never_answer_5xx(
    department: Department, services: dict[Department, ServiceProcess], dev_keys: DevKeys
) -> None:
    vendor, names = VENDORS[department]
    service = services[department]
    url = f"{service.base_url}/v1/native/{vendor}"
    headers = {**dev_keys.headers(department), "Content-Type": "application/json"}
    originals = fixtures(names)
    with httpx.Client(timeout=30) as client:
        for body in every_field_replaced(originals):
            check_answer(client.post(url, content=body, headers=headers), f"{vendor} {body!r}")

        @hypothesis_settings(EXAMPLES_PER_FORMAT)
        @given(body=raw_or_mutated(originals))
        def post(body: bytes) -> None:
            check_answer(
                client.post(url, content=body, headers=headers), f"{vendor} {body[:300]!r}"
            )

        post()


def canonical_events(department: Department) -> list[Any]:
    events = []
    for record in EXAMPLES.values():
        if record.type.startswith(f"com.customerlifecycle.{department.value.replace('-', '')}."):
            document = json.loads(encode_record(record))
            events.append({k: document[k] for k in ("id", "type", "time", "data")})
    return events


@pytest.mark.parametrize("department", list(Department), ids=lambda d: d.value)
def test_events_in_json_and_ndjson_never_answer_5xx(
    department: Department, services: dict[Department, ServiceProcess], dev_keys: DevKeys
) -> None:
    service = services[department]
    url = f"{service.base_url}/v1/events"
    originals = canonical_events(department)
    assert originals, department
    with httpx.Client(timeout=30) as client:

        @hypothesis_settings(EXAMPLES_PER_FORMAT)
        @given(
            body=raw_or_mutated(originals),
            shape=st.sampled_from(["one", "array", "ndjson"]),
        )
        def post(body: bytes, shape: str) -> None:
            if shape == "array":
                body = b"[" + body + b"]"
            content_type = "application/x-ndjson" if shape == "ndjson" else "application/json"
            if shape == "ndjson":
                body = body + b"\n" + body
            headers = {**dev_keys.headers(department), "Content-Type": content_type}
            check_answer(client.post(url, content=body, headers=headers), f"{shape} {body[:300]!r}")

        post()


OUTCOMES = [
    {"outcome": "accepted", "assignee": {"department": "sales", "owner_id": "u-1"}},
    {
        "outcome": "completed",
        "result_code": "done",
        "value_realised": {"amount_minor": 100, "currency": "EUR"},
    },
    {"outcome": "declined", "reason_code": "not-relevant", "reason_text": "no"},
    {"outcome": "failed", "error_code": "x", "error_text": "y", "retryable": True},
]


def test_the_outcome_endpoint_never_answers_5xx(
    namespace: KafkaNamespace, services: dict[Department, ServiceProcess], dev_keys: DevKeys
) -> None:
    department = Department.SALES
    service = services[department]
    headers = dev_keys.headers(department)
    index = next(i for i, t in enumerate(sorted(action_types_for(department))) if "erase" not in t)
    fresh = fresh_action(department, index)
    produce(namespace.bootstrap_servers, namespace.topic(actions_topic_for(department)), [fresh])
    action_url = f"{service.base_url}/v1/actions/{fresh.id}"
    poll_until(lambda: httpx.get(action_url, headers=headers).status_code == 200, 30)
    with httpx.Client(timeout=30) as client:

        @hypothesis_settings(EXAMPLES_PER_FORMAT)
        @given(
            body=raw_or_mutated(OUTCOMES),
            content_type=st.sampled_from(
                ["application/json", "text/plain", "application/json; charset=utf-8"]
            ),
        )
        def post(body: bytes, content_type: str) -> None:
            answer = client.post(
                f"{action_url}/outcome",
                content=body,
                headers={**headers, "Content-Type": content_type},
            )
            check_answer(answer, f"outcome {content_type} {body[:300]!r}")
            if content_type == "text/plain":
                assert answer.status_code == 415

        post()


def test_nothing_in_the_services_logs_says_a_request_failed(
    services: dict[Department, ServiceProcess],
) -> None:
    # After the runs above (same module): no unhandled exception was logged by any service.
    for service in services.values():
        log = Path(service.log_path).read_text()
        assert "Exception in ASGI application" not in log, service.department
