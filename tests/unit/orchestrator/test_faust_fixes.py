"""The producer-buffer flush waits until the buffer is empty, and the worker consumer's fetch
wait is short (orchestrator/faust_fixes.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.producer import ProducerBuffer

from orchestrator import faust_fixes


class SlowBuffer:
    """The parts of faust's ProducerBuffer the flush reads, handing over one message at a time."""

    def __init__(self, messages: int, hand_over_s: float) -> None:
        self.pending = messages
        self.hand_over_s = hand_over_s
        self.state = "running"
        self.message_sent = asyncio.Event()

    @property
    def size(self) -> int:
        return self.pending

    async def drain(self) -> None:
        while self.pending:
            await asyncio.sleep(self.hand_over_s)  # slower than the flush's 0.1 s poll
            self.pending -= 1
            self.message_sent.set()


def test_flush_returns_only_when_every_message_was_handed_over() -> None:
    async def scenario() -> int:
        buffer = SlowBuffer(messages=3, hand_over_s=0.25)
        draining = asyncio.create_task(buffer.drain())
        await faust_fixes._flush_until_empty(buffer)
        left = buffer.size
        await draining
        return left

    assert asyncio.run(scenario()) == 0


def test_flush_at_most_n_stops_after_n_hand_overs() -> None:
    async def scenario() -> tuple[int, int]:
        buffer = SlowBuffer(messages=5, hand_over_s=0.01)
        draining = asyncio.create_task(buffer.drain())
        flushed = await faust_fixes._flush_until_empty(buffer, 2)
        draining.cancel()
        return flushed, buffer.size

    flushed, left = asyncio.run(scenario())
    assert flushed == 2
    assert left >= 1


def test_install_patches_faust() -> None:
    faust_fixes.install()
    assert ProducerBuffer.flush_atmost is faust_fixes._flush_until_empty


def test_the_worker_consumer_faust_builds_waits_100_ms_per_fetch() -> None:
    faust_fixes.install()

    async def build() -> int:
        app = faust.App("fetch-wait", broker="kafka://127.0.0.1:1", store="memory://")
        delegate: Any = app.consumer  # faust's ThreadDelegateConsumer, around the aiokafka thread
        consumer = delegate._thread._create_worker_consumer(app.transport)
        try:
            wait: int = consumer._fetch_max_wait_ms
            return wait
        finally:
            await consumer.stop()

    assert asyncio.run(build()) == faust_fixes.WORKER_FETCH_MAX_WAIT_MS == 100


def test_the_installed_faust_is_the_version_the_fixes_were_made_for() -> None:
    # An upgrade must re-check each patch against faust's new code, then move the pin.
    assert faust.__version__ == faust_fixes.FAUST_VERSION
