"""Given a running worker on the real broker: hand-offs are timed from the rule or play that
starts them to the receiving department taking them up, and one voice holds across plays."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from department_kit.actions import OutcomeRequest, build_outcome
from lifecycle_schemas.codec import decode_record
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.orchestrator_worker import TEST_KEYS
from lifecycle_testing.processes import get_json, poll_json, scraped_samples
from lifecycle_testing.waiting import eventually
from orchestrator.core.identity import new_customer_id
from service_kit.api_keys import Scope

pytestmark = pytest.mark.kafka

TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def worker(make_worker: Callable[..., Any]) -> Any:
    return make_worker()


def handoff_count(worker: Any, **labels: str) -> float:
    """How many hand-offs with these labels the worker's histogram has timed."""
    return sum(
        sample.value
        for sample in scraped_samples(worker.url)
        if sample.name == "lifecycle_handoff_duration_seconds_count"
        and labels.items() <= sample.labels.items()
    )


def action_for(io: Any, customer_id: str, type_suffix: str) -> Any:
    """The first action of this type sent about the customer (a decoded record)."""
    topics = [TOPICS.sales_actions.name, TOPICS.service_desk_actions.name]

    def matching(messages: list[Any]) -> list[dict[str, Any]]:
        return [v for v in io.values(messages, customer_id) if v["type"].endswith(type_suffix)]

    found = matching(io.read(topics, lambda ms: bool(matching(ms)), TIMEOUT_S))
    return decode_record(json.dumps(found[0]).encode(), now=None)


def accept(io: Any, action: Any) -> datetime:
    """The department accepts the action (its outcome on the outcomes topic); when."""
    at = datetime.now(UTC)
    io.publish(build_outcome(action, OutcomeRequest(outcome="accepted"), at))
    return at


def handoff_of(worker: Any, customer_id: str, kind: str, ended: bool) -> dict[str, Any]:
    """The customer's hand-off of ``kind`` once it is there (and ended, if asked)."""
    body = poll_json(
        f"{worker.url}/v1/customers/customer_id:{customer_id}",
        lambda b: (
            kind in b.get("handoffs", {})
            and (b["handoffs"][kind].get("ended_at") is not None) is ended
        ),
        TIMEOUT_S,
        headers=TEST_KEYS.headers(),
    )
    handoff: dict[str, Any] = body["handoffs"][kind]
    return handoff


def process_view_ids(worker: Any, headers: dict[str, str]) -> set[str]:
    """The customer ids ``GET /v1/processes`` shows with these headers (open hand-offs there)."""
    body = poll_json(
        f"{worker.url}/v1/processes",
        lambda b: any(p["oldest_open"] for p in b["processes"]),
        TIMEOUT_S,
        headers=headers,
    )
    items = [i for p in body["processes"] for i in p["oldest_open"] + p["worst_offenders"]]
    return {i["customer_id"] for i in items if "customer_id" in i}


def seconds(handoff: dict[str, Any]) -> float:
    started = datetime.fromisoformat(handoff["started_at"])
    return (datetime.fromisoformat(handoff["ended_at"]) - started).total_seconds()


