"""``<department> import FILE``: backfill through the same validation, resumable."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from lifecycle_schemas.catalogue import event_types_for
from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import events_topic_for
from lifecycle_testing.department_services import DevKeys, read_topic
from lifecycle_testing.kafka import KafkaNamespace

pytestmark = pytest.mark.kafka


def events(count: int) -> list[dict[str, Any]]:
    types = sorted(event_types_for(Department.SALES))
    out = []
    for index in range(count):
        new_id = str(uuid.uuid4())
        record = EXAMPLES[types[index % len(types)]]
        document = json.loads(
            encode_record(record.model_copy(update={"id": new_id, "correlationid": new_id}))
        )
        out.append({k: document[k] for k in ("id", "type", "time", "data")})
    return out


def run_import(
    path: Path, kafka: KafkaNamespace, data_dir: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "LIFECYCLE_TOPIC_PREFIX": kafka.prefix,
        "DEPARTMENT_DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "sales_service.cli", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_ndjson_import_publishes_valid_lines_lists_rejected_ones_and_resumes(
    kafka: KafkaNamespace, dev_keys: DevKeys, tmp_path: Path
) -> None:
    good = events(5)
    lines = [json.dumps(e) for e in good[:3]]
    lines.append("{not json")
    lines.append(json.dumps({**good[3], "data": {"customer": {"email": "nope"}}}))
    lines.extend(json.dumps(e) for e in good[3:])
    path = tmp_path / "history.ndjson"
    path.write_text("\n".join(lines) + "\n")

    first = run_import(path, kafka, tmp_path / "data")

    assert first.returncode == 1, first.stderr
    assert "published 5 events, rejected 2 lines" in first.stderr
    assert "line 4: (event) json_invalid" in first.stderr
    assert "line 5: /data/customer/email email_invalid" in first.stderr
    topic = kafka.topic(events_topic_for(Department.SALES))
    records = read_topic(kafka.bootstrap_servers, topic, lambda rs: len(rs) >= 5)
    assert sorted(r.value["id"] for r in records) == sorted(e["id"] for e in good)

    second = run_import(path, kafka, tmp_path / "data")

    assert "resuming after line 7" in second.stderr
    assert "published 0 events" in second.stderr
    assert len(read_topic(kafka.bootstrap_servers, topic, lambda rs: len(rs) >= 5)) == 5


def test_a_csv_import_reads_data_as_json(kafka: KafkaNamespace, tmp_path: Path) -> None:
    good = events(2)
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "type", "time", "data"])
        writer.writeheader()
        for event in good:
            writer.writerow({**event, "data": json.dumps(event["data"])})

    result = run_import(path, kafka, tmp_path / "data")

    assert result.returncode == 0, result.stderr
    assert "published 2 events, rejected 0 lines" in result.stderr
