"""`simulate`: play a living company against the running department services.

    simulate --customers 2000 --seed 42 --days-per-minute 1 --rate 200
    simulate --mode siloed --offline --summary-json siloed.json   # no services needed
    simulate --report-dir .cache/simulation   # live summaries + a siloed twin of the same seed

The run ends after `--sim-days` of simulated time (or `--duration` real seconds) and prints a
summary; `--summary-json` also writes it as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from company_simulator.population import build_population
from company_simulator.runner import (
    PROGRESS_INTERVAL_S,
    DepartmentEndpoint,
    RunCounters,
    Runner,
    load_api_keys,
)
from company_simulator.world import Mode, Tally, World
from lifecycle_schemas.departments import Department

DEFAULT_PORTS = {Department.MARKETING: 8101, Department.SALES: 8102, Department.SERVICE_DESK: 8103}
PORT_ENV = {
    Department.MARKETING: "MARKETING_PORT",
    Department.SALES: "SALES_PORT",
    Department.SERVICE_DESK: "SERVICE_DESK_PORT",
}


def _endpoint_url(department: Department) -> str:
    explicit = os.environ.get(f"{PORT_ENV[department].removesuffix('_PORT')}_URL")
    if explicit:
        return explicit.rstrip("/")
    port = os.environ.get(PORT_ENV[department], str(DEFAULT_PORTS[department]))
    return f"http://127.0.0.1:{port}"


def summarise(
    tally: Tally, counters: RunCounters | None, mode: Mode, customers: int
) -> dict[str, Any]:
    """The end-of-run summary: outcomes the world counted, and what crossed the wire."""
    hot = max(tally.hot_leads, 1)
    contracts = max(tally.deals_won + tally.existing_customers, 1)
    summary: dict[str, Any] = {
        "mode": mode.value,
        "customers": customers,
        "existing_customers": tally.existing_customers,
        "events": tally.events,
        "emails_clicked": tally.emails_clicked,
        "forms_submitted": tally.forms_submitted,
        "hot_leads": tally.hot_leads,
        "deals_won": tally.deals_won,
        "deals_lost": tally.deals_lost,
        "conversion_rate": round(tally.deals_won / hot, 4),
        "expansions_won": tally.expansions_won,
        "expansions_lost": tally.expansions_lost,
        "renewals": tally.renewals,
        "lapsed": tally.lapsed,
        "churned": tally.churned,
        # Of every customer who held a contract: the opening base and new wins.
        "churn_rate": round(tally.churned / contracts, 4),
        "revenue_per_customer_eur": round(tally.revenue_minor / 100 / max(customers, 1), 2),
        "promotions_sent": tally.promotions_sent,
        "promotions_denied": tally.promotions_denied,
        "conflicting_contacts": tally.conflicting_contacts,
        "median_handoff_hours": tally.median_handoff_hours(),
        "median_handoff_hours_by_kind": tally.median_handoff_hours_by_kind(),
        "escalations": tally.escalations,
        "cases_opened": tally.cases_opened,
        "complaints": tally.complaints,
        "actions_received": tally.actions_received,
        "actions_completed": tally.actions_completed,
        "actions_declined": tally.actions_declined,
        "actions_let_slip": tally.actions_let_slip,
    }
    if counters is not None:
        summary["wire"] = asdict(counters)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simulate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # The simulator stands alone (no service-kit): the same --version as every other command.
    parser.add_argument(
        "--version", action="version", version=f"simulate {version('company-simulator')}"
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.COORDINATED.value)
    parser.add_argument(
        "--days-per-minute",
        type=float,
        default=1.0,
        help="simulated days per real minute (speed factor; the orchestrator's "
        "ORCHESTRATOR_TIME_SCALE must be this x 1440 for deadlines to match)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="at most this many events/s")
    parser.add_argument("--sim-days", type=float, default=60.0, help="simulated days to run")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many real seconds (default: when --sim-days end)",
    )
    parser.add_argument(
        "--fresh-start",
        action="store_true",
        help="no existing base at t=0: every customer arrives as a new lead",
    )
    parser.add_argument(
        "--send-without-asking",
        action="store_true",
        help="coordinated: marketing's own promotions go out without a contact request (as "
        "before contact requests existed; to measure what asking changes)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="run the world alone, posting nothing (siloed counterfactuals)",
    )
    parser.add_argument(
        "--keys-file",
        default=os.environ.get("SIMULATOR_API_KEYS_FILE"),
        help="plain department API keys (make run writes .cache/keys/...)",
    )
    parser.add_argument("--summary-json", type=Path, default=None)
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=os.environ.get("SIMULATOR_REPORT_DIR") or None,
        help="keep <mode>.json summaries here while running, with siloed.json from a siloed "
        "twin of the same seed at the same simulated time (ORCHESTRATOR_SIMULATION_DIR)",
    )
    return parser


def write_summary(directory: Path, summary: dict[str, Any]) -> Path:
    """Write ``<directory>/<mode>.json`` atomically (a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{summary['mode']}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary, indent=2) + "\n")
    partial.replace(path)
    return path


