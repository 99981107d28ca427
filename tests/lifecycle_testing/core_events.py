"""Department events for the orchestrator's pure core, built from the contract examples with
the customer, id, time and fields a test needs, and what the core decided from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle_schemas.codec import decode_record, encode_record
from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.identifiers import CustomerRef
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import event_type_of, short_type

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EventFactory = Callable[..., Any]
DESK = {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"}


def build_event(
    short: str, customer: dict[str, str], *, id: str, at: datetime, **fields: Any
) -> Any:
    """A department event of type ``short`` (e.g. 'sales.deal.won') from its example."""
    document = json.loads(encode_record(EXAMPLES[event_type_of(short)]))
    document["data"]["customer"] = customer
    for name, value in fields.items():
        if value is None:
            document["data"].pop(name, None)
        else:
            document["data"][name] = value
    document["id"] = id
    document["correlationid"] = id
    document.pop("causationid", None)
    document["time"] = at.isoformat()
    # The envelope requires the subject to be the reference's record key.
    document["subject"] = CustomerRef.model_validate(customer).record_key()
    return decode_record(json.dumps(document).encode(), now=None)


def build_outcome(kind: str, action: Any, *, at: datetime) -> Any:
    """The department's outcome (``accepted``, ``completed``, ``declined``, ...) of an action
    record the core published, from the contract example of its kind."""
    document = json.loads(encode_record(EXAMPLES[f"com.customerlifecycle.outcome.{kind}.v1"]))
    document["data"].update(
        customer_id=action.data.customer_id,
        action_id=action.id,
        action_type=action.type,
        department=action.data.department.value,
    )
    document["source"] = f"/services/{action.data.department.value}"
    document["subject"] = action.data.customer_id
    document["id"] = stable_id("test-outcome", kind, action.id, at.isoformat())
    document["time"] = at.isoformat()
    return decode_record(json.dumps(document).encode(), now=None)


def feed(engine: LocalEngine, events: list[Any]) -> list[Any]:
    """Apply events in order (now = event time); the records of the last one."""
    records: list[Any] = []
    for event in events:
        records = published(engine.submit_event(event, event.time + timedelta(seconds=1)))
    return records


def actions(records: list[Any]) -> list[tuple[str, str]]:
    return [(short_type(r.type), r.data.play_id) for r in records if ".action." in r.type]
