"""Writes a benchmark report: JSON (every figure), markdown (the summary) and a PNG chart."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _throughput_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "| pipeline | median records/s | min | max | share of the JSON ceiling "
        "| worker CPU ms per record |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ratios = report.get("ratios_to_ceiling", {})
    for name, figure in report["figures"].items():
        share = "1.000" if name == "ceiling-json" else f"{ratios[name]:.3f}" if ratios else "-"
        cpu = [run["cpu_ms_per_record"] for run in figure["runs"] if "cpu_ms_per_record" in run]
        lines.append(
            f"| {name} | {figure['median_records_per_second']:,.0f} | "
            f"{figure['min_records_per_second']:,.0f} | {figure['max_records_per_second']:,.0f} | "
            f"{share} | {', '.join(f'{ms:.2f}' for ms in cpu) or '-'} |"
        )
    return lines


def _ingest_lines(ingest: dict[str, Any]) -> list[str]:
    single, batches = ingest["single_events"], ingest["batches"]
    return [
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


def _contact_lines(contacts: dict[str, Any]) -> list[str]:
    single, batches = contacts["single"], contacts["batches"]
    return [
        "",
        "Contact requests through the marketing service and one worker (targets: single p99 "
        "<= 25 ms at 200/s, a batch of 1,000 p99 <= 250 ms):",
        "",
        "| load | throughput | p50 | p99 | refused or unanswered |",
        "|---|---:|---:|---:|---:|",
        f"| single requests offered at {single['offered_requests_per_second']:.0f}/s | "
        f"{single['achieved_requests_per_second']:,.0f} requests/s | {single['p50_ms']} ms | "
        f"{single['p99_ms']} ms | {single['refused']} |",
        f"| {batches['batches']} batches of {batches['customers_per_batch']:,}, one at a time | "
        f"| {batches['p50_ms']} ms | {batches['p99_ms']} ms | {batches['refused']} |",
    ]


def _cell(figures: dict[str, Any], name: str, spread: bool) -> str:
    """A median in ms, with the min-max over the repeats when there were several."""
    low, high = figures[f"{name}_min"], figures[f"{name}_max"]
    return _ms(figures[name]) + (f" ({_ms(low)}-{_ms(high)})" if spread else "")


def _latency_lines(latency: dict[str, Any]) -> list[str]:
    types = sorted({t for rate in latency["rates"] for t in rate["timestamp_types"]})
    lines = [
        "",
        f"Event-to-action latency through one worker ({latency['workload']}; "
        f"{latency['offered_seconds']:g} s per rate; output timestamps: "
        f"{', '.join(types) or 'none seen'}). Median over the repeats, min-max in brackets; "
        "a rate the worker did not keep up with measures its queue, not the worker:",
        "",
        "| offered | achieved events/s | kept up | backlog at stop | events with an output "
        "| with an action | p50 ms | p95 ms | p99 ms | max ms | decision log p99 ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in latency["rates"]:
        action, log = rate["event_to_action"], rate["event_to_decision_log"]
        spread = rate["repeats"] > 1
        kept_up = "yes" if rate["kept_up"] else "no"
        lines.append(
            f"| {rate['label']} | {rate['median_achieved_events_per_second']:,.0f} | "
            f"{kept_up} | {rate['max_backlog_when_offering_stopped']:,} | "
            f"{rate['events_with_an_output']:,} of {rate['events']:,} | "
            f"{rate['events_with_an_action']:,} | {_cell(action, 'p50_ms', spread)} | "
            f"{_cell(action, 'p95_ms', spread)} | {_cell(action, 'p99_ms', spread)} | "
            f"{_cell(action, 'max_ms', spread)} | {_cell(log, 'p99_ms', spread)} |"
        )
    for rate in latency["rates"]:
        if rate.get("hostile_answers"):
            counts = ", ".join(f"{s}: {n:,}" for s, n in sorted(rate["hostile_answers"].items()))
            lines += ["", f"Hostile requests during {rate['label']}, answers by status: {counts}."]
    if latency.get("note"):
        lines += ["", f"Note: {latency['note']}."]
    return lines


def _scale_out_lines(scale: dict[str, Any]) -> list[str]:
    one, two = scale["one_worker"], scale["two_workers"]
    lines = [
        "",
        f"Scale-out over {scale['workload_records']:,} events ({scale['partitions']} partitions), "
        f"on {scale['cores']} cores:",
        "",
        "| workers | median events/s | min | max |",
        "|---|---:|---:|---:|",
        f"| 1 | {one['median_events_per_second']:,.0f} | {one['min_events_per_second']:,.0f} | "
        f"{one['max_events_per_second']:,.0f} |",
        f"| 2 | {two['median_events_per_second']:,.0f} | {two['min_events_per_second']:,.0f} | "
        f"{two['max_events_per_second']:,.0f} |",
        "",
        f"Two workers / one worker: {scale['ratio']:.2f} (per repeat: "
        f"{', '.join(f'{r:.2f}' for r in scale['ratio_per_repeat'])}).",
    ]
    if scale.get("note"):
        lines.append(f"Note: {scale['note']}.")
    return lines


def _state_lines(state: dict[str, Any]) -> list[str]:
    how = (
        f"measured with {state['customers']:,} customers and scaled to 100,000 (extrapolated)"
        if state["extrapolated"]
        else "measured with 100,000 customers"
    )

    def row(label: str, figure: dict[str, float], unit: str) -> str:
        return f"| {label} | {figure['median']:,} {unit} | {figure['min']:,} | {figure['max']:,} |"

    return [
        "",
        f"State per 100,000 customers ({how}; {state['repeats']} run(s)):",
        "",
        "| figure | median | min | max |",
        "|---|---:|---:|---:|",
        row("resident memory per customer", state["rss_bytes_per_customer"], "bytes"),
        row("resident memory per 100,000", state["rss_mib_per_100k"], "MiB"),
        row("RocksDB data directory per 100,000", state["disk_mib_per_100k"], "MiB"),
        row("recovery, measured (ready and serving)", state["recovery_seconds_measured"], "s"),
        row("recovery per 100,000", state["recovery_seconds_per_100k"], "s"),
        *([f"\nNote: {state['note']}."] if state.get("note") else []),
    ]


def markdown_summary(report: dict[str, Any]) -> str:
    """The figures as markdown tables with the machine and workload they came from."""
    machine = report["machine"]
    loads = ", ".join(f"{load:g}" for load in machine["load_average_at_start"])
    header = (
        f"Machine: {machine['cores']} cores, {machine['memory_bytes'] / 2**30:.1f} GiB, "
        f"Python {machine['python']}; load averages (1, 5, 15 min) at the start: {loads}"
    )
    if "load_average_at_end" in machine:
        header += f", at the end: {', '.join(f'{x:g}' for x in machine['load_average_at_end'])}"
    lines = [f"# Benchmark {report['started_at']}", "", header + "."]
    if "figures" in report:
        workload = report["workload"]
        lines += [
            "",
            f"Throughput: {workload['records']:,} department events of "
            f"{workload['customers']:,} customers ({workload['bytes'] / 2**20:.1f} MiB), "
            f"{report['options']['repeats']} run(s) each.",
            "",
            *_throughput_lines(report),
        ]
    sections: list[tuple[str, Callable[[dict[str, Any]], list[str]]]] = [
        ("ingest", _ingest_lines),
        ("contacts", _contact_lines),
        ("latency", _latency_lines),
        ("scale_out", _scale_out_lines),
        ("state", _state_lines),
    ]
    for key, lines_of in sections:
        if key in report:
            lines += lines_of(report[key])
    for name, reason in report.get("failed", {}).items():
        first_line = reason.strip().splitlines()[0] if reason.strip() else "no reason given"
        lines += ["", f"**{name} did not finish**: {first_line}"]
    durations = report.get("durations_seconds", {})
    if durations:
        spent = ", ".join(f"{name} {seconds:,.0f} s" for name, seconds in durations.items())
        lines += ["", f"Wall-clock per measurement, start-ups included: {spent}."]
    return "\n".join(lines) + "\n"


def _error_bars(medians: list[float], lows: list[float], highs: list[float]) -> list[list[float]]:
    return [
        [m - low for m, low in zip(medians, lows, strict=True)],
        [high - m for m, high in zip(medians, highs, strict=True)],
    ]


def _throughput_panel(axes: Axes, report: dict[str, Any]) -> None:
    figures = report["figures"]
    names = list(figures)
    medians = [figures[n]["median_records_per_second"] for n in names]
    bars = _error_bars(
        medians,
        [figures[n]["min_records_per_second"] for n in names],
        [figures[n]["max_records_per_second"] for n in names],
    )
    axes.bar(names, medians, yerr=bars, capsize=6, color="#4C72B0")
    axes.set_ylabel("records per second (median, min-max)")
    axes.set_title(f"Consume, process, produce: {report['workload']['records']:,} events")
    axes.tick_params(axis="x", labelrotation=20)


def _latency_panel(axes: Axes, report: dict[str, Any]) -> None:
    rates = report["latency"]["rates"]
    labels = [f"{r['offered_events_per_second']:,.0f}/s" + ("" if r["kept_up"] else "\n(behind)")
              for r in rates]  # fmt: skip
    width = 0.25
    for offset, (name, colour) in enumerate(
        (("p50_ms", "#55A868"), ("p99_ms", "#C44E52"), ("max_ms", "#8172B2"))
    ):
        medians = [r["event_to_action"][name] or 0.0 for r in rates]
        bars = _error_bars(
            medians,
            [r["event_to_action"][f"{name}_min"] or 0.0 for r in rates],
            [r["event_to_action"][f"{name}_max"] or 0.0 for r in rates],
        )
        positions = [i + (offset - 1) * width for i in range(len(rates))]
        axes.bar(positions, medians, width, yerr=bars, capsize=3, color=colour,
                 label=name.removesuffix("_ms"))  # fmt: skip
    axes.set_xticks(range(len(rates)), labels)
    axes.set_yscale("log")
    axes.set_ylim(bottom=1)
    axes.set_ylabel("event to action, ms (log)")
    axes.set_title("Latency at offered rates")
    axes.legend()


def _scale_out_panel(axes: Axes, report: dict[str, Any]) -> None:
    scale = report["scale_out"]
    parts = [scale["one_worker"], scale["two_workers"]]
    medians = [p["median_events_per_second"] for p in parts]
    bars = _error_bars(
        medians, [p["min_events_per_second"] for p in parts],
        [p["max_events_per_second"] for p in parts],
    )  # fmt: skip
    axes.bar(["1 worker", "2 workers"], medians, yerr=bars, capsize=6, color="#DD8452")
    axes.set_ylabel("events per second")
    fairness = "" if scale["fair"] else f", {scale['cores']} cores: not fair"
    axes.set_title(f"Scale-out: ratio {scale['ratio']:.2f}{fairness}")


def _state_panel(axes: Axes, report: dict[str, Any]) -> None:
    state = report["state"]
    figures = [
        ("resident MiB", state["rss_mib_per_100k"]),
        ("RocksDB MiB", state["disk_mib_per_100k"]),
        ("recovery s", state["recovery_seconds_per_100k"]),
    ]
    medians = [f["median"] for _, f in figures]
    bars = _error_bars(medians, [f["min"] for _, f in figures], [f["max"] for _, f in figures])
    axes.bar([name for name, _ in figures], medians, yerr=bars, capsize=6, color="#937860")
    extrapolated = " (extrapolated)" if state["extrapolated"] else ""
    axes.set_title(f"State per 100,000 customers{extrapolated}")


def write_chart(report: dict[str, Any], path: Path) -> None:
    """One panel per measurement in the report: medians with the spread as error bars."""
    panels: list[Callable[[Axes, dict[str, Any]], None]] = [
        panel
        for key, panel in (
            ("figures", _throughput_panel),
            ("latency", _latency_panel),
            ("scale_out", _scale_out_panel),
            ("state", _state_panel),
        )
        if key in report
    ]
    columns = 1 if len(panels) <= 1 else 2
    rows = max(1, (len(panels) + 1) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(8 * columns, 4.5 * rows), squeeze=False)
    cells = [axes for row in grid for axes in row]
    for axes, panel in zip(cells, panels, strict=False):
        panel(axes, report)
        axes.grid(axis="y", alpha=0.3)
    for axes in cells[len(panels) :]:
        axes.set_visible(False)
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
