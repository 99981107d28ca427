"""The HTTP server's one door into the worker (docs/orchestrator.md, "HTTP and the worker").

The API runs on an event loop and thread of its own (``orchestrator.serving``), so a slow or
hostile request costs the HTTP thread's time, never the stream's: parsing, keys, limits,
decoding customer states and writing JSON all happen there. What only the worker may touch
(its tables, its in-memory view, faust's partition assignment) is read by short functions
handed to :meth:`WorkerPort.read`, each run on the worker's loop between two records.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from service_kit.problems import ProblemError

_T = TypeVar("_T")
# A read waits at most this long for the worker's loop (a recovering worker may be busy).
READ_TIMEOUT_S = 10.0
# Customers read per turn of the worker's loop when a report reads every one of them.
ITEMS_PER_TURN = 50


class WorkerPort:
    """Runs reads on the worker's event loop for callers on another loop (or on the same)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The worker's loop: reads run there from now on."""
        self._loop = loop

    async def read(self, read: Callable[[], _T]) -> _T:
        """``read()`` run on the worker's loop; 503 if the worker does not get to it in time."""
        loop = self._loop
        if loop is None or loop is asyncio.get_running_loop():
            return read()

        async def on_worker() -> _T:
            return read()

        try:
            future = asyncio.run_coroutine_threadsafe(on_worker(), loop)
        except RuntimeError:  # the worker's loop has closed: the process is stopping
            raise _unavailable() from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), READ_TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            raise _unavailable() from None

    async def collect(self, items: Callable[[], Iterable[_T]]) -> list[_T]:
        """Everything ``items()`` yields, a few dozen per turn of the worker's loop (a report
        reads every customer of the worker: no turn holds the stream up for long)."""
        iterator: Iterator[_T] | None = None
        collected: list[_T] = []

        def next_turn() -> list[_T]:
            nonlocal iterator
            if iterator is None:
                iterator = iter(items())
            return list(itertools.islice(iterator, ITEMS_PER_TURN))

        while True:
            chunk = await self.read(next_turn)
            collected.extend(chunk)
            if len(chunk) < ITEMS_PER_TURN:
                return collected


def _unavailable() -> ProblemError:
    return ProblemError(
        503,
        "worker-busy",
        "The worker did not answer in time",
        "the stream worker is busy or stopping; retry later",
        headers={"Retry-After": "5"},
    )
