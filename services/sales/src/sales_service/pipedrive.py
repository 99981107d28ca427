"""Pipedrive webhooks v2 (deal events) to canonical sales events.

Pipedrive POSTs one object per change: ``meta`` (``action`` create/change/delete,
``entity``, ``entity_id``, ``company_id``, ``timestamp``), ``data`` (the deal now) and
``previous`` (the changed fields' old values, or null). Mapping (see docs/departments.md):

| Pipedrive | canonical event |
|---|---|
| ``create`` deal | ``sales.opportunity.created`` (stage ``stage-<stage_id>``) |
| ``change`` deal, ``status`` -> ``won`` | ``sales.deal.won`` (one product line, 12 months) |
| ``change`` deal, ``status`` -> ``lost`` | ``sales.deal.lost`` (reason from ``lost_reason``) |
| ``change`` deal, ``stage_id`` changed | ``sales.opportunity.stage-changed`` |
| anything else | ignored (acknowledged, not published) |

The customer is ``crm_account_id`` = ``pipedrive-org-<org_id>`` (or ``pipedrive-person-<person_id>``
for a deal without organisation).
"""

from __future__ import annotations

from typing import Any

from department_kit.department import NativeMapping
from department_kit.native import canonical_event, field, invalid, iso_time, money, object_at, slug

VENDOR = "pipedrive"
# Pipedrive deals carry no contract term; the documented default for a won deal.
DEFAULT_CONTRACT_TERM_MONTHS = 12


def _customer(deal: dict[str, Any]) -> dict[str, str]:
    if deal.get("org_id") is not None:
        return {"crm_account_id": f"pipedrive-org-{deal['org_id']}"}
    if deal.get("person_id") is not None:
        return {"crm_account_id": f"pipedrive-person-{deal['person_id']}"}
    raise invalid("/data/org_id", "missing", "a deal needs an organisation or a person")


def map_pipedrive(payload: Any) -> NativeMapping:
    """Canonical events for one Pipedrive webhook v2 request body."""
    body = object_at(payload, "")
    meta = object_at(field(body, "meta", ""), "/meta")
    action = field(meta, "action", "/meta")
    entity = meta.get("entity") or meta.get("object")
    if entity != "deal" or action not in ("create", "change"):
        return NativeMapping([], [f"{action}.{entity}"])
    deal = object_at(field(body, "data", ""), "/data")
    previous = object_at(body.get("previous") or {}, "/previous")
    deal_id = str(field(deal, "id", "/data"))
    when = deal.get("update_time") or meta.get("timestamp")
    time = iso_time(when, "/data/update_time")
    identity = (meta.get("company_id"), deal_id, action, when)
    base: dict[str, Any] = {"customer": _customer(deal), "opportunity_id": deal_id}
    value = money(deal.get("value"), deal.get("currency"), "/data/value")
    if action == "create":
        data: dict[str, Any] = {
            **base,
            "name": str(field(deal, "title", "/data")),
            "kind": "new-business",
            "stage": f"stage-{deal.get('stage_id', 'unknown')}",
        }
        if value is not None:
            data["estimated_value"] = value
        return NativeMapping(
            [canonical_event("sales.opportunity.created", VENDOR, identity, time, data)]
        )
    status, old_status = deal.get("status"), previous.get("status")
    if "status" in previous and status != old_status and status == "won":
        if value is None:
            raise invalid("/data/value", "missing", "a won deal needs value and currency")
        title = str(deal.get("title") or deal_id)[:200]
        data = {
            **base,
            "kind": "new-business",
            "amount": value,
            "products": [{"sku": f"pipedrive-deal-{deal_id}", "name": title}],
            "contract_term_months": DEFAULT_CONTRACT_TERM_MONTHS,
        }
        return NativeMapping([canonical_event("sales.deal.won", VENDOR, identity, time, data)])
    if "status" in previous and status != old_status and status == "lost":
        reason = deal.get("lost_reason")
        data = {**base, "reason_code": slug(reason, "unspecified")}
        if reason:
            data["reason_text"] = str(reason)[:2000]
        return NativeMapping([canonical_event("sales.deal.lost", VENDOR, identity, time, data)])
    if "stage_id" in previous and previous["stage_id"] != deal.get("stage_id"):
        data = {
            **base,
            "from_stage": f"stage-{previous['stage_id']}",
            "to_stage": f"stage-{deal.get('stage_id')}",
        }
        if isinstance(deal.get("probability"), int):
            data["win_probability_percent"] = deal["probability"]
        return NativeMapping(
            [canonical_event("sales.opportunity.stage-changed", VENDOR, identity, time, data)]
        )
    return NativeMapping([], ["change.deal without a status or stage change"])
