"""The one way tests wait: poll a probe until its answer is accepted, with a deadline.

Every wait in ``tests/`` goes through :func:`eventually` (or :func:`eventually_async` in a
coroutine), so a wait that times out always says what it last saw, and no test sleeps to
synchronise. ``tests/unit/testing/test_suite_layout.py`` keeps hand-written polling loops out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# What an assertion message keeps of the last answer: enough to see it, not a whole topic.
SHOWN_CHARACTERS = 3000


class _Nothing:
    def __repr__(self) -> str:
        return "nothing (the probe never answered)"


NOTHING = _Nothing()


class Attempts:
    """What one wait saw so far: its last answer (or error) and how many tries it made."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.started = time.monotonic()
        self.tries = 0
        self.last: object = NOTHING

    def time_left(self) -> float:
        return self.timeout_s - (time.monotonic() - self.started)

    def failure(self, what: str, describe: Callable[[object], str], reason: str) -> AssertionError:
        seen = self.last
        shown = (
            f"{type(seen).__name__}: {seen}"
            if isinstance(seen, BaseException)
            else describe(seen)
            if seen is not NOTHING
            else repr(seen)
        )
        if len(shown) > SHOWN_CHARACTERS:
            shown = shown[:SHOWN_CHARACTERS] + f"... ({len(shown)} characters)"
        return AssertionError(
            f"{what}: {reason} after {time.monotonic() - self.started:.1f}s "
            f"({self.tries} tries); last seen: {shown}"
        )


def _name(probe: Callable[..., object], what: str | None) -> str:
    return what or f"waiting on {getattr(probe, '__qualname__', repr(probe))}"


def eventually(
    probe: Callable[[], T],
    accept: Callable[[T], object] = bool,
    *,
    timeout_s: float,
    interval_s: float = 0.2,
    what: str | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    give_up: Callable[[], str | None] | None = None,
    describe: Callable[[T], str] = repr,
) -> T:
    """Call ``probe`` until ``accept(answer)`` is true; return that answer.

    ``retry_on``: errors of the probe that mean "not yet" (kept as the last thing seen).
    ``give_up``: asked after each try; a reason (not None) fails the wait at once, e.g. the
    process being waited on exited. ``interval_s`` may be 0 when the probe blocks by itself
    (a Kafka poll with a timeout). On timeout an ``AssertionError`` names ``what`` was awaited
    and shows ``describe(last answer)`` or the last error.
    """
    attempts = Attempts(timeout_s)
    name = _name(probe, what)
    shown: Callable[[object], str] = describe  # type: ignore[assignment]
    while True:
        attempts.tries += 1
        try:
            answer = probe()
        except retry_on as error:
            attempts.last = error
        else:
            attempts.last = answer
            if accept(answer):
                return answer
        reason = give_up() if give_up is not None else None
        if reason is not None:
            raise attempts.failure(name, shown, reason)
        left = attempts.time_left()
        if left <= 0:
            raise attempts.failure(name, shown, f"not reached within {timeout_s:g}s")
        time.sleep(min(interval_s, left))  # the polling interval, not synchronisation


async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], object] = bool,
    *,
    timeout_s: float,
    interval_s: float = 0.2,
    what: str | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    describe: Callable[[T], str] = repr,
) -> T:
    """:func:`eventually` in a coroutine: the probe is a coroutine function, and waiting yields
    to the event loop (so the tasks being waited on run)."""
    attempts = Attempts(timeout_s)
    name = _name(probe, what)
    shown: Callable[[object], str] = describe  # type: ignore[assignment]
    while True:
        attempts.tries += 1
        try:
            answer = await probe()
        except retry_on as error:
            attempts.last = error
        else:
            attempts.last = answer
            if accept(answer):
                return answer
        left = attempts.time_left()
        if left <= 0:
            raise attempts.failure(name, shown, f"not reached within {timeout_s:g}s")
        await asyncio.sleep(min(interval_s, left))  # the polling interval
