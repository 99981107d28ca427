"""The HTTP server every service runs: uvicorn with limits a hostile client cannot get around.

uvicorn (httptools) has no bound on a request line or headers and no timeout for a client that
sends its request slowly. :class:`GuardedHttpProtocol` adds both, before any route runs:

* a request line plus headers longer than ``LIFECYCLE_HTTP_MAX_HEAD_BYTES``: ``414`` (the URL)
  or ``431`` (headers), answered at once; at most one network read past the limit is buffered;
* a head not complete within ``LIFECYCLE_HTTP_HEAD_TIMEOUT_S`` of the connection (or of the
  request's first byte on a kept-alive connection): ``408``, then the connection is closed
  (idle and slowloris clients);
* a body not complete within ``LIFECYCLE_HTTP_BODY_TIMEOUT_S`` of its head: ``408`` and closed.

A refused request's connection is half-closed and drained for a moment before it is closed
(a "lingering close"), so a client still sending its megabyte reads the answer instead of a
connection reset. Answers are RFC 9457 problem details, like every other error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, ClassVar

import httptools
import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service_kit.http import new_request_id
from service_kit.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE

log = logging.getLogger("service_kit.server")
# A refused connection is drained for this long, or this many bytes, then closed.
LINGER_S = 2.0
LINGER_MAX_BYTES = 8 * 1024 * 1024


class HttpServerSettings(BaseSettings):
    """The HTTP server's limits, the same variables for every service (docs/configuration.md)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    max_head_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        le=1024 * 1024,
        alias="LIFECYCLE_HTTP_MAX_HEAD_BYTES",
        description="request line plus headers in bytes; a longer URL gets 414, longer headers 431",
    )
    head_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        alias="LIFECYCLE_HTTP_HEAD_TIMEOUT_S",
        description="seconds for a connection to deliver a whole request head, else 408",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        alias="LIFECYCLE_HTTP_BODY_TIMEOUT_S",
        description="seconds for a request body to arrive after its head, else 408",
    )
    keep_alive_s: int = Field(
        default=5,
        ge=1,
        le=600,
        alias="LIFECYCLE_HTTP_KEEP_ALIVE_S",
        description="seconds an idle keep-alive connection is kept open",
    )


class _HeadTooLargeError(Exception):
    """Raised from a parser callback to stop parsing a head past the limit."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and time limits."""

    limits: ClassVar[HttpServerSettings] = HttpServerSettings()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0  # bytes received while in the head, before the current read
        self._url_bytes = 0
        self._header_bytes = 0
        self._too_large: int | None = None
        self._refused = False
        self._drained = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # Connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._drained += len(data)
            if self._drained > LINGER_MAX_BYTES:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse_head_too_large(self._too_large or 431)
                return
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._too_large is not None:
                self._refuse_head_too_large(self._too_large)
                return
            self._refuse(400, "malformed-request", "Malformed request", "not an HTTP/1.1 request")

    # Parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._url_bytes = 0
        self._header_bytes = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_head_bytes:
            self._too_large = 414
            raise _HeadTooLargeError
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._url_bytes + self._header_bytes > self.limits.max_head_bytes:
            self._too_large = 431
            raise _HeadTooLargeError
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # Refusals -----------------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_timed_out)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        log.info("request head timed out", extra={"timeout_s": self.limits.head_timeout_s})
        self._refuse(
            408,
            "request-timeout",
            "Request timeout",
            f"a request head must arrive within {self.limits.head_timeout_s:g} s",
        )

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        log.info("request body timed out", extra={"timeout_s": self.limits.body_timeout_s})
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        if self.cycle is not None:
            # The route reading the body sees a disconnect; its own answer goes nowhere.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._refuse(
            408,
            "request-timeout",
            "Request timeout",
            f"a request body must arrive within {self.limits.body_timeout_s:g} s of its head",
        )

    def _refuse_head_too_large(self, status: int) -> None:
        limit = self.limits.max_head_bytes
        if status == 414:
            detail = f"the request line is longer than {limit} bytes"
            self._refuse(414, "uri-too-long", "URI too long", detail, "/request-line")
        else:
            detail = f"the request line and headers are longer than {limit} bytes"
            self._refuse(431, "headers-too-large", "Request headers too large", detail, "/headers")

    def _refuse(
        self, status: int, slug: str, title: str, detail: str, pointer: str | None = None
    ) -> None:
        """Answer ``status`` as problem details, half-close, drain a moment, then close."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._cancel_timers()
        if status != 408:
            log.info("request refused", extra={"status": status, "reason": slug})
        problem: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
        }
        if pointer is not None:
            rule = slug.replace("-", "_")
            problem["errors"] = [{"pointer": pointer, "rule": rule, "detail": detail}]
        body = json.dumps(problem).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: " + PROBLEM_CONTENT_TYPE.encode() + b"\r\n",
                b"x-request-id: " + new_request_id().encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
        )
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


def guarded_protocol(limits: HttpServerSettings) -> type[GuardedHttpProtocol]:
    """The protocol class with these limits (uvicorn makes one instance per connection)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


def server_config(
    app: ASGIApp, host: str, port: int, limits: HttpServerSettings, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for a service: the guarded protocol, no access log of its own
    (``service_kit.http`` logs route templates, never raw paths), JSON logging left as set."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        log_config=None,
        access_log=False,
        timeout_keep_alive=limits.keep_alive_s,
        **options,
    )