def siloed_twin(customers: int, seed: int, start: datetime, *, existing_base: bool = True) -> World:
    """The same seed's company with departments acting on their own rules (advanced offline)."""
    return World(
        build_population(customers, seed),
        seed=seed,
        start=start,
        mode=Mode.SILOED,
        existing_base=existing_base,
    )


def starting_line(args: argparse.Namespace, mode: Mode, endpoints: list[DepartmentEndpoint]) -> str:
    """What the run is about to do: the company, its speed and where it posts."""
    base = "a new company" if args.fresh_start else "an existing base"
    targets = ", ".join(f"{e.department.value} {e.base_url}" for e in endpoints)
    return (
        f"simulate: {args.customers} customers ({base}, seed {args.seed}, {mode.value}), "
        f"{args.days_per_minute:g} simulated days per real minute for {args.sim_days:g} days, "
        f"at most {args.rate:g} events/s to {targets}; progress every "
        f"{PROGRESS_INTERVAL_S:g} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `simulate`."""
    args = build_parser().parse_args(argv)
    mode = Mode(args.mode)
    start = datetime.now(UTC).replace(microsecond=0)
    existing_base = not args.fresh_start
    world = World(
        build_population(args.customers, args.seed),
        seed=args.seed,
        start=start,
        mode=mode,
        existing_base=existing_base,
        # Live and coordinated: marketing asks before its own promotions (contact requests).
        ask_before_promotions=(
            mode is Mode.COORDINATED and not args.offline and not args.send_without_asking
        ),
    )
    counters: RunCounters | None = None
    report_dir: Path | None = args.report_dir
    # The siloed twin is kept at the live world's simulated time, so the two compare like for like.
    twin = (
        siloed_twin(args.customers, args.seed, start, existing_base=existing_base)
        if report_dir is not None and mode is Mode.COORDINATED
        else None
    )

    def write_reports(counters: RunCounters | None) -> None:
        if report_dir is None:
            return
        write_summary(report_dir, summarise(world.tally, counters, mode, args.customers))
        if twin is not None:
            twin.advance(world.now)
            write_summary(report_dir, summarise(twin.tally, None, Mode.SILOED, args.customers))

    def progress(line: str) -> None:
        print(line, flush=True)
        write_reports(runner.counters)

    if args.offline:
        world.advance(start + timedelta(days=args.sim_days))
    else:
        if not args.keys_file:
            print("simulate: --keys-file (or SIMULATOR_API_KEYS_FILE) is required", file=sys.stderr)
            return 2
        keys = load_api_keys(args.keys_file)
        missing = [d.value for d in Department if d not in keys]
        if missing:
            print(
                f"simulate: no API key for {', '.join(missing)} in {args.keys_file}",
                file=sys.stderr,
            )
            return 2
        endpoints = [DepartmentEndpoint(d, _endpoint_url(d), keys[d]) for d in Department]
        speed = args.days_per_minute * 24 * 60  # simulated seconds per real second
        # Said at once: whoever tails the log knows what runs before the first events go out.
        print(starting_line(args, mode, endpoints), flush=True)
        runner = Runner(
            world,
            endpoints,
            simulated_seconds_per_second=speed,
            events_per_second=args.rate,
            progress=progress,
        )
        duration = args.duration if args.duration is not None else float("inf")
        try:
            counters = asyncio.run(runner.run(duration, args.sim_days))
        except KeyboardInterrupt:
            counters = runner.counters
    summary = summarise(world.tally, counters, mode, args.customers)
    print(json.dumps(summary, indent=2))
    write_reports(counters)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
