"""Per-key rate limits and per-key caps on concurrent streams (docs/security.md, "Limits").

Rates are written in the ``limits`` library's notation (``"50/second;1000/minute"``) and kept
in its in-memory sliding-window counters: each service process limits what it answers itself
(a client spread over several replicas gets the limit on each). A request past a limit gets
``429`` problem details with ``Retry-After``; every answer to a limited caller carries the
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` headers of the tightest
limit (IETF draft "RateLimit header fields for HTTP").
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from service_kit.problems import ProblemError


def check_rate_limit(text: str) -> str:
    """``text`` if the limits library can read it (a settings validator); else ValueError."""
    try:
        items = parse_many(text)
    except ValueError:
        raise ValueError("not a rate limit such as 50/second;1000/minute") from None
    if not items:
        raise ValueError("not a rate limit such as 50/second;1000/minute")
    return text


class RateLimitExceededError(ProblemError):
    """429: the caller sent more than its limit; ``Retry-After`` says when to try again."""

    def __init__(self, limit: RateLimitItem, retry_after_s: int, headers: dict[str, str]) -> None:
        super().__init__(
            429,
            "rate-limited",
            "Too many requests",
            f"at most {limit} for this key; retry after {retry_after_s} s",
            headers={**headers, "Retry-After": str(retry_after_s)},
        )


class RateLimits:
    """The rate limits of one service, counted per caller (a key id, or a client address)."""

    def __init__(self, text: str) -> None:
        self.items = parse_many(check_rate_limit(text))
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def hit(self, caller: str) -> dict[str, str]:
        """Count one request of ``caller``; its RateLimit headers, or raise 429."""
        for item in self.items:
            if not self._limiter.hit(item, caller):
                stats = self._limiter.get_window_stats(item, caller)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimitExceededError(item, retry_after, self._headers(item, 0, retry_after))
        # The tightest limit: the one with the fewest requests left.
        tightest = None
        for item in self.items:
            stats = self._limiter.get_window_stats(item, caller)
            if tightest is None or stats.remaining < tightest[1]:
                tightest = (item, stats.remaining, stats.reset_time)
        assert tightest is not None  # parse_many gave at least one item
        item, remaining, reset_at = tightest
        return self._headers(item, remaining, max(0, math.ceil(reset_at - time.time())))

    @staticmethod
    def _headers(item: RateLimitItem, remaining: int, reset_s: int) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Reset": str(reset_s),
            "RateLimit-Policy": f"{item.amount};w={item.get_expiry()}",
        }


class StreamSlots:
    """At most ``per_key`` concurrent streams per key; one more is refused with 429."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: dict[str, int] = {}

    def open_for(self, key_id: str) -> int:
        """How many streams ``key_id`` holds now."""
        return self._open.get(key_id, 0)

    def claim(self, key_id: str) -> None:
        """Take a slot for ``key_id``, or raise 429 when it holds every one."""
        if self._open.get(key_id, 0) >= self.per_key:
            raise ProblemError(
                429,
                "too-many-streams",
                "Too many streams",
                f"at most {self.per_key} concurrent streams per key; close one first",
                headers={"Retry-After": "5"},
            )
        self._open[key_id] = self._open.get(key_id, 0) + 1

    def release(self, key_id: str) -> None:
        """Give back a slot of ``key_id``."""
        left = self._open.get(key_id, 0) - 1
        if left > 0:
            self._open[key_id] = left
        else:
            self._open.pop(key_id, None)

    @contextmanager
    def held(self, key_id: str) -> Iterator[None]:
        """A slot claimed before the block and released after it (raises 429 if none)."""
        self.claim(key_id)
        try:
            yield
        finally:
            self.release(key_id)
