"""Customer search on two real workers: whatever identifier a person types (a bare CRM account,
help-desk requester or marketing contact id, a customer id, an e-mail in any case, a formatted
phone number) finds the customer from either worker; a key nothing matches is a 404 that says
what it was tried as. The decisions served carry the facts behind each chosen action."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from lifecycle_testing.orchestrator_worker import TEST_KEYS
from lifecycle_testing.processes import poll_json
from lifecycle_testing.waiting import eventually

pytestmark = pytest.mark.kafka

CUSTOMERS = 10  # 8 partitions, 2 workers: every customer owned by one side is ~1 in 500
SEARCH_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def workers(make_worker: Callable[..., Any]) -> tuple[Any, Any]:
    return make_worker(), make_worker()


def phone_of(n: int) -> tuple[str, str]:
    """A UK number as a person types it, and as the contracts store it (E.164)."""
    return f"+44 20 7946 {n:04d}", f"+44207946{n:04d}"


def problem_of(url: str, headers: dict[str, str]) -> Any:
    """The problem details of a 404 (polled: a worker may still be settling its partitions)."""

    def answer() -> tuple[int, bytes]:
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    _, body = eventually(
        answer,
        lambda status_and_body: status_and_body[0] == 404,
        timeout_s=SEARCH_TIMEOUT_S,
        interval_s=0.25,
        what=f"a 404 from {url}",
    )
    return json.loads(body)


def test_any_identifier_typed_bare_finds_the_customer_on_either_worker(
    workers: tuple[Any, Any], kafka_io: Any
) -> None:
    people = []
    for n in range(CUSTOMERS):
        ids = kafka_io.unique(f"search{n}")
        typed_phone, _ = phone_of(n)
        email = ids["email"]
        kafka_io.publish(
            kafka_io.event(
                "sales.deal.won",
                {"crm_account_id": ids["crm"], "email": email, "phone": typed_phone},
            ),
            kafka_io.event(
                "servicedesk.case.opened", {"helpdesk_requester_id": ids["desk"], "email": email}
            ),
            kafka_io.event(
                "marketing.contact.captured", {"marketing_contact_id": ids["mkt"], "email": email}
            ),
        )
        people.append((ids, typed_phone))
    served_by: set[str] = set()
    deadline = time.monotonic() + SEARCH_TIMEOUT_S
    for ids, typed_phone in people:
        # Whichever event came first made the customer id; the e-mail links the three systems.
        linked = poll_json(
            f"{workers[0].url}/v1/customers/crm_account_id:{ids['crm']}",
            lambda b: len(b.get("identifiers", [])) == 5,
            max(1.0, deadline - time.monotonic()),
            headers=TEST_KEYS.headers(),
        )
        customer_id = linked["customer_id"]
        typed = [ids["crm"], ids["desk"], ids["mkt"], customer_id, ids["email"].upper()]
        for worker in workers:
            for key in [*typed, typed_phone]:
                body = poll_json(
                    f"{worker.url}/v1/customers/{quote(key, safe='')}",
                    lambda b, cid=customer_id: b.get("customer_id") == cid,
                    max(1.0, deadline - time.monotonic()),
                    headers=TEST_KEYS.headers(),
                )
                served_by.add(body["served_by"])
            # The sub-resources resolve a bare key the same way.
            decisions = worker.get(f"/v1/customers/{quote(ids['desk'], safe='')}/decisions")
            assert decisions["customer_id"] == customer_id
    # Both workers own some customers, and each found the other's by every key.
    assert served_by == {w.url for w in workers}, json.dumps(sorted(served_by))


def test_decisions_carry_the_facts_behind_the_chosen_actions(
    workers: tuple[Any, Any], kafka_io: Any
) -> None:
    ids, customer_id = kafka_io.customer_who_bought("facts")
    body = poll_json(
        f"{workers[0].url}/v1/customers/{ids['crm']}/decisions",
        lambda b: any(d.get("facts") for d in b.get("decisions", [])),
        SEARCH_TIMEOUT_S,
        headers=TEST_KEYS.headers(),
    )
    assert body["customer_id"] == customer_id
    onboarding = next(
        d for d in body["decisions"] if d["candidates"][0]["play_id"] == "deal-won-onboarding"
    )
    assert onboarding["candidates"][0]["verdict"] == "won"
    assert "onboarding" in onboarding["facts"]["segments"].split(",")
    assert onboarding["facts"]["ltv"] > 0


def test_a_key_nothing_matches_is_a_404_that_says_what_was_tried(
    workers: tuple[Any, Any],
) -> None:
    for worker in workers:
        problem = problem_of(
            f"{worker.url}/v1/customers/acc-nobody-has-this", headers=TEST_KEYS.headers()
        )
        for kind in ("customer_id", "crm_account_id", "helpdesk_requester_id"):
            assert kind in problem["detail"]
        assert "marketing_contact_id" in problem["detail"]
        problem = problem_of(
            f"{worker.url}/v1/customers/nobody%40example.com", headers=TEST_KEYS.headers()
        )
        assert problem["detail"].endswith("tried it as email")
