"""The HTTP client a worker's API calls the other workers of its group with.

Not faust's ``app.http_client``: that one belongs to the worker's event loop, and the API runs
on a loop of its own (``orchestrator.serving``). Made on first use, on the API's loop.
"""

from __future__ import annotations

import aiohttp

# A worker that does not answer within this is left out of the answer (or answered 502).
PEER_TIMEOUT_S = 10.0


class PeerClient:
    """One aiohttp session, opened lazily on the loop that first uses it."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session (opened now if needed)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
            )
        return self._session

    async def close(self) -> None:
        """Close the session, if one was opened."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
