"""Process owners in owners.yaml: one per lifecycle process, the SLA of each hand-off it
receives, and what ``orchestrator check`` says when they do not fit the rules and plays."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.core.playbook import (
    DEFAULT_PLAYBOOK_DIR,
    PlaybookError,
    load_playbook,
)


def copy_playbook(tmp_path: Path) -> Path:
    target = tmp_path / "playbook"
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old``; the line it stood on."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text.count("\n", 0, text.index(old)) + 1


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(directory)
    return [str(p) for p in caught.value.problems]


def test_the_shipped_playbook_names_an_owner_and_slas_for_every_process() -> None:
    playbook = load_playbook()
    slas = {
        process.id.value: (
            process.owner.department,
            {r.handoff.value: process.sla(r.handoff.value) for r in process.receives},
        )
        for process in playbook.processes
    }
    day = timedelta(days=1)
    assert slas == {
        "engage": ("marketing", {"reassignment": 7 * day}),
        "transact": ("sales", {"lead-to-sales": timedelta(hours=4), "reassignment": 2 * day}),
        "fulfil": ("service-desk", {"sale-to-onboarding": day}),
        "service": ("service-desk", {"case-escalation": timedelta(hours=4)}),
    }


@pytest.mark.parametrize(
    ("kind", "department", "process"),
    [
        ("reassignment", "marketing", "engage"),
        ("reassignment", "sales", "transact"),
        ("sale-to-onboarding", "sales", "fulfil"),  # the only one receiving it
        ("case-escalation", "service-desk", "service"),
    ],
)
def test_a_hand_off_goes_to_the_process_receiving_it(
    kind: str, department: str, process: str
) -> None:
    found = load_playbook().receiving_process(kind, department)
    assert found is not None
    assert found.id.value == process


def test_a_kind_two_departments_receive_needs_the_department() -> None:
    assert load_playbook().receiving_process("reassignment", "service-desk") is None


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "owners.yaml",
            "  - id: service\n",
            "  - id: support\n",
            "owners.yaml:{line}: processes[3].id: Input should be 'engage', 'transact', 'fulfil'",
        ),
        (
            "owners.yaml",
            "{handoff: case-escalation, sla: 4h}",
            "{handoff: case-escalation, sla: soon}",
            "owners.yaml:{line}: processes[3].receives[0].sla: String should match pattern",
        ),
        (
            "owners.yaml",
            "{handoff: sale-to-onboarding, sla: 1d}",
            "{handoff: lead-to-sales, sla: 1d}",
            "owners.yaml:{line}: rules[1].handoff: no process receives sale-to-onboarding",
        ),
        (
            "owners.yaml",
            "{handoff: case-escalation, sla: 4h}",
            "{handoff: sale-to-onboarding, sla: 4h}",
            "owners.yaml:{line}: processes[3].receives[0].handoff: sale-to-onboarding is "
            "received in service-desk already (by fulfil)",
        ),
        (
            "plays.yaml",
            "        handoff: sale-to-onboarding\n",
            "        handoff: lead-to-sales\n",
            "plays.yaml:{line}: plays[5].actions[0].handoff: no service-desk process receives "
            "lead-to-sales",
        ),
        (
            "plays.yaml",
            "        handoff: lead-to-sales\n        propensity: 0.9",
            "        handoff: reassignment\n        propensity: 0.9",
            "plays.yaml:{line}: plays[3].actions[0].handoff: the action's parameters say "
            "lead-to-sales",
        ),
    ],
)
def test_check_names_the_process_problem(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    directory = copy_playbook(tmp_path)
    line = edit(directory / file, old, new)
    if "rules[1]" in expected:  # reported on the rule, not where the process was edited
        owners = (directory / "owners.yaml").read_text()
        line = owners.count("\n", 0, owners.index("handoff: sale-to-onboarding")) + 1
    expected = expected.format(line=line)
    assert any(expected in problem for problem in problems_of(directory)), problems_of(directory)
    assert main(["check", str(directory)]) == 1
    assert expected in capsys.readouterr().err


def test_check_requires_every_process(tmp_path: Path) -> None:
    directory = copy_playbook(tmp_path)
    owners = directory / "owners.yaml"
    text = owners.read_text()
    owners.write_text(text[: text.index("  - id: fulfil")])
    assert any(
        "owners.yaml" in p and "processes: no owner for process fulfil, service" in p
        for p in problems_of(directory)
    )


def test_an_owner_rule_may_keep_its_own_deadline(tmp_path: Path) -> None:
    directory = copy_playbook(tmp_path)
    edit(
        directory / "owners.yaml",
        "    handoff: lead-to-sales\n",
        "    handoff: lead-to-sales\n    deadline: 2h\n",
    )
    rule = next(r for r in load_playbook(directory).owner_rules if r.id == "lead-to-sales")
    assert rule.deadline == "2h"
