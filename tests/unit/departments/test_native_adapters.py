"""Vendors' published webhook payloads (fixtures) come out as the right canonical events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from department_kit.department import NativeAdapter, NativePayloadError
from department_kit.ingest import validate_items
from lifecycle_schemas.catalogue import AnyDepartmentEvent
from lifecycle_schemas.departments import Department
from marketing_service.hubspot import map_hubspot
from sales_service.pipedrive import map_pipedrive
from service_desk_service.zendesk import map_zendesk

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fixture(name: str) -> Any:
    document = json.loads((FIXTURES / name).read_text())
    assert document["source"].count("http") >= 1, "every fixture names where it comes from"
    return document["payload"]


def canonical(
    adapter: NativeAdapter, payload: Any, department: Department
) -> list[AnyDepartmentEvent]:
    mapping = adapter(payload)
    validation = validate_items(mapping.events, department, NOW, is_batch=True)
    assert not validation.invalid, validation.invalid
    return [item.record for item in validation.valid]


def short_type(record: AnyDepartmentEvent) -> str:
    return record.type.removeprefix("com.customerlifecycle.").removesuffix(".v1")


def test_hubspot_contact_events_map_to_marketing_events() -> None:
    payload = fixture("hubspot_contact_events.json")
    mapping = map_hubspot(payload)
    records = canonical(map_hubspot, payload, Department.MARKETING)

    assert [short_type(r) for r in records] == [
        "marketing.contact.captured",
        "marketing.contact.captured",
        "marketing.lead.scored",
        "marketing.unsubscribed",
        "marketing.erasure.requested",
    ]
    assert mapping.ignored == ["contact.propertyChange lifecyclestage"]
    captured, crm_ui, scored, unsubscribed, erasure = (
        r.model_dump(mode="json", exclude_none=True) for r in records
    )
    assert captured["data"] == {
        "customer": {"marketing_contact_id": "1246978"},
        "lead_source": "import",
    }
    assert captured["time"] == "2016-05-02T19:11:47.945000Z"
    assert crm_ui["data"]["lead_source"] == "crm-ui"
    assert scored["data"]["score"] == 72
    assert scored["data"]["scoring_model"] == "hubspotscore"
    assert unsubscribed["data"]["channel"] == "email"
    assert erasure["data"]["request_id"] == "hubspot-3816279503"


def test_a_retried_hubspot_webhook_maps_to_the_same_event_ids() -> None:
    payload = fixture("hubspot_contact_events.json")
    assert [e["id"] for e in map_hubspot(payload).events] == [
        e["id"] for e in map_hubspot(json.loads(json.dumps(payload))).events
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pipedrive_v2_deal_created.json", ["sales.opportunity.created"]),
        ("pipedrive_v2_deal_won.json", ["sales.deal.won"]),
        ("pipedrive_v2_deal_lost.json", ["sales.deal.lost"]),
        ("pipedrive_v2_deal_stage_changed.json", ["sales.opportunity.stage-changed"]),
        ("pipedrive_v2_deal_changed_no_previous.json", []),
    ],
)
def test_pipedrive_deal_webhooks_map_to_sales_events(name: str, expected: list[str]) -> None:
    records = canonical(map_pipedrive, fixture(name), Department.SALES)
    assert [short_type(r) for r in records] == expected
    for record in records:
        data = record.model_dump(mode="json", exclude_none=True)["data"]
        assert data["customer"] == {"crm_account_id": "pipedrive-org-2"}
        assert data["opportunity_id"] == "1"


def test_a_won_pipedrive_deal_carries_its_amount_in_minor_units() -> None:
    [won] = canonical(map_pipedrive, fixture("pipedrive_v2_deal_won.json"), Department.SALES)
    data = won.model_dump(mode="json", exclude_none=True)["data"]
    assert data["amount"] == {"amount_minor": 1250000, "currency": "EUR"}
    assert data["products"] == [{"sku": "pipedrive-deal-1", "name": "test deal", "quantity": 1}]
    assert data["contract_term_months"] == 12


def test_a_lost_pipedrive_deal_keeps_its_reason() -> None:
    [lost] = canonical(map_pipedrive, fixture("pipedrive_v2_deal_lost.json"), Department.SALES)
    data = lost.model_dump(mode="json", exclude_none=True)["data"]
    assert (data["reason_code"], data["reason_text"]) == ("price-too-high", "Price too high")


def test_zendesk_ticket_created_maps_to_a_case_opened() -> None:
    [opened] = canonical(
        map_zendesk, fixture("zendesk_ticket_created.json"), Department.SERVICE_DESK
    )
    assert short_type(opened) == "servicedesk.case.opened"
    data = opened.model_dump(mode="json", exclude_none=True)["data"]
    assert data == {
        "customer": {"helpdesk_requester_id": "8447388090494"},
        "case_id": "5158",
        "priority": "P4",
        "category": "task",
        "channel": "web",
        "summary": "ticket_created",
    }
    assert opened.time == datetime(2025, 1, 8, 10, 12, 7, 672717, tzinfo=UTC)


def test_zendesk_ticket_solved_maps_to_a_case_resolved_with_its_duration() -> None:
    [resolved] = canonical(
        map_zendesk, fixture("zendesk_ticket_solved.json"), Department.SERVICE_DESK
    )
    data = resolved.model_dump(mode="json", exclude_none=True)["data"]
    assert short_type(resolved) == "servicedesk.case.resolved"
    assert data["resolution_time_seconds"] == 109803  # 2025-01-08T10:12:07 -> 01-09T16:42:10


def test_a_raised_zendesk_priority_maps_to_a_case_escalated() -> None:
    [escalated] = canonical(
        map_zendesk, fixture("zendesk_ticket_priority_raised.json"), Department.SERVICE_DESK
    )
    data = escalated.model_dump(mode="json", exclude_none=True)["data"]
    assert (short_type(escalated), data["priority"], data["escalation_level"]) == (
        "servicedesk.case.escalated",
        "P1",
        1,
    )


@pytest.mark.parametrize(
    ("adapter", "payload", "pointer"),
    [
        (map_hubspot, [{"eventId": 1, "occurredAt": 1}], "/0/subscriptionType"),
        (
            map_hubspot,
            [
                {
                    "subscriptionType": "contact.creation",
                    "eventId": 1,
                    "occurredAt": "x",
                    "objectId": 5,
                }
            ],
            "/0/occurredAt",
        ),
        (map_pipedrive, {"data": {}}, "/meta"),
        (
            map_pipedrive,
            {
                "meta": {"action": "create", "entity": "deal"},
                "data": {"id": 1, "title": "t", "update_time": "2024-01-01T00:00:00Z"},
            },
            "/data/org_id",
        ),
        (
            map_zendesk,
            {
                "type": "zen:event-type:ticket.created",
                "id": "x",
                "time": "2025-01-01T00:00:00Z",
                "detail": {"id": "1"},
            },
            "/detail/requester_id",
        ),
        (map_zendesk, "not an object", ""),
    ],
)
def test_unreadable_vendor_payloads_name_the_field(
    adapter: NativeAdapter, payload: Any, pointer: str
) -> None:
    with pytest.raises(NativePayloadError) as unreadable:
        adapter(payload)
    assert unreadable.value.errors[0].pointer == pointer
