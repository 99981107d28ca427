"""Orchestrator SIGKILLed three times mid-stream: the final state equals the pure core's replay.

The ledger is every department event Kafka acknowledged to the producer. The oracle is the same
ledger run through ``LocalEngine`` (the pure core, as ``orchestrator replay`` runs it). After
three hard kills and restarts under load, the API must serve the oracle's value for every
customer (each acknowledged event applied exactly once), every action the oracle decided must be
on its department topic, and every copy of one decision must carry one id.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from chaos.load import Load, assert_matches_the_oracle, wait_for_progress

from lifecycle_testing.orchestrator_io import Kafka
from lifecycle_testing.orchestrator_worker import Worker

pytestmark = pytest.mark.kafka
KILLS = 3


def test_three_sigkills_under_load_apply_every_acknowledged_event_once(
    make_worker: Callable[..., Worker], kafka_io: Kafka, playbook_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    worker = make_worker(data_dir)
    load = Load(kafka_io, interval_s=0.15).start()  # ~15 s: the kills land mid-stream
    for _ in range(KILLS):
        wait_for_progress(worker)
        assert worker.process is not None
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(timeout=10)
        worker = make_worker(data_dir)
    load.finish()
    assert_matches_the_oracle(worker, kafka_io, load, playbook_dir)
    worker.stop()
