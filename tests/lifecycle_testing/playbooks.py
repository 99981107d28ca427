"""Copies of the default playbook with a few settings changed, for workers under test."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from orchestrator.core.playbook import DEFAULT_PLAYBOOK_DIR

# The default policy holds 10 % of customers out as the control group.
NOBODY_HELD_OUT = ("control_group_share: 0.1", "control_group_share: 0.0")


def edited_playbook(target: Path, edits: Mapping[str, tuple[str, str]] | None = None) -> Path:
    """The default playbook copied to ``target``, with ``{file: (old, new)}`` replaced once each.

    Each ``old`` text must be in its file: a test must not silently run the default playbook
    after the default changed under it.
    """
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, target)
    for name, (old, new) in (edits or {}).items():
        path = target / name
        text = path.read_text()
        if old not in text:
            raise AssertionError(f"{name} no longer contains {old!r}")
        path.write_text(text.replace(old, new, 1))
    return target


# The hot-lead hand-off's deadline in the default playbook, which tests cut to seconds.
HOT_LEAD_HANDOFF = "      - type: sales.assign-owner\n        priority: high\n        deadline: 4h"


def fast_handoff_playbook(target: Path) -> Path:
    """The default playbook, hot-lead hand-off deadline 3 s, everyone treated (the control
    group is tested apart): tests follow plays end to end and see the escalation."""
    return edited_playbook(
        target,
        {
            "plays.yaml": (
                HOT_LEAD_HANDOFF,
                HOT_LEAD_HANDOFF.replace("deadline: 4h", "deadline: 3s"),
            ),
            "policy.yaml": NOBODY_HELD_OUT,
        },
    )


@pytest.fixture(scope="module")
def fast_handoff_playbook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module's :func:`fast_handoff_playbook` (suites bind it as their ``playbook_dir``)."""
    return fast_handoff_playbook(tmp_path_factory.mktemp("playbook") / "playbook")
