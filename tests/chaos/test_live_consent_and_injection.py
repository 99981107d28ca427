"""Consent and injection through running processes: real services, a real worker, a real broker.

The pure tests (``test_consent.py``, ``test_injection.py``) replay the contract examples through
the core; these post events over HTTP to the department services with the development keys and
read the outcome where departments and people see it: the department inboxes and the
orchestrator's customer API.

- Consent: a customer who withdrew e-mail consent through the marketing service, then won a deal
  and looked at a product, gets no e-mail action in any inbox, while a control customer who gave
  consent the same way gets at least one (else the test proves nothing).
- Injection: one customer's events carry ``${...}``, ``{{...}}`` and CEL fragments in every
  free-text field, a second customer's the same events as written in the contract examples. Both
  end with the same segments and the same (action type, play) in the inboxes, and the strings
  are on the worker's events-by-customer topic unchanged (no API shows free text).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaos.injection_strings import INJECTIONS, free_text_fields

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.department_services import DevKeys, ServiceProcess, inbox, poll_until, post
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_io import Kafka
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.playbooks import NOBODY_HELD_OUT, edited_playbook
from orchestrator.core.identity import new_customer_id
from orchestrator.core.playbook import load_playbook, short_type

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]

TOKEN = uuid.uuid4().hex[:8]
DEPARTMENT_OF_PREFIX = {
    "sales": Department.SALES,
    "marketing": Department.MARKETING,
    "servicedesk": Department.SERVICE_DESK,
}
APPLY_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def playbook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default playbook with nobody held out, so every decided action reaches an inbox."""
    target = tmp_path_factory.mktemp("playbook") / "playbook"
    return edited_playbook(target, {"policy.yaml": NOBODY_HELD_OUT})


@pytest.fixture(scope="module")
def worker(make_worker: Callable[..., Worker]) -> Worker:
    """One worker for the module: a second one would only add a rebalance."""
    return make_worker()


@pytest.fixture
def services(
    namespace: KafkaNamespace, start_service: StartService
) -> dict[Department, ServiceProcess]:
    started = {
        d: start_service(d, namespace.bootstrap_servers, namespace.prefix) for d in Department
    }
    for service in started.values():
        service.wait_ready()
    return started


def customer_of(crm: str) -> tuple[dict[str, str], str]:
    """A customer known by a CRM id and an e-mail address, and the id the worker gives it."""
    return (
        {"crm_account_id": crm, "email": f"{crm}@example.com"},
        new_customer_id(f"crm_account_id:{crm}"),
    )


def applied_events(worker: Worker, customer_id: str) -> int:
    """How many department events the worker has applied to the customer (0 while unknown)."""
    answer = httpx.get(
        f"{worker.url}/v1/customers/{customer_id}/timeline", timeout=15, headers=TEST_KEYS.headers()
    )
    if answer.status_code == 404:
        return 0
    return sum(1 for entry in answer.json()["timeline"] if entry["kind"] == "event")


def wait_applied(worker: Worker, customer_id: str, count: int) -> None:
    """Until the worker has applied ``count`` events: the next one must come after them."""
    poll_until(lambda: applied_events(worker, customer_id) >= count, APPLY_DEADLINE_S)


def sent_action_ids(worker: Worker, customer_id: str) -> set[str]:
    """The ids of the actions the worker decided to send to the customer's departments."""
    decisions = httpx.get(
        f"{worker.url}/v1/customers/{customer_id}/decisions",
        timeout=15,
        headers=TEST_KEYS.headers(),
    )
    return {
        candidate["action_id"]
        for decision in decisions.json()["decisions"]
        for candidate in decision["candidates"]
        if candidate["verdict"] == "won" and candidate["action_id"]
    }


def inboxes(
    services: dict[Department, ServiceProcess], keys: DevKeys, customer_id: str
) -> list[dict[str, Any]]:
    """The customer's actions in every department's inbox."""
    return [a for s in services.values() for a in inbox(s, keys, customer_id)]


def all_delivered(
    worker: Worker,
    services: dict[Department, ServiceProcess],
    keys: DevKeys,
    customer_id: str,
) -> list[dict[str, Any]]:
    """The customer's inbox actions once every action the worker sent is in one (else empty)."""
    sent = sent_action_ids(worker, customer_id)
    found = inboxes(services, keys, customer_id)
    return found if sent and sent <= {a["action_id"] for a in found} else []


def channel_of(action: dict[str, Any], contact_kinds: dict[str, Any]) -> str | None:
    """The channel an inbox action contacts the customer on (as the pure consent test reads it)."""
    data = action["record"]["data"]
    kind = contact_kinds.get(short_type(action["type"]))
    channel = data.get("parameters", {}).get("channel") or (kind.channel if kind else None)
    return None if channel is None else str(channel)


