"""Given the images and deploy/docker-compose.yml, the whole system runs in containers.

An event posted through the marketing container comes back as a coordinated action in the
sales container's inbox: Kafka, the topics job, the orchestrator and both department services
work together across the compose network, reached from the host through published ports. The
orchestrator's API answers the operator key on its allowed names and keeps its internal routes
to holders of the cluster secret.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from lifecycle_admin.stack import SERVICES
from lifecycle_testing.containers import ComposeStack
from lifecycle_testing.department_events import hot_lead
from lifecycle_testing.waiting import eventually
from orchestrator.access import CLUSTER_SECRET_HEADER

READY_TIMEOUT_S = 180.0
# A worker that just joined its group can take a rebalance or two on a busy machine.
ACTION_TIMEOUT_S = 180.0
HOT_LEAD_ACTIONS = ("assign-owner", "call-customer")
NOT_YET = (httpx.HTTPError, OSError)


def status_of(url: str, **headers: str) -> int:
    return httpx.get(url, headers=headers, timeout=5).status_code


def wait_ready(url: str, what: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    eventually(
        lambda: status_of(url),
        lambda status: status == 200,
        timeout_s=timeout_s,
        interval_s=0.5,
        what=f"{what} answering 200 at {url}",
        retry_on=NOT_YET,
    )


def test_every_service_container_answers_ready_from_the_host(compose_stack: ComposeStack) -> None:
    # Through the published port: a service bound to 127.0.0.1 in its container never answers.
    for service in SERVICES:
        wait_ready(f"{compose_stack.url(service.name)}/readyz", service.name)
    wait_ready(f"{compose_stack.url('prometheus')}/-/ready", "prometheus", 60)


def test_the_orchestrator_answers_the_operator_key_on_its_allowed_names_only(
    compose_stack: ComposeStack,
) -> None:
    orchestrator = compose_stack.url("orchestrator")
    wait_ready(f"{orchestrator}/readyz", "orchestrator")
    operator = {"Authorization": f"Bearer {compose_stack.plain_keys()['local-operator']}"}

    assert status_of(f"{orchestrator}/v1/segments") == 401
    assert status_of(f"{orchestrator}/v1/segments", **operator) == 200
    # A name outside ORCHESTRATOR_ALLOWED_HOSTS (DNS rebinding) is refused, key or not.
    assert status_of(f"{orchestrator}/v1/segments", Host="attacker.example", **operator) == 400
    # Workers' routes need the cluster secret the container got from orchestrator.env.
    internal = f"{orchestrator}/internal/worker-stats"
    assert status_of(internal, **operator) == 403
    cluster = {CLUSTER_SECRET_HEADER: compose_stack.cluster_secret()}
    assert status_of(internal, **cluster) == 200


def test_a_hot_lead_posted_to_marketing_becomes_an_action_in_sales_inbox(
    compose_stack: ComposeStack,
) -> None:
    keys = compose_stack.plain_keys()
    marketing = compose_stack.url("marketing")
    sales = compose_stack.url("sales")
    for name in ("marketing", "sales", "orchestrator"):
        wait_ready(f"{compose_stack.url(name)}/readyz", name)
    event = hot_lead(f"compose-{uuid.uuid4().hex[:8]}")

    unauthenticated = httpx.post(f"{marketing}/v1/events", json=[event], timeout=20)
    assert unauthenticated.status_code == 401
    accepted = httpx.post(
        f"{marketing}/v1/events",
        json=[event],
        headers={"Authorization": f"Bearer {keys['local-marketing']}"},
        timeout=20,
    )
    assert accepted.status_code == 202, accepted.text

    def actions_caused_by_the_event() -> dict[str, dict[str, Any]]:
        answer = httpx.get(
            f"{sales}/v1/actions",
            headers={"Authorization": f"Bearer {keys['local-sales']}"},
            timeout=5,
        )
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["items"]
        return {i["type"]: i for i in items if i["record"]["causationid"] == event["id"]}

    # The hot-lead play asks sales for both; the inbox may store them one at a time.
    wanted = {f"com.customerlifecycle.action.sales.{kind}.v1" for kind in HOT_LEAD_ACTIONS}
    actions = eventually(
        actions_caused_by_the_event,
        lambda found: wanted <= set(found),
        timeout_s=ACTION_TIMEOUT_S,
        interval_s=0.5,
        what="both sales actions of the hot-lead play, caused by the event",
        retry_on=NOT_YET,
    )
    assert all(action["status"] == "open" for action in actions.values())
