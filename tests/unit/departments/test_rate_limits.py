"""Per-key rate limits of a department service (in process) and the stream slots behind the
per-key cap on concurrent action streams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from department_kit.app import create_app
from department_kit.runtime import DepartmentRuntime
from department_kit.settings import DepartmentSettings
from lifecycle_schemas.departments import Department
from marketing_service.department import SPEC as MARKETING
from service_kit.api_keys import Scope, hash_key
from service_kit.problems import ProblemError
from service_kit.rate_limits import RateLimits, StreamSlots, check_rate_limit


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    keys = [
        {
            "id": name,
            "department": "marketing",
            "scopes": [Scope.ACTIONS_READ.value],
            "sha256": hash_key(name),
        }
        for name in ("first", "second")
    ]
    settings = DepartmentSettings(
        department=Department.MARKETING,
        port=8101,
        data_dir=tmp_path,
        api_keys_json=json.dumps({"keys": keys}),
        rate_limit="3/minute",
    )
    with TestClient(create_app(DepartmentRuntime(MARKETING, settings), background=False)) as test:
        yield test


def test_a_key_past_its_limit_gets_429_with_retry_after_and_others_are_not_slowed(
    client: TestClient,
) -> None:
    first = {"Authorization": "Bearer first"}
    answers = [client.get("/v1/actions", headers=first) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert all(a.headers["RateLimit-Limit"] == "3" for a in answers)
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/rate-limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Limits are per key: another key of the same department is answered.
    assert client.get("/v1/actions", headers={"Authorization": "Bearer second"}).status_code == 200


def test_requests_without_a_valid_key_do_not_use_up_a_keys_limit(client: TestClient) -> None:
    for _ in range(5):
        assert (
            client.get("/v1/actions", headers={"Authorization": "Bearer nobody"}).status_code == 401
        )
    assert client.get("/v1/actions", headers={"Authorization": "Bearer first"}).status_code == 200


@pytest.mark.parametrize("text", ["", "fast", "10/fortnight", "-1/second"])
def test_a_rate_limit_the_limits_library_cannot_read_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a rate limit"):
        check_rate_limit(text)


def test_the_tightest_of_several_limits_is_reported() -> None:
    limits = RateLimits("100/second;2/minute")
    headers = limits.hit("k")
    assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("2", "1")


def test_stream_slots_are_per_key_and_given_back() -> None:
    slots = StreamSlots(per_key=2)
    slots.claim("a")
    slots.claim("a")
    with pytest.raises(ProblemError) as refused:
        slots.claim("a")
    assert refused.value.status == 429
    slots.claim("b")
    slots.release("a")
    with slots.held("a"):
        assert slots.open_for("a") == 2
    assert slots.open_for("a") == 1
