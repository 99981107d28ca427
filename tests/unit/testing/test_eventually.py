"""Given a probe, eventually() returns its first accepted answer, and a wait that fails says what
it waited for and what it last saw."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from lifecycle_testing.waiting import eventually, eventually_async


def test_the_first_accepted_answer_is_returned() -> None:
    counter = itertools.count(1)
    assert eventually(lambda: next(counter), lambda n: n >= 3, timeout_s=5, interval_s=0) == 3


def test_a_timeout_names_the_wait_and_shows_the_last_answer() -> None:
    with pytest.raises(
        AssertionError, match=r"the answer: not reached within 0.05s .*last seen: 41"
    ):
        eventually(
            lambda: 41, lambda n: n == 42, timeout_s=0.05, interval_s=0.01, what="the answer"
        )


def refused() -> str:
    raise ConnectionError("refused")


def test_errors_named_retryable_are_retried_and_shown_others_propagate() -> None:
    tries = itertools.count()

    def flaky() -> str:
        if next(tries) < 2:
            raise ConnectionError("refused")
        return "up"

    assert eventually(flaky, timeout_s=5, interval_s=0, retry_on=(ConnectionError,)) == "up"
    with pytest.raises(AssertionError, match="last seen: ConnectionError: refused"):
        eventually(
            refused,
            timeout_s=0.05,
            interval_s=0.01,
            retry_on=(ConnectionError,),
        )
    with pytest.raises(KeyError):
        eventually(lambda: {"present": 1}["missing"], timeout_s=5)


def test_giving_up_fails_at_once_with_the_reason() -> None:
    with pytest.raises(AssertionError, match=r"the process exited with 1 after .*\(1 tries\)"):
        eventually(lambda: "", timeout_s=60, give_up=lambda: "the process exited with 1")


def test_a_long_answer_is_cut_in_the_message() -> None:
    with pytest.raises(AssertionError) as failure:
        eventually(lambda: "x" * 10_000, lambda _: False, timeout_s=0.01, interval_s=0.01)
    assert len(str(failure.value)) < 3_500
    assert "(10002 characters)" in str(failure.value)


def test_the_async_wait_awaits_its_probe() -> None:
    async def scenario() -> int:
        counter = itertools.count(1)

        async def probe() -> int:
            return next(counter)

        return await eventually_async(probe, lambda n: n >= 2, timeout_s=5, interval_s=0)

    async def never() -> bool:
        return False

    assert asyncio.run(scenario()) == 2
    with pytest.raises(AssertionError, match="last seen: False"):
        asyncio.run(eventually_async(never, timeout_s=0.05, interval_s=0.01))
