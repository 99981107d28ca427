"""Fixes to faust-streaming 0.15 that our at-least-once guarantee depends on (upstreamable).

``ProducerBuffer.flush`` drains the ``send_soon`` buffer (table changelog writes go through it)
before faust commits source offsets. Upstream it returns as soon as one message takes longer
than 0.1 s to hand to aiokafka (a metadata fetch for a new topic, a full accumulator): the
commit then goes ahead while changelog records still sit in the buffer, and a crash loses
state whose source record is already committed. Here flush waits until the buffer is empty.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

_HAND_OVER_POLL_S = 0.1


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


def install() -> None:
    """Patch the producer buffer (idempotent)."""
    ProducerBuffer.flush_atmost = _flush_until_empty  # type: ignore[method-assign]
