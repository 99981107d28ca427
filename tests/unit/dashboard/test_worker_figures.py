"""The figures the worker exports at scrape time: declines per play and reason, budgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.core.playbook import SegmentSpec, budget_key, load_playbook
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.observed import WorkerView


def samples(metrics: OrchestratorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def with_new_lead_budget(
    segments: tuple[SegmentSpec, ...], **changes: str
) -> tuple[SegmentSpec, ...]:
    """The shipped segments with ``changes`` made to the new-lead segment's budget."""
    return tuple(
        s.model_copy(update={"budget": s.budget.model_copy(update=changes)})
        if s.id == "new-lead" and s.budget is not None
        else s
        for s in segments
    )


def test_declines_and_segment_budgets_are_read_when_scraped() -> None:
    playbook = load_playbook()
    metrics = OrchestratorMetrics(playbook.plays)
    view = WorkerView()
    spent = {"new-lead": 12_345}
    metrics.watch_worker(view, playbook.segments, lambda: spent)
    budgeted = {s.id: s.budget for s in playbook.segments if s.budget is not None}
    assert "new-lead" in budgeted
    before = samples(metrics)
    assert not [key for key in before if key[0] == "lifecycle_action_declines_total"]
    assert before[("lifecycle_segment_budget_spent_eur", (("segment", "new-lead"),))] == 123.45
    assert before[("lifecycle_segment_budget_eur", (("segment", "new-lead"),))] == (
        budgeted["new-lead"].amount_minor / 100
    )
    # Unbudgeted segments are never charged: no series for them.
    assert {
        labels[0][1] for name, labels in before if name == "lifecycle_segment_budget_eur"
    } == set(budgeted)

    view.play("hot-lead").declines[("sales", "no-capacity")] += 2
    spent["new-lead"] = 20_000
    after = samples(metrics)
    key = (("department", "sales"), ("play", "hot-lead"), ("reason", "no-capacity"))
    assert after[("lifecycle_action_declines_total", key)] == 2
    assert after[("lifecycle_segment_budget_spent_eur", (("segment", "new-lead"),))] == 200.0


def test_a_renewing_budget_exports_its_current_periods_spend() -> None:
    shipped = load_playbook()
    segments = with_new_lead_budget(shipped.segments, period="1d")
    new_lead = next(s for s in segments if s.id == "new-lead")
    today = budget_key(new_lead, datetime.now(UTC))
    yesterday = budget_key(new_lead, datetime.now(UTC) - timedelta(days=1))
    metrics = OrchestratorMetrics(shipped.plays)
    metrics.watch_worker(WorkerView(), segments, lambda: {yesterday: 90_000, today: 1_500})
    assert (
        samples(metrics)[("lifecycle_segment_budget_spent_eur", (("segment", "new-lead"),))] == 15.0
    )


def test_a_budget_in_another_currency_is_named_by_its_currency() -> None:
    shipped = load_playbook()
    segments = with_new_lead_budget(shipped.segments, currency="GBP")
    metrics = OrchestratorMetrics(shipped.plays)
    metrics.watch_worker(WorkerView(), segments, lambda: {})
    scraped = samples(metrics)
    assert ("lifecycle_segment_budget_gbp", (("segment", "new-lead"),)) in scraped
    assert ("lifecycle_segment_budget_eur", (("segment", "new-lead"),)) not in scraped
    assert ("lifecycle_segment_budget_spent_gbp", (("segment", "new-lead"),)) in scraped


def test_a_scrape_has_process_metrics_and_no_created_series() -> None:
    playbook = load_playbook()
    metrics = OrchestratorMetrics(playbook.plays)
    metrics.watch_worker(WorkerView(), playbook.segments, lambda: {})
    metrics.events_processed.labels(source="sales", type="t").inc()
    metrics.handoff_duration.labels(handoff="h", from_department="a", to_department="b").observe(1)
    names = {name for name, _ in samples(metrics)}
    assert not [name for name in names if name.endswith("_created")]
    assert {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
    } <= names
    # Money is named with its currency; no money series without one.
    assert [n for n in names if "budget" in n and not n.endswith(("_eur", "_gbp"))] == []
