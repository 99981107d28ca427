"""Fixes to faust-streaming that our at-least-once guarantee depends on (upstreamable).

They patch faust's classes, so ``orchestrator serve`` installs them (:func:`install`) before
it builds the faust app. They were written against faust-streaming :data:`FAUST_VERSION`, the
version the orchestrator's pyproject pins; a test fails when another one is installed, so an
upgrade re-checks them.

``ProducerBuffer.flush`` drains the ``send_soon`` buffer (table changelog writes go through it)
before faust commits source offsets. Upstream it returns as soon as one message takes longer
than 0.1 s to hand to aiokafka (a metadata fetch for a new topic, a full accumulator): the
commit then goes ahead while changelog records still sit in the buffer, and a crash loses
state whose source record is already committed. Here flush waits until the buffer is empty.

The worker's consumer is created with ``fetch_max_wait_ms=1500``, hard-coded in faust's aiokafka
driver (no setting). aiokafka keeps one fetch in flight per broker and leaves out the partitions
whose records are not consumed yet; behind on a backlog, the fetch in flight then asks only for
idle partitions, and the broker holds it for 1.5 s while the backlog waits: the worker stalls
whenever it falls behind, and its throughput drops below what it sustains (docs/benchmarks.md,
"Overload"). Here the wait is 100 ms: an idle worker sends about ten empty fetches a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer

FAUST_VERSION = "0.15.3"
_HAND_OVER_POLL_S = 0.1
WORKER_FETCH_MAX_WAIT_MS = 100


async def _flush_until_empty(self: Any, max_messages: int | None = None) -> int:
    """Wait until ``max_messages`` (``None``: all) buffered messages were handed over."""
    flushed = 0
    while self.size and (max_messages is None or flushed < max_messages):
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=_HAND_OVER_POLL_S)
            flushed += 1
        except TimeoutError:
            continue  # still handing over (or waiting for metadata): keep waiting
    return flushed


_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer_short_wait(self: Any, transport: Any) -> Any:
    """faust's worker consumer, with a fetch wait of WORKER_FETCH_MAX_WAIT_MS."""
    consumer = _create_worker_consumer(self, transport)
    consumer._fetch_max_wait_ms = WORKER_FETCH_MAX_WAIT_MS  # read when its fetcher starts
    return consumer


def install() -> None:
    """Patch the producer buffer and the worker consumer's fetch wait (idempotent)."""
    ProducerBuffer.flush_atmost = _flush_until_empty  # type: ignore[method-assign]
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer_short_wait  # type: ignore[method-assign]
