"""SIGTERM stops a worker in bounded time, also when Kafka is gone.

With the broker unreachable, faust's own stop waits a minute per consumer thread, and a worker
left behind by an interrupted benchmark once outlived SIGTERM by almost two hours. The worker
bounds its stop by ``ORCHESTRATOR_STOP_TIMEOUT_S`` and then exits with
``STOP_TIMED_OUT_EXIT_CODE``; with Kafka up it stops cleanly, well inside that bound. A
department service, whose publishes have a deadline of their own, stops cleanly either way.

This module runs on a broker of its own, and its last test stops that broker.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from lifecycle_schemas.departments import Department
from lifecycle_testing.department_services import ServiceProcess
from lifecycle_testing.kafka import KafkaNamespace, LocalBroker
from lifecycle_testing.orchestrator_worker import Worker
from orchestrator.serving import STOP_TIMED_OUT_EXIT_CODE

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
# Ample for a clean stop with Kafka up (about 0.4 s).
CLEAN_STOP_TIMEOUT_S = 10.0
# Too short for any stop, so the timeout path runs whatever faust does: with Kafka gone its own
# stop took 60 s in most runs, but once under 3 s, and a 3 s timeout made this test flaky.
STOP_TIMEOUT_S = 0.01
# Far below faust's own minute-long wait for an unreachable broker, far above a clean stop.
EXIT_DEADLINE_S = 20.0
TIMED_OUT_LOG_LINE = "did not stop in time"


@pytest.fixture(scope="module")
def namespace(own_namespace: KafkaNamespace) -> KafkaNamespace:
    """The registry topics on this module's own broker (overrides the suite's namespace)."""
    return own_namespace


def terminated(process: subprocess.Popen[bytes] | None) -> tuple[int, float]:
    """SIGTERM the process; its exit status and how long it took to exit."""
    assert process is not None
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=EXIT_DEADLINE_S)
    return status, time.monotonic() - started


def test_with_kafka_up_a_worker_stops_cleanly_inside_the_bound(
    make_worker: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_STOP_TIMEOUT_S", str(CLEAN_STOP_TIMEOUT_S))
    worker = make_worker()

    status, _ = terminated(worker.process)

    # The worker re-raises the signal it caught once it has stopped (as uvicorn did).
    assert status == -signal.SIGTERM, worker.log_path.read_text()[-2000:]
    assert TIMED_OUT_LOG_LINE not in worker.log_path.read_text()


def test_with_kafka_gone_a_worker_exits_after_its_stop_timeout_and_a_service_stops(
    own_broker: LocalBroker,
    namespace: KafkaNamespace,
    make_worker: Callable[..., Worker],
    start_service: StartService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_STOP_TIMEOUT_S", str(STOP_TIMEOUT_S))
    worker = make_worker()
    sales = start_service(Department.SALES, namespace.bootstrap_servers, namespace.prefix)
    sales.wait_ready()
    own_broker.stop()

    status, took_s = terminated(worker.process)

    assert status == STOP_TIMED_OUT_EXIT_CODE, worker.log_path.read_text()[-2000:]
    assert took_s >= STOP_TIMEOUT_S  # it tried a clean stop first
    assert TIMED_OUT_LOG_LINE in worker.log_path.read_text()

    # A department service's stop is bounded by its own publish deadline: a clean stop.
    status, _ = terminated(sales.process)
    assert status == -signal.SIGTERM, sales.log_path.read_text()[-2000:]
