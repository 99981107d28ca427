"""`lifecycle-bench run`: measure the pipelines and write bench/results/<timestamp>.*"""

from __future__ import annotations

import argparse
from pathlib import Path

from lifecycle_admin.local_stack import repository_root
from lifecycle_bench.suite import BenchOptions, run_suite

QUICK = BenchOptions(records=5_000, repeats=1, timeout_s=150.0, ingest_seconds=2.0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lifecycle-bench`."""
    parser = argparse.ArgumentParser(prog="lifecycle-bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the benchmark")
    run.add_argument("--quick", action="store_true", help="a short smoke run (under 3 minutes)")
    run.add_argument("--records", type=int, default=None)
    run.add_argument("--repeats", type=int, default=None)
    run.add_argument("--output", type=Path, default=repository_root() / "bench" / "results")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else BenchOptions()
    options = BenchOptions(
        records=args.records or base.records,
        repeats=args.repeats or base.repeats,
        pipelines=base.pipelines,
        timeout_s=base.timeout_s,
        ingest_rate=base.ingest_rate,
        ingest_seconds=base.ingest_seconds,
    )
    report = run_suite(options, args.output)
    for name, figure in report["figures"].items():
        print(f"{name:<20} {figure['median_records_per_second']:>10,.0f} records/s (median)")
    if "ingest" in report:
        single, batches = report["ingest"]["single_events"], report["ingest"]["batches"]
        print(
            f"ingest single events at {single['offered_requests_per_second']:.0f}/s: "
            f"p50 {single['p50_ms']} ms, p99 {single['p99_ms']} ms, refused {single['refused']}"
        )
        print(
            f"ingest batches of {batches['batch_size']}: {batches['events_per_second']:,.0f} "
            f"events/s, p99 {batches['p99_ms']} ms, refused {batches['refused']}"
        )
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
