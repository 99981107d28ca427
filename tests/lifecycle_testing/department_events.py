"""Department events as a department's system posts them, for tests of any tier."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.examples import EXAMPLES


def lead_scored(contact_id: str, score: int) -> dict[str, Any]:
    """A canonical marketing lead-scored event for a new contact, with a fresh id."""
    document: dict[str, Any] = json.loads(
        encode_record(EXAMPLES["com.customerlifecycle.marketing.lead.scored.v1"])
    )
    document["id"] = document["correlationid"] = str(uuid.uuid4())
    document.pop("causationid", None)
    document["time"] = datetime.now(UTC).isoformat()
    document["data"]["customer"] = {"marketing_contact_id": contact_id}
    document["data"]["score"] = score
    document.pop("subject", None)
    return document


def hot_lead(contact_id: str) -> dict[str, Any]:
    """A lead hot enough for the hot-lead play to hand it to sales."""
    return lead_scored(contact_id, 91)
