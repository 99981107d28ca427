"""Writes a benchmark report: JSON (every figure), markdown (the summary) and a PNG chart."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt


def markdown_summary(report: dict[str, Any]) -> str:
    """The figures as a markdown table with the machine and workload they came from."""
    machine = report["machine"]
    workload = report["workload"]
    lines = [
        f"# Benchmark {report['started_at']}",
        "",
        f"Machine: {machine['cores']} cores, {machine['memory_bytes'] / 2**30:.1f} GiB, "
        f"Python {machine['python']}. Workload: {workload['records']:,} department events of "
        f"{workload['customers']:,} customers ({workload['bytes'] / 2**20:.1f} MiB), "
        f"{report['options']['repeats']} run(s) each.",
        "",
        "| pipeline | median records/s | min | max | share of the JSON ceiling |",
        "|---|---:|---:|---:|---:|",
    ]
    ratios = report.get("ratios_to_ceiling", {})
    for name, figure in report["figures"].items():
        share = "1.000" if name == "ceiling-json" else f"{ratios.get(name, 0):.3f}"
        lines.append(
            f"| {name} | {figure['median_records_per_second']:,.0f} | "
            f"{figure['min_records_per_second']:,.0f} | {figure['max_records_per_second']:,.0f} | "
            f"{share} |"
        )
    ingest = report.get("ingest")
    if ingest:
        single, batches = ingest["single_events"], ingest["batches"]
        lines += [
            "",
            "Ingest through one department service process (load from a second process):",
            "",
            "| load | throughput | p50 | p99 | refused |",
            "|---|---:|---:|---:|---:|",
            f"| single events offered at {single['offered_requests_per_second']:.0f}/s | "
            f"{single['achieved_requests_per_second']:,.0f} requests/s | {single['p50_ms']} ms | "
            f"{single['p99_ms']} ms | {single['refused']} |",
            f"| batches of {batches['batch_size']}, {batches['concurrency']} concurrent | "
            f"{batches['events_per_second']:,.0f} events/s | {batches['p50_ms']} ms | "
            f"{batches['p99_ms']} ms | {batches['refused']} |",
        ]
    lines += ["", "Not yet measured: " + "; ".join(report.get("not_yet_measured", [])) + "."]
    return "\n".join(lines) + "\n"


def write_chart(report: dict[str, Any], path: Path) -> None:
    """A bar chart of median throughput per pipeline, with the spread as error bars."""
    names = list(report["figures"])
    medians = [report["figures"][n]["median_records_per_second"] for n in names]
    low = [
        m - report["figures"][n]["min_records_per_second"]
        for n, m in zip(names, medians, strict=True)
    ]
    high = [
        report["figures"][n]["max_records_per_second"] - m
        for n, m in zip(names, medians, strict=True)
    ]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    axes.bar(names, medians, yerr=[low, high], capsize=6, color="#4C72B0")
    axes.set_ylabel("records per second (median, min-max)")
    axes.set_title(f"Consume, process, produce: {report['workload']['records']:,} events")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(report: dict[str, Any], output_dir: Path, started_at: datetime) -> dict[str, Path]:
    """Write `<timestamp>.json`, `.md` and `.png` into `output_dir`; return their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = started_at.strftime("%Y%m%dT%H%M%SZ")
    paths = {
        "json": output_dir / f"{stem}.json",
        "markdown": output_dir / f"{stem}.md",
        "chart": output_dir / f"{stem}.png",
    }
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    paths["markdown"].write_text(markdown_summary(report))
    write_chart(report, paths["chart"])
    return paths
