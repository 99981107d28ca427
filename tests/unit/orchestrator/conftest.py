"""Fixtures of the orchestrator's pure-core tests: the playbook, an engine, and department
events from the contract examples (``lifecycle_testing.core_events``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle_testing.core_events import T0, EventFactory, build_event, build_outcome
from orchestrator.core.engine import LocalEngine
from orchestrator.core.playbook import Playbook, load_playbook


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


@pytest.fixture
def make_outcome() -> Callable[..., Any]:
    return build_outcome
