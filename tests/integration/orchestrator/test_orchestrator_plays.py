"""Each default play end to end on the real broker: event in, actions out on the right
department topics, decision-log entries for what lost or was suppressed."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from lifecycle_schemas.dead_letter import HEADER_ERROR_CLASS, HEADER_ERROR_FIELDS, HEADER_TOPIC
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.orchestrator_worker import TEST_KEYS
from lifecycle_testing.processes import poll_json
from lifecycle_testing.waiting import eventually
from orchestrator.core.identity import new_customer_id

pytestmark = pytest.mark.kafka

ACTION_TOPICS = [
    TOPICS.marketing_actions.name,
    TOPICS.sales_actions.name,
    TOPICS.service_desk_actions.name,
]


@pytest.fixture(scope="module")
def worker(make_worker: Callable[..., Any]) -> Any:
    return make_worker()


def short(record_type: str) -> str:
    return record_type.removeprefix("com.customerlifecycle.").rsplit(".v", 1)[0]


def actions_for(
    io: Any, customer_id: str, expected: set[tuple[str, str]], timeout_s: float = 30.0
) -> dict[tuple[str, str], dict[str, Any]]:
    """Wait for ``expected`` (topic, action short type) pairs for the customer."""

    def found(messages: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
        seen = {}
        for message in messages:
            if message.value is None:
                continue
            value = json.loads(message.value)
            if value["subject"] == customer_id:
                topic = message.topic.removeprefix(io.namespace.prefix)
                seen[(topic, short(value["type"]))] = value
        return seen

    messages = io.read(ACTION_TOPICS, lambda ms: expected <= set(found(ms)), timeout_s)
    return found(messages)


def play_action(io: Any, customer_id: str, action: str, play_id: str) -> dict[str, Any]:
    """The customer's sales action of type ``action`` that play ``play_id`` sent."""

    def of_the_play(messages: list[Any]) -> list[dict[str, Any]]:
        return [
            v
            for v in io.values(messages, customer_id)
            if short(v["type"]) == action and v["data"]["play_id"] == play_id
        ]

    messages = io.read([TOPICS.sales_actions.name], lambda ms: bool(of_the_play(ms)))
    return of_the_play(messages)[0]  # a record re-sent after a rebalance is the same action


