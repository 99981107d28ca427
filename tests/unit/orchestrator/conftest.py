"""Builders for the orchestrator's pure-core tests: department events from the contract
examples, with the customer, id, time and fields a test needs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.codec import decode_record, encode_record
from lifecycle_schemas.envelope import stable_id
from lifecycle_schemas.examples import EXAMPLES
from orchestrator.core.engine import LocalEngine
from orchestrator.core.playbook import Playbook, event_type_of, load_playbook

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EventFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def playbook() -> Playbook:
    # Everyone treated: these cases are about plays; the control group has tests of its own.
    default = load_playbook()
    return dataclasses.replace(
        default, policy=default.policy.model_copy(update={"control_group_share": 0.0})
    )


@pytest.fixture
def t0() -> datetime:
    """The time the first test event happens."""
    return T0


@pytest.fixture
def engine(playbook: Playbook) -> LocalEngine:
    return LocalEngine(playbook)


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
    first = next(
        k
        for k in (
            "customer_id",
            "crm_account_id",
            "marketing_contact_id",
            "helpdesk_requester_id",
            "email",
            "phone",
        )
        if k in customer
    )
    document["subject"] = (
        f"{first}:{customer[first].lower() if first == 'email' else customer[first]}"
    )
    return decode_record(json.dumps(document).encode(), now=None)


@pytest.fixture
def make_event() -> EventFactory:
    counter = iter(range(1, 1_000_000))

    def make(
        short: str,
        customer: dict[str, str] | None = None,
        *,
        at: datetime | None = None,
        id: str | None = None,
        **fields: Any,
    ) -> Any:
        n = next(counter)
        return build_event(
            short,
            customer or {"crm_account_id": "crm-1", "email": "ann@example.com"},
            id=id or f"evt-{n}",
            at=at or T0 + timedelta(minutes=n),
            **fields,
        )

    return make


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


@pytest.fixture
def make_outcome() -> Callable[..., Any]:
    return build_outcome
