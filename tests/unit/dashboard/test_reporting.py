"""The dashboard's helpers and page: metric sums, simulator summaries, no CDN."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from orchestrator.core.state import ActionStatus, CustomerState, Identifier, OpenAction
from orchestrator.reporting import (
    DASHBOARD_DIR,
    merge_portfolios,
    metric_sums,
    portfolio_tally,
    simulation_summaries,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_metric_sums_group_by_a_label_and_skip_created_samples() -> None:
    registry = CollectorRegistry()
    events = Counter("lifecycle_events_processed_total", "x", ["source", "type"], registry=registry)
    events.labels(source="sales", type="a").inc(3)
    events.labels(source="sales", type="b").inc(2)
    events.labels(source="marketing", type="a").inc()
    lag = Gauge("lifecycle_consumer_lag", "x", ["topic", "partition"], registry=registry)
    lag.labels(topic="t", partition="0").set(7)
    lag.labels(topic="t", partition="1").set(5)
    assert metric_sums(registry, "lifecycle_events_processed_total", "source") == {
        "sales": 5.0,
        "marketing": 1.0,
    }
    assert metric_sums(registry, "lifecycle_consumer_lag", None) == {"all": 12.0}
    assert metric_sums(registry, "lifecycle_unknown_total", None) == {}
    # By several labels: their values joined (the flow's contact verdicts by decision and reason).
    assert metric_sums(registry, "lifecycle_events_processed_total", ("source", "type")) == {
        "sales: a": 3.0,
        "sales: b": 2.0,
        "marketing: a": 1.0,
    }


def test_simulation_summaries_read_what_is_there(tmp_path: Path) -> None:
    assert simulation_summaries(None) == {}
    assert simulation_summaries(tmp_path) == {}
    (tmp_path / "siloed.json").write_text(json.dumps({"mode": "siloed", "conflicting_contacts": 4}))
    (tmp_path / "coordinated.json").write_text("{not json")
    assert simulation_summaries(tmp_path) == {
        "siloed": {"mode": "siloed", "conflicting_contacts": 4}
    }


def test_the_page_loads_nothing_from_another_host() -> None:
    html = (DASHBOARD_DIR / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(s.startswith("/dashboard/static/") for s in sources)
    script = (DASHBOARD_DIR / "static" / "dashboard.js").read_text()
    assert "http://" not in script.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in script
    for view in ("flow", "funnel", "customer", "plays", "processes", "proof"):
        assert f'data-view="{view}"' in html


# Current spend keys of the budgeted segments (Playbook.current_budget_keys): "loyal" renews.
BUDGET_KEYS = {"value-gold": "value-gold", "onboarding": "onboarding", "loyal@20451": "loyal"}


def test_portfolio_sums_value_budget_spent_and_open_plays_per_segment_over_workers() -> None:
    first = CustomerState.new("c-1")
    first.identifiers = [Identifier(kind="email", value="a@example.com", first_seen=T0)]
    first.segments = ["value-gold", "at-risk"]
    first.revenue_to_date_minor = 1_000
    first.segment_spend_minor = {"value-gold": 500, "onboarding": 200}  # left onboarding since
    first.open_actions = {
        "a-1": open_action("a-1", "at-risk-outreach", ActionStatus.OPEN),
        "a-2": open_action("a-2", "complaint-retention", ActionStatus.ACCEPTED),
        "a-3": open_action("a-3", "hot-lead", ActionStatus.COMPLETED),  # not active any more
    }
    merged_away = CustomerState.new("c-2")
    merged_away.alias_of = "c-1"
    merged_away.segment_spend_minor = {"value-gold": 999}
    second = CustomerState.new("c-3")
    second.identifiers = [Identifier(kind="email", value="b@example.com", first_seen=T0)]
    second.segments = ["value-gold"]
    second.revenue_to_date_minor = 2_000
    # A renewing budget's earlier period, and a segment the playbook no longer has: not shown.
    second.segment_spend_minor = {"value-gold": 50, "loyal@20450": 30, "retired": 70}
    second.open_actions = {"b-1": open_action("b-1", "at-risk-outreach", ActionStatus.OPEN)}
    worker_one = portfolio_tally([first, merged_away], BUDGET_KEYS)
    active = {"at-risk-outreach": 1, "complaint-retention": 1}
    assert worker_one == {
        "value-gold": {"value_minor": 1_000, "spend_minor": 500, "open_actions": active},
        "at-risk": {"value_minor": 1_000, "spend_minor": 0, "open_actions": active},
        "onboarding": {"value_minor": 0, "spend_minor": 200, "open_actions": {}},
    }
    total = merge_portfolios(
        [worker_one, json.loads(json.dumps(portfolio_tally([second], BUDGET_KEYS)))]
    )
    assert total["value-gold"] == {
        "value_minor": 3_000,
        "spend_minor": 550,
        "open_actions": {"at-risk-outreach": 2, "complaint-retention": 1},
    }
    assert total["onboarding"] == {"value_minor": 0, "spend_minor": 200, "open_actions": {}}
    assert "loyal" not in total
    assert "retired" not in total


def open_action(action_id: str, play_id: str, status: ActionStatus) -> OpenAction:
    return OpenAction(
        action_id=action_id,
        action_type="com.customerlifecycle.servicedesk.proactive-outreach.v1",
        department="service-desk",
        play_id=play_id,
        play_version=1,
        priority="normal",
        created_at=T0,
        deadline=T0,
        expires_at=T0,
        status=status,
        trigger_event_id="evt-1",
    )