def test_a_won_deals_onboarding_is_timed_from_the_win_to_the_service_desks_acceptance(
    worker: Any, kafka_io: Any
) -> None:
    labels = {"handoff": "sale-to-onboarding", "to_department": "service-desk"}
    before = handoff_count(worker, **labels)
    ids = kafka_io.unique("onboard")
    customer_id = new_customer_id(f"crm_account_id:{ids['crm']}")
    won_at = datetime.now(UTC)
    # Given a deal won
    kafka_io.publish(kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"]}))
    onboarding = action_for(kafka_io, customer_id, "start-onboarding.v1")
    waiting = handoff_of(worker, customer_id, "sale-to-onboarding", ended=False)
    assert (waiting["from_department"], waiting["to_department"]) == ("sales", "service-desk")
    assert datetime.fromisoformat(waiting["started_at"]) >= won_at
    # The process view names customers only to a key that may read them
    assert customer_id in process_view_ids(worker, TEST_KEYS.headers())
    assert process_view_ids(worker, TEST_KEYS.headers(Scope.REPORTS_READ)) == set()
    # When the service desk accepts the onboarding
    accepted_at = accept(kafka_io, onboarding)
    # Then the hand-off ran from the win to the acceptance, and the histogram has it
    taken_up = handoff_of(worker, customer_id, "sale-to-onboarding", ended=True)
    assert datetime.fromisoformat(taken_up["ended_at"]) >= accepted_at
    assert taken_up["first_seconds"] == pytest.approx(seconds(taken_up), abs=0.001)
    assert taken_up["first_seconds"] > 0
    eventually(
        lambda: handoff_count(worker, **labels),
        lambda count: count >= before + 1,
        timeout_s=TIMEOUT_S,
        what="the hand-off observed in the histogram",
    )
    assert (
        handoff_count(
            worker,
            handoff="action:servicedesk.start-onboarding",
            from_department="orchestrator",
            to_department="service-desk",
        )
        >= 1
    )


def test_a_case_escalation_is_timed_to_the_senior_agents_acceptance(
    worker: Any, kafka_io: Any
) -> None:
    ids = kafka_io.unique("escalate")
    desk = {"helpdesk_requester_id": ids["desk"]}
    customer_id = new_customer_id(f"helpdesk_requester_id:{ids['desk']}")
    kafka_io.publish(
        kafka_io.event("servicedesk.case.opened", desk, priority="P3", case_id="ZD-7"),
        kafka_io.event("servicedesk.case.escalated", desk, priority="P2", case_id="ZD-7"),
    )
    senior = action_for(kafka_io, customer_id, "assign-senior-agent.v1")
    assert senior.data.play_id == "case-escalated"
    assert senior.data.parameters.case_id == "ZD-7"
    waiting = handoff_of(worker, customer_id, "case-escalation", ended=False)
    assert (waiting["from_department"], waiting["to_department"]) == (
        "service-desk",
        "service-desk",
    )
    accepted_at = accept(kafka_io, senior)
    taken_up = handoff_of(worker, customer_id, "case-escalation", ended=True)
    assert datetime.fromisoformat(taken_up["ended_at"]) >= accepted_at
    assert taken_up["first_seconds"] == pytest.approx(seconds(taken_up), abs=0.001)
    assert handoff_count(worker, handoff="case-escalation") >= 1


def test_a_detractor_with_a_complaint_gets_one_retention_offer(worker: Any, kafka_io: Any) -> None:
    ids = kafka_io.unique("voice")
    desk = {"helpdesk_requester_id": ids["desk"]}
    customer_id = new_customer_id(f"helpdesk_requester_id:{ids['desk']}")
    # Given an NPS of 2 and a billing complaint, posted together
    kafka_io.publish(
        kafka_io.event("servicedesk.satisfaction.received", desk, nps=2, csat=2),
        kafka_io.event("servicedesk.complaint.received", desk, category="billing"),
    )

    def retention_candidates(messages: list[Any]) -> list[dict[str, Any]]:
        return [
            candidate
            for value in kafka_io.values(messages, customer_id)
            for candidate in value["data"]["candidates"]
            if candidate["action_type"].endswith("offer-retention.v1")
        ]

    # Then both plays proposed one, and the second is in the decision log as already open
    log = kafka_io.read(
        [TOPICS.decision_log.name], lambda ms: len(retention_candidates(ms)) >= 2, TIMEOUT_S
    )
    candidates = retention_candidates(log)
    assert [(c["play_id"], c["verdict"]) for c in candidates] == [
        ("detractor-retention", "won"),
        ("complaint-retention", "suppressed"),
    ]
    assert candidates[1]["reason_code"] == "already-open"

    # And sales got exactly one retention action: the only one a won candidate stands for.
    def offers(messages: list[Any]) -> list[dict[str, Any]]:
        return [
            v
            for v in kafka_io.values(messages, customer_id)
            if v["type"].endswith("offer-retention.v1")
        ]

    sent = offers(
        kafka_io.read([TOPICS.sales_actions.name], lambda ms: bool(offers(ms)), TIMEOUT_S)
    )
    assert [(o["id"], o["data"]["play_id"]) for o in sent] == [
        (candidates[0]["action_id"], "detractor-retention")
    ]


def test_the_process_view_refuses_a_window_beyond_a_hundred_years_naming_it(worker: Any) -> None:
    url = f"{worker.url}/v1/processes?window="
    body = poll_json(
        url + "36500d", lambda b: b["window"] == "36500d", TIMEOUT_S, TEST_KEYS.headers()
    )
    assert [p["process"] for p in body["processes"]] == ["engage", "transact", "fulfil", "service"]
    # Found by schemathesis: 3303487724m (6,000 years) answered 500, the window's start before
    # year 1; a number beyond any timedelta as well.
    for window in ("36501d", "3303487724m", "9" * 30 + "d"):
        request = urllib.request.Request(url + window, headers=TEST_KEYS.headers())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        problem = json.loads(refused.value.read())
        assert refused.value.code == 422, problem
        assert [e["pointer"] for e in problem["errors"]] == ["/window"], problem


def test_the_dashboard_history_shows_the_last_minutes_to_a_reports_key_only(
    worker: Any, kafka_io: Any
) -> None:
    url = f"{worker.url}/v1/dashboard/history"
    reports = TEST_KEYS.headers(Scope.REPORTS_READ)
    before = get_json(url, headers=reports)
    assert before["step_seconds"] == 10
    ids = kafka_io.unique("history")
    customer_id = new_customer_id(f"crm_account_id:{ids['crm']}")
    # Given a deal won, and the service desk taking up the onboarding it starts
    kafka_io.publish(kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"]}))
    accept(kafka_io, action_for(kafka_io, customer_id, "start-onboarding.v1"))

    def counted(body: dict[str, Any]) -> bool:
        desk = body["departments"].get("service-desk", {})
        return bool(
            body["hour"]["events_in"] >= before["hour"]["events_in"] + 1
            and body["hour"]["actions_out"] >= before["hour"]["actions_out"] + 1
            and desk.get("acknowledged", 0) >= 1
        )

    # Then within a sample or two the last hour has them, over a real window
    body = poll_json(url, counted, TIMEOUT_S, reports)
    assert body["workers"] == 1
    rate = body["rates"]["events_in"]
    assert rate["per_minute"] > 0
    assert rate["window_seconds"] >= body["step_seconds"]
    assert sum(n for _, n in body["series"]["events_in"]) == body["hour"]["events_in"]
    assert body["departments"]["service-desk"]["acknowledge_p50_seconds"] > 0
    # Aggregates only: no customer id, and a key without reports:read is refused
    assert customer_id not in json.dumps(body)
    for headers, status in ((TEST_KEYS.headers(Scope.CUSTOMERS_READ), 403), ({}, 401)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)
        assert refused.value.code == status
