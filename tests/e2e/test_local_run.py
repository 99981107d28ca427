"""Given the session broker, `make run`'s runner brings the stack up with its default simulator
options, and within two minutes the orchestrator has seen deals won and support cases, its plays
have sent actions, and deadlines have been missed and escalated; traffic flows from the simulator
through the department services into Prometheus, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import pytest

from company_simulator.cli import build_parser
from lifecycle_admin.local_stack import LABEL_WIDTH, simulator_arguments, time_scale
from lifecycle_admin.stack import SERVICES
from lifecycle_testing.kafka import KafkaBroker
from lifecycle_testing.local_stack import local_stack
from lifecycle_testing.processes import poll_json, scraped_samples
from lifecycle_testing.waiting import eventually

# The promise: a dashboard full of live data within two minutes of make run.
LIVE_DATA_WITHIN_S = 120.0
EVENT = "com.customerlifecycle.{}.v1"


def orchestrator_counters(url: str) -> dict[str, dict[str, float]]:
    """The orchestrator's counters that show a living company, summed by the label that matters."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    wanted = {
        "lifecycle_events_processed_total": "type",
        "lifecycle_actions_emitted_total": "play",
        "lifecycle_handoff_deadlines_missed_total": "play",
        "lifecycle_consumer_lag": "partition",
    }
    for sample in scraped_samples(url):
        label = wanted.get(sample.name)
        if label is not None:
            sums[sample.name][sample.labels[label]] += sample.value
    return sums


def company_seen(url: str) -> tuple[list[str], float, dict[str, float], dict[str, float]]:
    """What is still missing from a living company, the worker's consumer lag, and the missed
    deadlines and actions by play (which say, on a miss, how far the hand-offs got)."""
    counters = orchestrator_counters(url)
    return (
        living_company(counters),
        sum(counters["lifecycle_consumer_lag"].values()),
        dict(counters["lifecycle_handoff_deadlines_missed_total"]),
        dict(counters["lifecycle_actions_emitted_total"]),
    )


def living_company(counters: dict[str, dict[str, float]]) -> list[str]:
    """What is still missing from a living company (empty: everything is there)."""
    events = counters["lifecycle_events_processed_total"]
    plays = {p for p, n in counters["lifecycle_actions_emitted_total"].items() if n > 0}
    missed = counters["lifecycle_handoff_deadlines_missed_total"]
    wanted = {
        "deals won": events[EVENT.format("sales.deal.won")] > 0,
        "deals lost": events[EVENT.format("sales.deal.lost")] > 0,
        "support cases": events[EVENT.format("servicedesk.case.opened")] > 0,
        "complaints": events[EVENT.format("servicedesk.complaint.received")] > 0,
        "hot leads sent to sales": "hot-lead" in plays,
        "actions of five plays": len(plays) >= 5,
        "missed deadlines": sum(missed.values()) > 0,
        "escalations": "hot-lead-escalation" in plays,
    }
    return [name for name, seen in wanted.items() if not seen]


