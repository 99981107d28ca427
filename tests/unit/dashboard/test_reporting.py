"""The dashboard's helpers and page: metric sums, simulator summaries, no CDN."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from orchestrator.reporting import DASHBOARD_DIR, metric_sums, simulation_summaries


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
    for view in ("flow", "funnel", "customer", "plays", "proof"):
        assert f'data-view="{view}"' in html
