"""Shared fixtures of the contract tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.examples import EXAMPLES

# A reader's clock well after every example's time.
LATER = max(record.time for record in EXAMPLES.values()) + timedelta(days=1)


@pytest.fixture
def now() -> datetime:
    """A reader's clock later than every example."""
    return LATER


@pytest.fixture
def example_json() -> Any:
    """A function giving an example record of a type as a JSON-like dict (a fresh copy)."""

    def _example_json(record_type: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(encode_record(EXAMPLES[record_type]))
        return loaded

    return _example_json
