"""Expression and template injection in free-text fields stays data.

Every department event type of the contract examples is replayed through the pure core twice
for one customer: once as is, once with every free-text field of ``data`` replaced by an
injection string (``${...}``, ``{{...}}``, CEL fragments) wherever the contract accepts it. The
plays fired, the actions and the segments must be the same in both runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chaos.injection_strings import INJECTIONS, injected

from lifecycle_schemas.codec import decode_record, encode_record
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.examples import EXAMPLES
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import load_playbook

START = datetime(2026, 2, 2, 9, tzinfo=UTC)


def outcomes(
    playbook_dir: Path, text: str | None, injected_fields: list[str] | None = None
) -> tuple[list[tuple[str, str]], list[str]]:
    """(action type, play) of every action decided, and the final segments."""
    engine = LocalEngine(load_playbook(playbook_dir))
    examples = sorted(
        (r for r in EXAMPLES.values() if isinstance(r, DepartmentEvent)), key=lambda r: r.time
    )
    decided: list[tuple[str, str]] = []
    at = START
    for example in examples:
        if "erasure" in example.type:
            continue
        at += timedelta(hours=6)
        document = json.loads(encode_record(example))
        document["data"]["customer"] = {"crm_account_id": "crm-injection-1"}
        document["subject"] = "crm_account_id:crm-injection-1"
        document["time"] = at.isoformat()
        if text is not None:
            changed = injected(document, text)
            if injected_fields is not None:
                injected_fields += [
                    f"{example.type}:{n}" for n, v in changed["data"].items() if v == text
                ]
            document = changed
        event = decode_record(json.dumps(document).encode(), now=None)
        decided += [
            (r.type, r.data.play_id)
            for r in published(engine.submit_event(event, at))
            if ".action." in r.type
        ]
    state = engine.resolve("crm_account_id:crm-injection-1")
    assert state is not None
    return decided, sorted(state.segments)


def test_injection_strings_in_free_text_change_no_decision(playbook_dir: Path) -> None:
    baseline = outcomes(playbook_dir, None)
    assert baseline[0], "no action decided: the comparison would prove nothing"
    for text in INJECTIONS:
        fields: list[str] = []
        assert outcomes(playbook_dir, text, fields) == baseline, text
        assert len(fields) >= 5, f"too few free-text fields took {text!r}: {fields}"
