"""``<department> import FILE``: publish historic events through the same validation as HTTP.

NDJSON (one event per line) or CSV with a header row: ``id``, ``type``, ``time``, ``data``
(the payload as JSON text) and optionally ``correlationid``, ``causationid``, ``subject``.
Valid lines are published in chunks; after each acknowledged chunk the line number is saved,
so an interrupted import resumes after the last acknowledged chunk (and ids already accepted
are no-ops anyway). Rejected lines are listed with their reasons at the end.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from department_kit.ingest import validate_item
from department_kit.kafka_io import BrokerUnavailableError
from department_kit.runtime import DepartmentRuntime, IdReused
from lifecycle_schemas.catalogue import AnyDepartmentEvent
from service_kit.problems import FieldProblem, ProblemError

CHUNK_SIZE = 200
_ID_REUSED = FieldProblem(
    pointer="/id", rule="id_reused", detail="accepted before with another body"
)
_CSV_JSON_COLUMNS = ("data",)


@dataclass
class ImportSummary:
    """What an import did."""

    published: int = 0
    skipped_lines: int = 0
    rejected: list[tuple[int, list[FieldProblem]]] = field(default_factory=list)


def _file_key(path: Path) -> str:
    # Same file, same content head: a new file at the same path starts from line 1 again.
    with path.open("rb") as handle:
        head = handle.read(65536)
    return f"{path.resolve()}:{hashlib.sha256(head).hexdigest()[:16]}"


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, item or a parse problem) for each non-empty line/row."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                item: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
                for column in _CSV_JSON_COLUMNS:
                    if column in item:
                        try:
                            item[column] = json.loads(item[column])
                        except ValueError:
                            yield (
                                reader.line_num,
                                FieldProblem(
                                    pointer=f"/{column}",
                                    rule="json_invalid",
                                    detail="the column is not JSON",
                                ),
                            )
                            break
                else:
                    yield reader.line_num, item
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                yield (
                    number,
                    FieldProblem(pointer="", rule="json_invalid", detail="the line is not JSON"),
                )


def count_lines(path: Path) -> int:
    """Lines in a file (for the progress bar)."""
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def import_file(
    runtime: DepartmentRuntime, path: Path, console: Console | None = None
) -> ImportSummary:
    """Validate and publish every event of ``path``, resuming after the last checkpoint."""
    console = console or Console(stderr=True)
    key = _file_key(path)
    resume_after = runtime.store.import_checkpoint(key)
    if resume_after:
        console.print(f"resuming after line {resume_after} (earlier lines were acknowledged)")
    summary = ImportSummary()
    chunk: list[tuple[int, AnyDepartmentEvent]] = []

    def flush() -> None:
        if not chunk:
            return
        chunk_end = chunk[-1][0]
        while chunk:
            outcome = runtime.accept_events([record for _, record in chunk])
            if not isinstance(outcome, IdReused):
                summary.published += len(chunk)
                break
            # Ids used before for other events: those lines are refused, the rest sent again.
            for position in outcome.positions:
                summary.rejected.append((chunk[position][0], [_ID_REUSED]))
            reused = set(outcome.positions)
            chunk[:] = [entry for n, entry in enumerate(chunk) if n not in reused]
        runtime.store.save_import_checkpoint(key, chunk_end)
        chunk.clear()

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"importing {path.name}", total=count_lines(path))
        last_line = 0
        for number, item in _rows(path):
            progress.update(task, completed=number)
            last_line = number
            if number <= resume_after:
                summary.skipped_lines += 1
                continue
            if isinstance(item, FieldProblem):
                summary.rejected.append((number, [item]))
                continue
            outcome = validate_item(item, runtime.department, runtime.clock())
            if isinstance(outcome, list):
                summary.rejected.append((number, outcome))
                continue
            chunk.append((number, outcome))
            if len(chunk) >= CHUNK_SIZE:
                flush()
        flush()
        if last_line > resume_after:
            runtime.store.save_import_checkpoint(key, last_line)
        progress.update(task, completed=count_lines(path))
    return summary


def print_summary(summary: ImportSummary, console: Console) -> None:
    """The result of an import, with each rejected line and why."""
    console.print(
        f"published {summary.published} events, rejected {len(summary.rejected)} lines, "
        f"skipped {summary.skipped_lines} lines already imported"
    )
    for number, problems in summary.rejected:
        reasons = "; ".join(f"{p.pointer or '(event)'} {p.rule}" for p in problems)
        console.print(f"  line {number}: {reasons}")


def run_import(runtime: DepartmentRuntime, path: Path) -> int:
    """The import command: exit status 0 if everything was published, 1 if lines were
    rejected, 2 if Kafka stopped acknowledging (run it again to resume)."""
    console = Console(stderr=True)
    try:
        summary = import_file(runtime, path, console)
    except (ProblemError, BrokerUnavailableError):
        console.print("Kafka did not acknowledge; run the same command again to resume")
        return 2
    print_summary(summary, console)
    return 1 if summary.rejected else 0
