"""Given the images and deploy/docker-compose.yml, the whole system runs in containers.

An event posted through the marketing container comes back as a coordinated action in the
sales container's inbox: Kafka, the topics job, the orchestrator and both department services
work together across the compose network, reached from the host through published ports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from lifecycle_admin.stack import SERVICES
from lifecycle_testing.containers import ComposeStack, wait_until
from lifecycle_testing.department_events import hot_lead

READY_TIMEOUT_S = 180.0
# A worker that just joined its group can take a rebalance or two on a busy machine.
ACTION_TIMEOUT_S = 180.0
HOT_LEAD_ACTIONS = ("assign-owner", "call-customer")


def answers_ok(url: str) -> Callable[[], bool]:
    """A probe: does `url` answer 200 now?"""

    def probe() -> bool:
        return httpx.get(url, timeout=5).status_code == 200

    return probe


def test_every_service_container_answers_ready_from_the_host(compose_stack: ComposeStack) -> None:
    # Through the published port: a service bound to 127.0.0.1 in its container never answers.
    for service in SERVICES:
        url = f"{compose_stack.url(service.name)}/readyz"
        wait_until(answers_ok(url), f"{service.name} ready at {url}", READY_TIMEOUT_S)
    prometheus = f"{compose_stack.url('prometheus')}/-/ready"
    wait_until(answers_ok(prometheus), "prometheus ready", 60)


def test_a_hot_lead_posted_to_marketing_becomes_an_action_in_sales_inbox(
    compose_stack: ComposeStack,
) -> None:
    keys = compose_stack.plain_keys()
    marketing = compose_stack.url("marketing")
    sales = compose_stack.url("sales")
    for url in (marketing, sales, compose_stack.url("orchestrator")):
        wait_until(answers_ok(f"{url}/readyz"), f"{url} ready", READY_TIMEOUT_S)
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
    actions = wait_until(
        actions_caused_by_the_event,
        "both sales actions of the hot-lead play, caused by the event",
        ACTION_TIMEOUT_S,
        accept=lambda found: wanted <= set(found),
    )
    assert all(action["status"] == "open" for action in actions.values())
