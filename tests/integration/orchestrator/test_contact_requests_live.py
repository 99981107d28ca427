"""Contact requests through running processes: department services (HTTP) ask a worker on the
real broker, which decides and reserves in order with the customer's events and answers on the
department's contact-decisions topic; without a worker, each purpose gets its fallback."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from lifecycle_schemas.departments import Department
from lifecycle_schemas.outputs import ContactDecided
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.department_services import DevKeys, ServiceProcess, post, read_topic
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_io import unique
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.processes import poll_json, scraped_samples

pytestmark = pytest.mark.kafka

TIMEOUT_S = 30.0
# Long enough for a worker on a busy machine; the fallback test waits 1 s.
ANSWER_WAIT = {"DEPARTMENT_CONTACT_TIMEOUT_S": "20"}


@pytest.fixture(scope="module")
def worker(make_worker: Callable[..., Worker]) -> Worker:
    return make_worker()


def ask(
    service: ServiceProcess,
    keys: DevKeys,
    customer: dict[str, str],
    *,
    channel: str = "email",
    purpose: str = "promotional",
) -> dict[str, Any]:
    """POST /v1/contact-requests; the answer's body."""
    response = httpx.post(
        f"{service.base_url}/v1/contact-requests",
        json={"customer": customer, "channel": channel, "purpose": purpose},
        headers=keys.headers(service.department),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def customer_view(worker: Worker, email: str, accept: Callable[[Any], object]) -> Any:
    return poll_json(
        f"{worker.url}/v1/customers/email:{email}", accept, TIMEOUT_S, headers=TEST_KEYS.headers()
    )


def test_departments_ask_the_worker_that_owns_the_customer(
    worker: Worker,
    namespace: KafkaNamespace,
    start_service: Callable[..., ServiceProcess],
    dev_keys: DevKeys,
) -> None:
    bootstrap, prefix = namespace.bootstrap_servers, namespace.prefix
    marketing = start_service(Department.MARKETING, bootstrap, prefix, **ANSWER_WAIT)
    desk = start_service(Department.SERVICE_DESK, bootstrap, prefix, **ANSWER_WAIT)
    marketing.wait_ready()
    desk.wait_ready()

    # Two departments race for the last of the three promotional e-mails a week: one wins.
    racer = unique("race")
    at_marketing = {"email": racer["email"]}
    at_desk = {"helpdesk_requester_id": racer["desk"], "email": racer["email"]}
    first = ask(marketing, dev_keys, at_marketing)
    assert (first["decision"], first["reason_code"]) == ("allow", "unknown-customer")
    assert ask(marketing, dev_keys, at_marketing)["reason_code"] == "within-policy"
    with ThreadPoolExecutor(2) as pool:
        raced = list(
            pool.map(
                lambda asked: ask(asked[0], dev_keys, asked[1]),
                [(marketing, at_marketing), (desk, at_desk)],
            )
        )
    assert sorted((a["decision"], a["reason_code"]) for a in raced) == [
        ("allow", "within-policy"),
        ("deny", "frequency-cap"),
    ]
    # Every request is in the decision log with its verdict.
    decided = read_topic(
        bootstrap,
        TOPICS.decision_log.name_in(prefix),
        lambda records: len(contact_decisions(records, first["customer_id"])) == 4,
        TIMEOUT_S,
    )
    assert sorted(
        r.value["data"]["decision"] for r in contact_decisions(decided, first["customer_id"])
    ) == ["allow", "allow", "allow", "deny"]

    # An urgent case open: a promotional e-mail is denied with its reason, a service one allowed.
    urgent = unique("urgent")
    post(
        desk,
        dev_keys,
        "servicedesk.case.opened",
        {"helpdesk_requester_id": urgent["desk"], "email": urgent["email"]},
        priority="P1",
    )
    customer_view(worker, urgent["email"], lambda body: len(body.get("open_cases", {})) == 1)
    promotion = ask(marketing, dev_keys, {"email": urgent["email"]})
    assert (promotion["decision"], promotion["reason_code"]) == ("deny", "open-urgent-case")
    assert promotion["reason"] == "no promotion while a P1 or P2 case is open"
    service = ask(marketing, dev_keys, {"email": urgent["email"]}, purpose="service")
    assert (service["decision"], service["reason_code"]) == ("allow", "within-policy")

    # Consent withdrawn: denied.
    withdrawn = unique("consent")
    post(
        marketing,
        dev_keys,
        "marketing.consent.changed",
        {"email": withdrawn["email"]},
        channel="email",
        status="withdrawn",
    )
    customer_view(
        worker,
        withdrawn["email"],
        lambda body: body.get("consents", {}).get("email", {}).get("status") == "withdrawn",
    )
    refused = ask(marketing, dev_keys, {"email": withdrawn["email"]}, purpose="service")
    assert (refused["decision"], refused["reason_code"]) == ("deny", "no-consent")

    # A campaign's batch: a verdict per customer, in their order.
    emails = [unique("batch")["email"] for _ in range(25)]
    response = httpx.post(
        f"{marketing.base_url}/v1/contact-requests/batch",
        json={
            "customers": [{"email": email} for email in emails],
            "channel": "email",
            "purpose": "promotional",
            "campaign_id": "cmp-live-test",
        },
        headers=dev_keys.headers(Department.MARKETING),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(25))
    assert {(r["decision"], r["reason_code"]) for r in results} == {("allow", "unknown-customer")}


def contact_decisions(records: list[Any], customer_id: str) -> list[Any]:
    return [
        r
        for r in records
        if r.value["type"] == ContactDecided.record_type()
        and r.value["data"]["customer_id"] == customer_id
    ]


def test_without_an_answer_promotions_fail_closed_and_service_contacts_fail_open(
    kafka: KafkaNamespace, start_service: Callable[..., ServiceProcess], dev_keys: DevKeys
) -> None:
    """No worker runs in this namespace: nobody answers (the orchestrator is stopped)."""
    marketing = start_service(
        Department.MARKETING,
        kafka.bootstrap_servers,
        kafka.prefix,
        DEPARTMENT_CONTACT_TIMEOUT_S="1",
    )
    marketing.wait_ready()
    customer = {"email": unique("alone")["email"]}
    promotion = ask(marketing, dev_keys, customer)
    assert (promotion["decision"], promotion["reason_code"]) == ("deny", "orchestrator-timeout")
    assert promotion["expires_at"] is None
    service = ask(marketing, dev_keys, customer, purpose="service")
    assert (service["decision"], service["reason_code"]) == ("allow", "orchestrator-timeout")
    fallbacks = {
        (s.labels["purpose"], s.labels["decision"], s.labels["cause"]): s.value
        for s in scraped_samples(marketing.base_url)
        if s.name == "lifecycle_contact_request_fallbacks_total"
    }
    assert fallbacks == {
        ("promotional", "deny", "orchestrator-timeout"): 1.0,
        ("service", "allow", "orchestrator-timeout"): 1.0,
    }
