"""Checks of a compiled playbook beyond its files' schema (pure): the dry run over the contract
examples that ``orchestrator check`` and every publication (CLI or API) run."""

from __future__ import annotations

from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.outputs import DecisionRecorded
from orchestrator.core.engine import LocalEngine
from orchestrator.core.messages import Publish
from orchestrator.core.playbook import Playbook


def dry_run_problems(playbook: Playbook) -> list[str]:
    """Plays whose actions cannot be built from the contract examples."""
    engine = LocalEngine(playbook)
    examples = sorted(
        (r for r in EXAMPLES.values() if isinstance(r, DepartmentEvent)), key=lambda r: r.time
    )
    problems: set[str] = set()
    for event in examples:
        for decision in engine.submit_event(event, event.time):
            if isinstance(decision, Publish) and isinstance(decision.record, DecisionRecorded):
                problems.update(
                    f"plays.yaml: play {c.play_id}: {c.reason}"
                    for c in decision.record.data.candidates
                    if c.reason_code == "invalid-action"
                )
    return sorted(problems)
