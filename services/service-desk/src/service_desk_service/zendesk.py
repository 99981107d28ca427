"""Zendesk webhooks (ticket event subscriptions) to canonical service-desk events.

Zendesk POSTs one event per request: ``type`` (``zen:event-type:ticket.created``, ...), ``id``,
``time``, ``detail`` (the ticket: ``id``, ``requester_id``, ``priority``, ``type``, ``status``,
``via.channel``, ``created_at``, ``updated_at``) and ``event`` (``current``/``previous``).
Mapping (see docs/departments.md):

| Zendesk event | canonical event |
|---|---|
| ``ticket.created`` | ``servicedesk.case.opened`` |
| ``ticket.status_changed`` to ``SOLVED`` | ``servicedesk.case.resolved`` |
| ``ticket.priority_changed`` to a more urgent priority | ``servicedesk.case.escalated`` |
| anything else | ignored (acknowledged, not published) |

Priorities: URGENT -> P1, HIGH -> P2, NORMAL (or none) -> P3, LOW -> P4. The customer is
``helpdesk_requester_id`` = the ticket's ``requester_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from department_kit.department import NativeMapping
from department_kit.native import canonical_event, field, iso_time, object_at, slug

VENDOR = "zendesk"
EVENT_PREFIX = "zen:event-type:"
PRIORITIES = {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}
CHANNELS = {
    "email": "email",
    "mail": "email",
    "voice": "phone",
    "phone": "phone",
    "chat": "chat",
    "messaging": "chat",
    "native_messaging": "chat",
    "twitter": "social",
    "facebook": "social",
    "instagram": "social",
    "whatsapp": "chat",
}


def _priority(value: Any) -> str:
    return PRIORITIES.get(str(value or "normal").lower(), "P3")


def map_zendesk(payload: Any) -> NativeMapping:
    """Canonical events for one Zendesk webhook request body."""
    body = object_at(payload, "")
    kind = str(field(body, "type", "")).removeprefix(EVENT_PREFIX)
    ticket = object_at(field(body, "detail", ""), "/detail")
    raw_change = body.get("event")
    change: dict[str, Any] = raw_change if isinstance(raw_change, dict) else {}
    time = iso_time(field(body, "time", ""), "/time")
    identity = (body.get("account_id"), field(body, "id", ""))
    case_id = str(field(ticket, "id", "/detail"))
    customer = {"helpdesk_requester_id": str(field(ticket, "requester_id", "/detail"))}
    if kind == "ticket.created":
        raw_via = ticket.get("via")
        via: dict[str, Any] = raw_via if isinstance(raw_via, dict) else {}
        data: dict[str, Any] = {
            "customer": customer,
            "case_id": case_id,
            "priority": _priority(ticket.get("priority")),
            "category": slug(ticket.get("type"), "general"),
            "channel": CHANNELS.get(str(via.get("channel", "")).lower(), "web"),
        }
        if ticket.get("subject"):
            data["summary"] = str(ticket["subject"])[:200]
        return NativeMapping(
            [canonical_event("servicedesk.case.opened", VENDOR, identity, time, data)]
        )
    if kind == "ticket.status_changed" and str(change.get("current", "")).upper() == "SOLVED":
        opened = datetime.fromisoformat(
            iso_time(field(ticket, "created_at", "/detail"), "/detail/created_at")
        )
        solved = datetime.fromisoformat(time)
        data = {
            "customer": customer,
            "case_id": case_id,
            "resolution_code": "solved",
            "resolution_time_seconds": max(0, int((solved - opened).total_seconds())),
        }
        return NativeMapping(
            [canonical_event("servicedesk.case.resolved", VENDOR, identity, time, data)]
        )
    if kind == "ticket.priority_changed":
        now, before = _priority(change.get("current")), _priority(change.get("previous"))
        if now < before:  # "P1" < "P2": more urgent
            data = {
                "customer": customer,
                "case_id": case_id,
                "priority": now,
                "escalation_level": 1,
                "reason": f"priority raised in Zendesk from {before} to {now}",
            }
            return NativeMapping(
                [canonical_event("servicedesk.case.escalated", VENDOR, identity, time, data)]
            )
    return NativeMapping([], [kind])
