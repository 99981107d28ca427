"""`lifecycle-bench run`: measure the pipelines and write bench/results/<timestamp>.*"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from lifecycle_admin.local_stack import repository_root
from lifecycle_bench.event_cost import run_event_cost
from lifecycle_bench.suite import ALL_PIPELINES, BenchOptions, run_suite
from service_kit.command_line import add_version_option

# Quick: small sizes, one repeat, one low latency rate for a few seconds; under 3 minutes.
QUICK = BenchOptions(
    records=5_000,
    repeats=1,
    timeout_s=150.0,
    ingest_seconds=2.0,
    contact_seconds=2.0,
    contact_batches=3,
    latency_rates=(100.0,),
    latency_seconds=3.0,
    latency_drain_s=10.0,
    scale_out_records=1_000,
    state_customers=2_000,
)


def _pipelines(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = set(names) - set(ALL_PIPELINES)
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown pipelines {sorted(unknown)}; choose from {','.join(ALL_PIPELINES)}"
        )
    return names


def _rates(text: str) -> tuple[float, ...]:
    return tuple(float(rate) for rate in text.split(",") if rate.strip())


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lifecycle-bench`."""
    parser = argparse.ArgumentParser(prog="lifecycle-bench", description=__doc__)
    add_version_option(parser, "lifecycle-bench")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the benchmark")
    run.add_argument("--quick", action="store_true", help="a short smoke run (under 3 minutes)")
    run.add_argument(
        "--pipelines",
        type=_pipelines,
        default=None,
        help=f"comma list of what to measure (default all): {','.join(ALL_PIPELINES)}",
    )
    run.add_argument("--records", type=int, default=None, help="workload of the throughput runs")
    run.add_argument("--repeats", type=int, default=None)
    run.add_argument("--latency-rates", type=_rates, default=None, help="events/s, comma list")
    run.add_argument("--latency-seconds", type=float, default=None, help="per offered rate")
    run.add_argument("--ingest-rate", type=float, default=None, help="single events/s offered")
    run.add_argument("--ingest-seconds", type=float, default=None, help="per ingest load")
    run.add_argument("--scale-out-records", type=int, default=None)
    run.add_argument("--state-customers", type=int, default=None)
    run.add_argument("--output", type=Path, default=repository_root() / "bench" / "results")
    cost = commands.add_parser(
        "event-cost", help="the worker's code per event in one process, without Kafka"
    )
    cost.add_argument("--events", type=int, default=2_000, help="events counted")
    cost.add_argument("--warmup", type=int, default=2_000, help="events applied first")
    cost.add_argument(
        "--stop-after-warmup",
        action="store_true",
        help="stop after the warm-up (the baseline of an instruction count)",
    )
    cost.add_argument(
        "--workload-file", type=Path, default=None, help="keep the workload in this file"
    )
    cost.add_argument(
        "--kept-values",
        type=int,
        default=None,
        help="values the customer agent keeps as objects (default: the worker's)",
    )
    args = parser.parse_args(argv)
    if args.command == "event-cost":
        figures = run_event_cost(
            args.events, args.warmup, args.stop_after_warmup, args.workload_file, args.kept_values
        )
        print(json.dumps(figures, indent=2))
        return 0
    base = QUICK if args.quick else BenchOptions()
    given = {
        "pipelines": args.pipelines,
        "records": args.records,
        "repeats": args.repeats,
        "latency_rates": args.latency_rates,
        "latency_seconds": args.latency_seconds,
        "ingest_rate": args.ingest_rate,
        "ingest_seconds": args.ingest_seconds,
        "scale_out_records": args.scale_out_records,
        "state_customers": args.state_customers,
    }
    options = replace(base, **{name: value for name, value in given.items() if value})
    report = run_suite(options, args.output)
    for name, figure in report.get("figures", {}).items():
        print(f"{name:<20} {figure['median_records_per_second']:>10,.0f} records/s (median)")
    if "ingest" in report:
        single, batches = report["ingest"]["single_events"], report["ingest"]["batches"]
        print(
            f"ingest single events at {single['offered_requests_per_second']:.0f}/s: "
            f"p50 {single['p50_ms']} ms, p99 {single['p99_ms']} ms, refused {single['refused']}, "
            f"service CPU {single['service_cpu_ms_per_request']} ms per request"
        )
        print(
            f"ingest batches of {batches['batch_size']}: {batches['events_per_second']:,.0f} "
            f"events/s, p99 {batches['p99_ms']} ms, refused {batches['refused']}, "
            f"service CPU {batches['service_cpu_ms_per_event']} ms per event"
        )
    if "contacts" in report:
        single, batches = report["contacts"]["single"], report["contacts"]["batches"]
        print(
            f"contact requests at {single['offered_requests_per_second']:.0f}/s: "
            f"p50 {single['p50_ms']} ms, p99 {single['p99_ms']} ms, refused {single['refused']}; "
            f"batches of {batches['customers_per_batch']}: p99 {batches['p99_ms']} ms"
        )
    for rate in report.get("latency", {}).get("rates", []):
        action = rate["event_to_action"]
        print(
            f"latency at {rate['label']}: event-to-action p50 {action['p50_ms']} ms, "
            f"p99 {action['p99_ms']} ms; achieved {rate['median_achieved_events_per_second']:,.0f}"
            f" events/s, kept up: {rate['kept_up']}"
        )
    if "scale_out" in report:
        scale = report["scale_out"]
        print(f"two workers / one worker: {scale['ratio']} ({scale['cores']} cores)")
    if "state" in report:
        state = report["state"]
        print(
            f"state per 100,000 customers{' (extrapolated)' if state['extrapolated'] else ''}: "
            f"{state['rss_mib_per_100k']['median']} MiB resident, "
            f"{state['disk_mib_per_100k']['median']} MiB disk, "
            f"recovery {state['recovery_seconds_per_100k']['median']} s"
        )
    for name, reason in report.get("failed", {}).items():
        print(f"{name} did not finish: {reason.strip().splitlines()[-1] if reason.strip() else ''}")
    print(f"written to {args.output}")
    return 1 if report.get("failed") else 0


if __name__ == "__main__":
    raise SystemExit(main())