def decisions_for(
    io: Any, customer_id: str, accept: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    messages = io.read([TOPICS.decision_log.name], lambda ms: accept(io.values(ms, customer_id)))
    return [c for v in io.values(messages, customer_id) for c in v["data"]["candidates"]]


def test_urgent_case_from_high_value_customer(worker: Any, kafka_io: Any) -> None:
    ids, customer_id = kafka_io.customer_who_bought("urgent")
    kafka_io.publish(
        kafka_io.event(
            "servicedesk.case.opened",
            {"helpdesk_requester_id": ids["desk"], "email": ids["email"]},
            priority="P1",
            case_id="ZD-1",
        )
    )
    seen = actions_for(
        kafka_io,
        customer_id,
        {
            (TOPICS.service_desk_actions.name, "action.servicedesk.prioritise-case"),
            (TOPICS.service_desk_actions.name, "action.servicedesk.assign-senior-agent"),
            (TOPICS.marketing_actions.name, "action.marketing.suppress-promotions"),
            (TOPICS.sales_actions.name, "action.sales.call-customer"),
        },
    )
    prioritise = seen[(TOPICS.service_desk_actions.name, "action.servicedesk.prioritise-case")]
    assert prioritise["data"]["parameters"] == {"case_id": "ZD-1", "priority": "P1"}
    assert prioritise["id"] == prioritise["data"]["action_id"]
    # Marketing tries a promotion while the case is open: suppressed, and logged with the reason.
    kafka_io.publish(
        kafka_io.event(
            "marketing.web.page-visited",
            {"marketing_contact_id": ids["mkt"], "email": ids["email"]},
        )
    )
    candidates = decisions_for(
        kafka_io,
        customer_id,
        lambda vs: any(
            c["action_type"].endswith("send-offer.v1") for v in vs for c in v["data"]["candidates"]
        ),
    )
    offer = next(c for c in candidates if c["action_type"].endswith("send-offer.v1"))
    assert (offer["verdict"], offer["reason_code"]) == ("suppressed", "promotions-suppressed")


def test_hot_lead_gets_owner_and_call_then_escalates(worker: Any, kafka_io: Any) -> None:
    ids = kafka_io.unique("hot")
    customer_id = new_customer_id(f"marketing_contact_id:{ids['mkt']}")
    kafka_io.publish(
        kafka_io.event("marketing.lead.scored", {"marketing_contact_id": ids["mkt"]}, score=91)
    )
    actions_for(
        kafka_io,
        customer_id,
        {
            (TOPICS.sales_actions.name, "action.sales.assign-owner"),
            (TOPICS.sales_actions.name, "action.sales.call-customer"),
        },
    )
    # The hot-lead play's own hand-off, not the latest assign-owner seen: the escalation assigns
    # the sales manager with an action of the same type, and a reader that came later than the
    # 3 s deadline (under load) saw both; waiting for the escalation's own miss (due in 2 h)
    # then timed out with every partition read to its end.
    assign = play_action(kafka_io, customer_id, "action.sales.assign-owner", "hot-lead")
    # Nobody acknowledges the hand-off: its (test) deadline of 3 s passes and it escalates.
    missed = kafka_io.read(
        [TOPICS.deadlines_missed.name],
        lambda ms: any(
            v["data"]["action_id"] == assign["id"] for v in kafka_io.values(ms, customer_id)
        ),
    )
    assert kafka_io.values(missed, customer_id)[0]["data"]["play_id"] == "hot-lead"
    escalations = kafka_io.read(
        [TOPICS.sales_actions.name],
        lambda ms: any(
            v["data"]["play_id"] == "hot-lead-escalation" for v in kafka_io.values(ms, customer_id)
        ),
    )
    assert escalations


def test_deal_won_starts_onboarding_and_customer_journey(worker: Any, kafka_io: Any) -> None:
    ids = kafka_io.unique("won")
    customer_id = new_customer_id(f"crm_account_id:{ids['crm']}")
    kafka_io.publish(kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"]}))
    actions_for(
        kafka_io,
        customer_id,
        {
            (TOPICS.service_desk_actions.name, "action.servicedesk.start-onboarding"),
            (TOPICS.marketing_actions.name, "action.marketing.enrol-in-journey"),
        },
    )


@pytest.mark.parametrize(
    ("short_type", "fields", "expected"),
    [
        (
            "servicedesk.complaint.received",
            {},
            {
                (TOPICS.sales_actions.name, "action.sales.offer-retention"),
                (TOPICS.marketing_actions.name, "action.marketing.suppress-promotions"),
            },
        ),
        (
            "servicedesk.satisfaction.received",
            {"nps": 2, "csat": 2},
            {
                (TOPICS.sales_actions.name, "action.sales.offer-retention"),
                (TOPICS.marketing_actions.name, "action.marketing.suppress-promotions"),
            },
        ),
    ],
)
def test_complaint_or_detractor_brings_retention(
    worker: Any,
    kafka_io: Any,
    short_type: str,
    fields: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    ids = kafka_io.unique("retain")
    customer_id = new_customer_id(f"helpdesk_requester_id:{ids['desk']}")
    kafka_io.publish(kafka_io.event(short_type, {"helpdesk_requester_id": ids["desk"]}, **fields))
    actions_for(kafka_io, customer_id, expected)


def test_renewal_due_for_healthy_customer(worker: Any, kafka_io: Any) -> None:
    ids = kafka_io.unique("renew")
    customer_id = new_customer_id(f"crm_account_id:{ids['crm']}")
    kafka_io.publish(kafka_io.event("sales.renewal.due", {"crm_account_id": ids["crm"]}))
    seen = actions_for(
        kafka_io, customer_id, {(TOPICS.sales_actions.name, "action.sales.create-opportunity")}
    )
    opportunity = seen[(TOPICS.sales_actions.name, "action.sales.create-opportunity")]
    assert opportunity["data"]["parameters"]["kind"] == "renewal"


def withdraw_consent(io: Any, tag: str, channel: str) -> dict[str, Any]:
    """A fresh customer withdraws consent; the suppress-promotions action marketing gets."""
    ids = io.unique(tag)
    customer_id = new_customer_id(f"marketing_contact_id:{ids['mkt']}")
    io.publish(
        io.event(
            "marketing.consent.changed",
            {"marketing_contact_id": ids["mkt"]},
            channel=channel,
            status="withdrawn",
        )
    )
    expected = (TOPICS.marketing_actions.name, "action.marketing.suppress-promotions")
    return actions_for(io, customer_id, {expected})[expected]


def test_consent_withdrawn_stops_marketing(worker: Any, kafka_io: Any) -> None:
    suppress = withdraw_consent(kafka_io, "consent", "email")
    assert suppress["data"]["priority"] == "urgent"
    assert suppress["data"]["parameters"]["channels"] == ["email"]


def test_erasure_requested_every_department_erases(worker: Any, kafka_io: Any) -> None:
    ids = kafka_io.unique("erase")
    customer_id = new_customer_id(f"crm_account_id:{ids['crm']}")
    known = {"crm_account_id": ids["crm"], "email": ids["email"]}
    kafka_io.publish(kafka_io.event("sales.deal.won", known))
    poll_json(
        f"{worker.url}/v1/customers/email:{ids['email']}",
        lambda body: body.get("customer_id") == customer_id,
        30,
        headers=TEST_KEYS.headers(),
    )
    kafka_io.publish(kafka_io.event("sales.erasure.requested", {"crm_account_id": ids["crm"]}))
    actions_for(
        kafka_io,
        customer_id,
        {
            (TOPICS.marketing_actions.name, "action.marketing.erase-personal-data"),
            (TOPICS.sales_actions.name, "action.sales.erase-personal-data"),
            (TOPICS.service_desk_actions.name, "action.servicedesk.erase-personal-data"),
        },
    )
    profiles = kafka_io.read(
        [TOPICS.customer_profiles.name],
        lambda ms: any(m.key == customer_id.encode() and m.value is None for m in ms),
    )
    assert any(m.value is None for m in profiles if m.key == customer_id.encode())
    # Every identifier is gone from identity resolution, and the record itself: 404 for each.
    for key in (f"email:{ids['email']}", f"crm_account_id:{ids['crm']}", customer_id):
        poll_status(f"{worker.url}/v1/customers/{key}", 404, 30, headers=TEST_KEYS.headers())


def test_linking_event_merges_two_customers(worker: Any, kafka_io: Any) -> None:
    ids = kafka_io.unique("merge")
    older = new_customer_id(f"crm_account_id:{ids['crm']}")
    younger = new_customer_id(f"helpdesk_requester_id:{ids['desk']}")
    kafka_io.publish(kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"]}))
    actions_for(
        kafka_io, older, {(TOPICS.service_desk_actions.name, "action.servicedesk.start-onboarding")}
    )
    kafka_io.publish(
        kafka_io.event(
            "servicedesk.case.opened", {"helpdesk_requester_id": ids["desk"]}, priority="P4"
        )
    )
    kafka_io.read(
        [TOPICS.customer_profiles.name], lambda ms: any(m.key == younger.encode() for m in ms)
    )
    kafka_io.publish(
        kafka_io.event(
            "sales.account.owner-assigned",
            {"crm_account_id": ids["crm"], "helpdesk_requester_id": ids["desk"]},
        )
    )
    merges = kafka_io.read(
        [TOPICS.customer_merges.name], lambda ms: bool(kafka_io.values(ms, older))
    )
    merged = kafka_io.values(merges, older)[0]["data"]
    assert merged["merged_customer_id"] == younger
    assert merged["matched_on"] == ["helpdesk_requester_id"]
    body = worker.get(f"/v1/customers/helpdesk_requester_id:{ids['desk']}")
    assert body["customer_id"] == older
    assert younger in body["merged_customer_ids"]
    assert len(body["open_cases"]) == 1


def test_poison_record_is_dead_lettered_and_the_stream_goes_on(worker: Any, kafka_io: Any) -> None:
    ids = kafka_io.unique("poison")
    kafka_io.publish_raw(TOPICS.sales_events.name, b"crm_account_id:poison", b'{"not": "valid"')
    kafka_io.publish(kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"]}))
    dead = kafka_io.read(
        [TOPICS.dead_letter.name], lambda ms: any(m.key == b"crm_account_id:poison" for m in ms)
    )
    record = next(m for m in dead if m.key == b"crm_account_id:poison")
    assert record.value == b'{"not": "valid"'
    headers = dict(record.headers)
    assert headers[HEADER_TOPIC] == (kafka_io.namespace.prefix + TOPICS.sales_events.name).encode()
    assert headers[HEADER_ERROR_CLASS] == b"RecordDecodeError"
    assert b"json_invalid" in headers[HEADER_ERROR_FIELDS]
    actions_for(
        kafka_io,
        new_customer_id(f"crm_account_id:{ids['crm']}"),
        {(TOPICS.service_desk_actions.name, "action.servicedesk.start-onboarding")},
    )
    # An outcome that is not one goes the same way from the customer agent.
    kafka_io.publish_raw(TOPICS.action_outcomes.name, b"c-poison", b"\xff\xfe")
    outcome_dead = kafka_io.read(
        [TOPICS.dead_letter.name], lambda ms: any(m.key == b"c-poison" for m in ms)
    )
    outcome_record = next(m for m in outcome_dead if m.key == b"c-poison")
    assert outcome_record.value == b"\xff\xfe"
    metrics = worker_metrics(worker)
    assert "lifecycle_dead_letter_records_total{" in metrics
    assert TOPICS.action_outcomes.name in metrics


def poll_status(url: str, status: int, timeout_s: float, headers: dict[str, str]) -> None:
    """Poll ``url`` until it answers ``status`` (an error status is what we wait for)."""

    def answer() -> int:
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=5) as response:
                code: int = response.status
                return code
        except urllib.error.HTTPError as error:
            return error.code

    eventually(
        answer, lambda code: code == status, timeout_s=timeout_s, what=f"{status} from {url}"
    )


def worker_metrics(worker: Any) -> str:
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_api_serves_the_customer_and_the_playbook(worker: Any, kafka_io: Any) -> None:
    ids, customer_id = kafka_io.customer_who_bought("api")
    by_id = worker.get(f"/v1/customers/{customer_id}")
    by_email = worker.get(f"/v1/customers/email:{ids['email']}")
    assert by_id["customer_id"] == by_email["customer_id"] == customer_id
    assert "onboarding" in by_id["segments"]
    assert by_id["owner"]["department"] == "sales"
    timeline = worker.get(f"/v1/customers/{customer_id}/timeline")["timeline"]
    assert [t["kind"] for t in timeline][:1] == ["event"]
    decisions = worker.get(f"/v1/customers/{customer_id}/decisions")["decisions"]
    assert decisions[-1]["candidates"][0]["play_id"] == "deal-won-onboarding"
    segments = {s["segment_id"]: s for s in worker.get("/v1/segments")["segments"]}
    assert segments["onboarding"]["members"] >= 1
    plays = {p["play_id"]: p for p in worker.get("/v1/plays")["plays"]}
    assert plays["deal-won-onboarding"]["emitted"] >= 2
    metrics = worker_metrics(worker)
    for name in (
        "lifecycle_events_processed_total",
        "lifecycle_actions_emitted_total",
        "lifecycle_event_to_decision_seconds_bucket",
        "lifecycle_segment_members",
        "lifecycle_kafka_reachable",
    ):
        assert name in metrics


def declined(action: dict[str, Any]) -> Any:
    """The marketing department's decline of ``action``."""
    from lifecycle_schemas.codec import decode_record, encode_record
    from lifecycle_schemas.examples import EXAMPLES
    from lifecycle_schemas.outcomes import outcome_id

    document = json.loads(encode_record(EXAMPLES["com.customerlifecycle.outcome.declined.v1"]))
    document["data"].update(
        customer_id=action["data"]["customer_id"],
        action_id=action["id"],
        action_type=action["type"],
        department="marketing",
        reason_code="not-relevant",
    )
    document.update(
        id=outcome_id(action["id"], document["type"]),
        subject=action["subject"],
        source="/services/marketing",
        time=action["time"],
    )
    return decode_record(json.dumps(document).encode(), now=None)


def test_declines_are_counted_and_flag_the_play(worker: Any, kafka_io: Any) -> None:
    suppressions = [withdraw_consent(kafka_io, f"decline{n}", "sms") for n in range(5)]
    kafka_io.publish(*[declined(action) for action in suppressions])
    plays = poll_json(
        f"{worker.url}/v1/plays",
        lambda body: any(
            p["play_id"] == "consent-withdrawn" and p["flagged"] for p in body["plays"]
        ),
        30,
        headers=TEST_KEYS.headers(),
    )
    play = next(p for p in plays["plays"] if p["play_id"] == "consent-withdrawn")
    assert play["declined"] >= 5
    assert {"department": "marketing", "reason": "not-relevant", "count": 5} in play[
        "declines_by_department_and_reason"
    ]
    assert 'lifecycle_play_flagged{play="consent-withdrawn"} 1.0' in worker_metrics(worker)