def test_withdrawn_email_consent_stops_email_actions_in_every_inbox(
    worker: Worker,
    services: dict[Department, ServiceProcess],
    dev_keys: DevKeys,
    playbook_dir: Path,
) -> None:
    contact_kinds = dict(load_playbook(playbook_dir).policy.contact_kinds)
    sales, marketing = services[Department.SALES], services[Department.MARKETING]
    control, control_id = customer_of(f"crm-consent-ok-{TOKEN}")
    withdrawn, withdrawn_id = customer_of(f"crm-consent-no-{TOKEN}")

    # Given consent for e-mail granted by one customer and withdrawn by the other, then for both
    # a deal won (onboarding journey, e-mail) and a product page visited (offer, e-mail).
    steps = (
        (marketing, "marketing.consent.changed"),
        (sales, "sales.deal.won"),
        (marketing, "marketing.web.page-visited"),
    )
    for done, (service, short) in enumerate(steps, start=1):
        for customer, customer_id, status in (
            (control, control_id, "granted"),
            (withdrawn, withdrawn_id, "withdrawn"),
        ):
            fields = {"channel": "email", "status": status} if "consent" in short else {}
            post(service, dev_keys, short, customer, **fields)
            wait_applied(worker, customer_id, done)

    # Then the control customer is contacted by e-mail (the test is not vacuous) ...
    control_actions = poll_until(
        partial(all_delivered, worker, services, dev_keys, control_id), APPLY_DEADLINE_S
    )
    assert "email" in {channel_of(a, contact_kinds) for a in control_actions}, control_actions
    # ... and the withdrawn one on no e-mail action, once all the worker sent has arrived.
    withdrawn_actions = poll_until(
        partial(all_delivered, worker, services, dev_keys, withdrawn_id), APPLY_DEADLINE_S
    )
    assert "email" not in {channel_of(a, contact_kinds) for a in withdrawn_actions}, [
        (a["type"], a["record"]["data"]["parameters"]) for a in withdrawn_actions
    ]
    # The withdrawal itself got through: promotions stopped on e-mail.
    assert any(a["record"]["data"]["play_id"] == "consent-withdrawn" for a in withdrawn_actions), (
        withdrawn_actions
    )


def injection_events() -> list[tuple[str, dict[str, Any], list[str]]]:
    """(short type, example data, free-text fields) of every example with free text, in order.

    A deal won first, so the customer is a customer for the plays that ask for one.
    """
    examples = sorted(
        (r for r in EXAMPLES.values() if isinstance(r, DepartmentEvent)), key=lambda r: r.time
    )
    chosen = [EXAMPLES["com.customerlifecycle.sales.deal.won.v1"]]
    chosen += [e for e in examples if "erasure" not in e.type and e not in chosen]
    events = []
    for example in chosen:
        document = json.loads(encode_record(example))
        fields = free_text_fields(document, INJECTIONS[0])
        if fields or example is chosen[0]:
            events.append((short_type(example.type), document["data"], fields))
    return events


def events_on_customer_topic(kafka: Kafka, customer_id: str, count: int) -> list[dict[str, Any]]:
    """The customer's events as the worker re-keyed them onto the events-by-customer topic."""

    def mine(messages: list[Any]) -> list[dict[str, Any]]:
        return [
            json.loads(m.value)
            for m in messages
            if m.key == customer_id.encode() and m.value is not None
        ]

    messages = kafka.read([TOPICS.events_by_customer.name], lambda ms: len(mine(ms)) >= count)
    return mine(messages)


def test_injection_strings_through_the_services_stay_data(
    worker: Worker,
    services: dict[Department, ServiceProcess],
    dev_keys: DevKeys,
    kafka_io: Kafka,
) -> None:
    plain, plain_id = customer_of(f"crm-plain-{TOKEN}")
    attacker, attacker_id = customer_of(f"crm-inject-{TOKEN}")
    events = injection_events()
    assert sum(len(fields) for _, _, fields in events) >= 10, events
    injected_values: dict[str, list[str]] = {}

    # Given the same events for both customers, free text plain for one, injected for the other
    # (the strings taken in turn, so each is tried in several fields).
    turn = 0
    for done, (short, data, fields) in enumerate(events, start=1):
        department = DEPARTMENT_OF_PREFIX[short.split(".")[0]]
        example_fields = {n: v for n, v in data.items() if n != "customer"}
        post(services[department], dev_keys, short, plain, **example_fields)
        texts = {}
        for name in fields:
            texts[name] = INJECTIONS[turn % len(INJECTIONS)]
            turn += 1
        injected_values[short] = [texts[n] for n in fields]
        post(services[department], dev_keys, short, attacker, **{**example_fields, **texts})
        wait_applied(worker, plain_id, done)
        wait_applied(worker, attacker_id, done)

    # Then both end with the same segments and the same (action type, play) in the inboxes.
    def segments(customer_id: str) -> list[str]:
        answer = httpx.get(
            f"{worker.url}/v1/customers/{customer_id}", timeout=15, headers=TEST_KEYS.headers()
        ).json()
        return sorted(answer["segments"])

    assert segments(attacker_id) == segments(plain_id)
    outcomes = {}
    for customer_id in (plain_id, attacker_id):
        delivered = poll_until(
            partial(all_delivered, worker, services, dev_keys, customer_id), APPLY_DEADLINE_S
        )
        outcomes[customer_id] = sorted(
            (a["type"], a["record"]["data"]["play_id"]) for a in delivered
        )
    assert outcomes[plain_id], "no action reached an inbox: the comparison would prove nothing"
    assert outcomes[attacker_id] == outcomes[plain_id]

    # And the strings travel as data: unchanged on the topic the worker decides from.
    on_topic = events_on_customer_topic(kafka_io, attacker_id, len(events))
    for record in on_topic:
        short = short_type(record["type"])
        fields = next(f for s, _, f in events if s == short)
        assert [record["data"][n] for n in fields] == injected_values[short], record
