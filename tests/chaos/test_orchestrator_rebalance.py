"""A second worker joins and leaves under load: no gap, no regression, the API stays correct."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from chaos.load import Load, assert_matches_the_oracle, wait_for_progress

from lifecycle_testing.orchestrator_io import Kafka
from lifecycle_testing.orchestrator_worker import Worker

pytestmark = pytest.mark.kafka


def test_a_worker_joining_and_leaving_under_load_loses_and_doubles_nothing(
    make_worker: Callable[..., Worker], kafka_io: Kafka, playbook_dir: Path
) -> None:
    first = make_worker()
    load = Load(kafka_io, interval_s=0.3).start()  # ~25 s: spans the join and the leave
    wait_for_progress(first)
    second = make_worker()  # joins: partitions move to it mid-stream
    assert load.thread.is_alive(), "the load ended before the join: nothing was rebalanced"
    second.stop()  # leaves: they move back
    load.finish()
    assert_matches_the_oracle(first, kafka_io, load, playbook_dir)
    first.stop()
