"""Given the default playbook, every play's action and missed-deadline series exist at 0 before
anything happens, so increase() over them sees the first increment."""

from __future__ import annotations

from prometheus_client import generate_latest

from orchestrator.core.playbook import Playbook
from orchestrator.metrics import OrchestratorMetrics


def test_each_plays_series_start_at_zero(playbook: Playbook) -> None:
    exposition = generate_latest(OrchestratorMetrics(playbook.plays).registry).decode()
    missed = 'lifecycle_handoff_deadlines_missed_total{department="sales",play="hot-lead"} 0.0'
    emitted = (
        'lifecycle_actions_emitted_total{department="sales",play="hot-lead",'
        'type="com.customerlifecycle.action.sales.call-customer.v1"} 0.0'
    )
    assert missed in exposition
    assert emitted in exposition
    breached = (
        'lifecycle_handoff_sla_breaches_total{from_department="orchestrator",'
        'handoff="action:sales.call-customer",to_department="sales"} 0.0'
    )
    assert breached in exposition


def test_without_a_playbook_no_series_are_made_up() -> None:
    exposition = generate_latest(OrchestratorMetrics().registry).decode()
    assert "lifecycle_handoff_deadlines_missed_total{" not in exposition
    assert "lifecycle_handoff_sla_breaches_total{" not in exposition
