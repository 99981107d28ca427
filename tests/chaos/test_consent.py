"""Consent withdrawn for a channel: no action on that channel for that customer, whatever fires.

Pure core (the worker runs the same ``apply``): every department event type of the contract
examples is replayed for one customer, once with consent given and once withdrawn for every
channel. The consenting run must contact the customer on each channel (else the test proves
nothing); the withdrawn run must not, on any.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifecycle_schemas.codec import decode_record, encode_record
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.vocabulary import ContactChannel
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import Playbook, load_playbook, short_type

CUSTOMER = {"crm_account_id": "crm-consent-1", "email": "consent-1@example.com"}
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def event_about_customer(example: Any, at: datetime, **data: Any) -> Any:
    """The example re-addressed to the test customer at ``at``."""
    document = json.loads(encode_record(example))
    document["data"]["customer"] = dict(CUSTOMER)
    document["data"].update(data)
    document["subject"] = f"crm_account_id:{CUSTOMER['crm_account_id']}"
    document["id"] = f"{short_type(example.type)}-{at:%Y%m%d%H%M}"
    document["time"] = at.isoformat()
    return decode_record(json.dumps(document).encode(), now=None)


def channels_contacted(playbook: Playbook, withdrawn: bool) -> set[str]:
    """The channels of every action decided while replaying every event type."""
    engine = LocalEngine(playbook)
    consent = EXAMPLES["com.customerlifecycle.marketing.consent.changed.v1"]
    at = START
    for channel in ContactChannel:
        status = "withdrawn" if withdrawn else "granted"
        event = event_about_customer(consent, at, channel=channel.value, status=status)
        engine.submit_event(event, at)
        at += timedelta(minutes=1)
    examples = sorted(
        (r for r in EXAMPLES.values() if isinstance(r, DepartmentEvent)), key=lambda r: r.time
    )
    contacted: set[str] = set()
    for _ in range(2):  # a second round: plays that need state built by the first
        for example in examples:
            if (
                "consent" in example.type
                or "unsubscribed" in example.type
                or "erasure" in example.type
            ):
                continue
            at += timedelta(days=3)  # past the frequency caps' windows
            event = event_about_customer(example, at)
            for record in published(engine.submit_event(event, at)):
                if ".action." not in record.type:
                    continue
                kind = playbook.policy.contact_kinds.get(short_type(record.type))
                action_channel = getattr(record.data.parameters, "channel", None) or (
                    kind.channel if kind else None
                )
                if action_channel is not None:
                    contacted.add(str(action_channel))
    return contacted


def test_withdrawn_consent_stops_every_action_on_that_channel(playbook_dir: Path) -> None:
    playbook = load_playbook(playbook_dir)
    assert channels_contacted(playbook, withdrawn=False), "no play contacts anyone: vacuous"
    assert channels_contacted(playbook, withdrawn=True) == set()