@pytest.mark.parametrize(
    ("override", "scale"),
    [
        (None, 1440.0),
        ("--customers 300 --days-per-minute 90", 129_600.0),
        ("--customers 300 --days-per-minute=0.5", 720.0),
        ("--customers 300", 1440.0),
    ],
)
def test_the_simulator_and_the_orchestrator_get_one_speed(
    override: str | None, scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if override is None:
        monkeypatch.delenv("LIFECYCLE_SIMULATOR_ARGS", raising=False)
    else:
        monkeypatch.setenv("LIFECYCLE_SIMULATOR_ARGS", override)
    arguments = simulator_arguments()
    assert time_scale(arguments) == scale
    # The simulator's own parser reads the same speed (argparse keeps the last one given).
    parsed = build_parser().parse_args(arguments)
    assert parsed.days_per_minute * 24 * 60 == scale


@pytest.mark.alone
def test_local_run_serves_live_traffic_then_stops_on_ctrl_c(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    # make run's own defaults: whatever the developer's shell says, the simulator runs as shipped.
    defaults = {"LIFECYCLE_SIMULATOR_ARGS": None, "ORCHESTRATOR_TIME_SCALE": None}
    with local_stack(kafka_broker, tmp_path, defaults) as stack:
        ready_at = time.monotonic()
        output = stack.output()
        assert f"{'kafka':<{LABEL_WIDTH}}{kafka_broker.bootstrap_servers}" in output
        # The stack's topics (hence its consumer groups and changelogs) are its own.
        assert f"prefix {stack.prefix!r}" in output
        # One speed for both: a simulated day per real minute, deadlines scaled to match.
        assert (
            f"{'simulator':<{LABEL_WIDTH}}--days-per-minute 1 --sim-days 365 --rate 200" in output
        )
        assert "(orchestrator time scale 1440)" in output
        assert "DOWN" not in output
        for service in SERVICES:
            if service.is_installed():
                # A name and its URL never run together ("orchestratorhttp://...").
                assert f"{service.name} " in output
                assert f"{stack.url(service.port_env)}  [up  ]" in output

        prometheus = stack.url("PROMETHEUS_PORT")
        rules = poll_json(
            f"{prometheus}/api/v1/rules", lambda body: bool(body["data"]["groups"]), 30
        )
        loaded = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
        assert {"ServiceDown", "KafkaBrokerDown", "ConsumerLagGrowing"} <= loaded
        targets = poll_json(
            f"{prometheus}/api/v1/targets",
            lambda body: len(body["data"]["activeTargets"]) == len(SERVICES) + 1,
            30,
        )
        scrape_urls = {t["scrapeUrl"] for t in targets["data"]["activeTargets"]}
        for service in SERVICES:
            assert f"{stack.url(service.port_env)}/metrics" in scrape_urls
        poll_json(
            f"{prometheus}/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D",
            lambda body: [r["value"][1] for r in body["data"]["result"]] == ["1"],
            30,
        )
        # The simulator says what it does at once, then reports its progress every 2 s, its
        # events all accepted by the department services.
        simulator_log = eventually(
            lambda: stack.simulator_log.read_text(errors="replace"),
            lambda log: "events sent" in log,
            timeout_s=60,
            what="the simulator's first progress line",
        )
        said = simulator_log.find("simulate: 2000 customers (an existing base")
        assert -1 < said < simulator_log.index("events sent"), simulator_log
        # The simulator's events reach Kafka through every department service, and Prometheus
        # sees them in the services' own metrics.
        published = poll_json(
            f"{prometheus}/api/v1/query?query="
            + quote("sum by (job) (lifecycle_events_published_total)"),
            lambda body: (
                {r["metric"]["job"] for r in body["data"]["result"]}
                >= {"marketing", "sales", "service-desk"}
            ),
            90,
        )
        assert all(float(r["value"][1]) > 0 for r in published["data"]["result"])
        # Within two minutes of the stack being ready, the orchestrator has a living company.
        orchestrator = stack.url("ORCHESTRATOR_PORT")
        eventually(
            lambda: company_seen(orchestrator),
            lambda seen: seen[0] == [],
            timeout_s=LIVE_DATA_WITHIN_S - (time.monotonic() - ready_at),
            interval_s=1.0,
            what="a living company in the orchestrator's counters",
            retry_on=(urllib.error.URLError, OSError),
            # On a miss: what is missing, how far behind the worker is, how busy the machine.
            describe=lambda seen: (
                f"missing {seen[0]}, orchestrator consumer lag {seen[1]:g} records, "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, "
                f"deadlines missed by play {seen[2]}, actions by play {seen[3]}"
            ),
        )
        progress = [
            line for line in stack.simulator_log.read_text().splitlines() if "events sent" in line
        ]
        assert all(" rejected 0 " in line for line in progress), progress
