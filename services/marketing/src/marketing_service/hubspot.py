"""HubSpot webhooks (legacy CRM contact subscriptions) to canonical marketing events.

HubSpot POSTs a JSON array of up to 100 events. Mapping (see docs/departments.md):

| HubSpot event | canonical event |
|---|---|
| ``contact.creation`` | ``marketing.contact.captured`` (lead source = ``changeSource``) |
| ``contact.propertyChange`` of ``hubspotscore`` / ``hs_lead_score`` | ``marketing.lead.scored`` |
| ``contact.propertyChange`` of ``hs_email_optout`` = true | ``marketing.unsubscribed`` |
| ``contact.privacyDeletion`` | ``marketing.erasure.requested`` |
| anything else | ignored (acknowledged, not published) |

The customer is ``marketing_contact_id`` = HubSpot's ``objectId``.
"""

from __future__ import annotations

from typing import Any

from department_kit.department import NativeMapping
from department_kit.native import canonical_event, field, finite_number, iso_from_epoch_ms, slug

VENDOR = "hubspot"
SCORE_PROPERTIES = frozenset({"hubspotscore", "hs_lead_score"})


def _score(value: Any, pointer: str) -> int:
    return max(0, min(100, round(finite_number(value, pointer, "a lead score"))))


def map_hubspot(payload: Any) -> NativeMapping:
    """Canonical events for one HubSpot webhook request body."""
    items = payload if isinstance(payload, list) else [payload]
    events: list[dict[str, Any]] = []
    ignored: list[str] = []
    for index, item in enumerate(items):
        at = f"/{index}"
        kind = field(item, "subscriptionType", at)
        event_id = field(item, "eventId", at)
        identity = (item.get("portalId"), event_id)
        time = iso_from_epoch_ms(field(item, "occurredAt", at), f"{at}/occurredAt")
        customer: dict[str, Any] = {"marketing_contact_id": str(field(item, "objectId", at))}
        if kind == "contact.creation":
            data: dict[str, Any] = {
                "customer": customer,
                "lead_source": slug(item.get("changeSource"), VENDOR),
            }
            events.append(
                canonical_event("marketing.contact.captured", VENDOR, identity, time, data)
            )
        elif kind == "contact.propertyChange" and item.get("propertyName") in SCORE_PROPERTIES:
            score = _score(item.get("propertyValue"), f"{at}/propertyValue")
            data = {
                "customer": customer,
                "score": score,
                "scoring_model": slug(item["propertyName"], VENDOR),
            }
            events.append(canonical_event("marketing.lead.scored", VENDOR, identity, time, data))
        elif (
            kind == "contact.propertyChange"
            and item.get("propertyName") == "hs_email_optout"
            and str(item.get("propertyValue")).lower() == "true"
        ):
            data = {"customer": customer, "channel": "email", "reason": "opted out in HubSpot"}
            events.append(canonical_event("marketing.unsubscribed", VENDOR, identity, time, data))
        elif kind == "contact.privacyDeletion":
            data = {
                "customer": customer,
                "request_id": f"{VENDOR}-{event_id}",
                "requested_via": VENDOR,
            }
            events.append(
                canonical_event("marketing.erasure.requested", VENDOR, identity, time, data)
            )
        else:
            ignored.append(f"{kind} {item.get('propertyName') or ''}".strip())
    return NativeMapping(events, ignored)
