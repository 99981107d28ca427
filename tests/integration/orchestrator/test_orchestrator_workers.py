"""Workers come and go: a restarted worker loses no state; two workers both serve the API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.orchestrator_worker import TEST_KEYS
from lifecycle_testing.processes import poll_json
from orchestrator.core.identity import new_customer_id

pytestmark = pytest.mark.kafka


def test_restarted_worker_keeps_every_customer(
    make_worker: Callable[..., Any], kafka_io: Any, tmp_path: Any
) -> None:
    data_dir = tmp_path / "data"
    worker = make_worker(data_dir)
    ids, customer_id = kafka_io.customer_who_bought("restart")
    before = worker.get(f"/v1/customers/{customer_id}")
    worker.stop()

    restarted = make_worker(data_dir)
    after = poll_json(
        f"{restarted.url}/v1/customers/{customer_id}",
        lambda body: body.get("customer_id") == customer_id,
        30,
        headers=TEST_KEYS.headers(),
    )
    assert after["revenue_to_date_minor"] == before["revenue_to_date_minor"] > 0
    assert after["segments"] == before["segments"]
    # The value learnt before the restart still drives decisions after it.
    kafka_io.publish(
        kafka_io.event(
            "servicedesk.case.opened",
            {"helpdesk_requester_id": ids["desk"], "email": ids["email"]},
            priority="P1",
        )
    )
    kafka_io.read(
        [TOPICS.service_desk_actions.name],
        lambda ms: any(
            v["data"]["play_id"] == "urgent-case-high-value"
            for v in kafka_io.values(ms, customer_id)
        ),
    )
    # And the replayed deal (same event id) is not decided twice.
    onboarding = [
        v
        for v in kafka_io.values(
            kafka_io.read([TOPICS.service_desk_actions.name], lambda ms: True), customer_id
        )
        if v["data"]["play_id"] == "deal-won-onboarding"
    ]
    assert len({v["id"] for v in onboarding}) == 1
    restarted.stop()


def test_two_workers_both_serve_every_customer(
    make_worker: Callable[..., Any], kafka_io: Any
) -> None:
    first = make_worker()
    second = make_worker()
    customers = []
    for n in range(12):  # 8 partitions, 2 workers: all on one side is ~1 in 2000
        ids = kafka_io.unique(f"pair{n}")
        customers.append((new_customer_id(f"crm_account_id:{ids['crm']}"), ids["email"]))
        kafka_io.publish(
            kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"], "email": ids["email"]})
        )
    for customer_id, _ in customers:
        kafka_io.wait_for_onboarding(customer_id)
    served_by: set[str] = set()
    deadline = time.monotonic() + 60
    for customer_id, email in customers:
        for worker in (first, second):
            for key in (customer_id, f"email:{email}"):
                body = poll_json(
                    f"{worker.url}/v1/customers/{key}",
                    lambda b, cid=customer_id: b.get("customer_id") == cid,
                    max(1.0, deadline - time.monotonic()),
                    headers=TEST_KEYS.headers(),
                )
                served_by.add(body["served_by"])
    # Both workers own some partitions, and each answered for the other's customers.
    assert served_by == {first.url, second.url}, json.dumps(sorted(served_by))
    # Segment and play counts are summed over both workers, whichever is asked.
    for worker in (first, second):
        segments = worker.get("/v1/segments")
        assert sorted(segments["workers"]) == sorted([first.url, second.url])
        onboarding = next(s for s in segments["segments"] if s["segment_id"] == "onboarding")
        assert onboarding["members"] >= len(customers)
        plays = {p["play_id"]: p for p in worker.get("/v1/plays")["plays"]}
        assert plays["deal-won-onboarding"]["emitted"] >= 2 * len(customers)
