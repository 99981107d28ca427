"""FastAPI plumbing every service installs: problem-details error handlers and request metrics."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.logs import REQUEST_ID
from service_kit.metrics import ServiceMetrics
from service_kit.problems import PROBLEM_CONTENT_TYPE, FieldProblem, Problem, ProblemError

logger = logging.getLogger(__name__)
# Where a route's key check leaves the key's RateLimit headers (``scope["state"]``); the request
# middleware adds them to whatever the route answers.
RATE_LIMIT_HEADERS = "rate_limit_headers"
# Every answer names its request: the client's X-Request-ID when it is a plain token, else one
# made here; the same id is on every log line written while answering (service_kit.logs).
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode()
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id() -> str:
    """A fresh request id: 64 random bits in hex."""
    return os.urandom(8).hex()


def request_id_of(scope: Scope) -> str:
    """The client's X-Request-ID if it is a plain token of at most 128 characters (a longer or
    odd one could forge log lines), else a new one."""
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_NAME:
            text = value.decode("latin-1")
            return text if _REQUEST_ID_SHAPE.fullmatch(text) else new_request_id()
    return new_request_id()


def problem_response(error: ProblemError, request: Request) -> JSONResponse:
    """An error as an ``application/problem+json`` response."""
    return JSONResponse(
        error.body(instance=request.url.path),
        status_code=error.status,
        headers=error.headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error as RFC 9457 problem details, with field paths for invalid requests."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            FieldProblem(
                pointer="/" + "/".join(str(p) for p in detail["loc"][1:]),
                rule=str(detail["type"]),
                detail=str(detail["msg"]),
            )
            for detail in error.errors()
        ]
        return problem_response(
            ProblemError(422, "invalid-request", "Invalid request", errors=problems), request
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem_response(ProblemError(error.status_code, slug, str(error.detail)), request)


class _RequestMetrics:
    """Counts, times and logs every request (a plain ASGI middleware).

    Not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs every request in a
    task group of its own and relays its body through a stream, which cost more CPU than the
    rest of an ingest request (docs/benchmarks.md, "Ingest").
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False
        request_id = request_id_of(scope)
        named = REQUEST_ID.set(request_id)

        async def send_and_measure(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                # Timed to the response's start, as before: a stream's lifetime is not latency.
                answered = True
                self._observe(scope, int(message["status"]), started)
                extra = [(_REQUEST_ID_NAME, request_id.encode())]
                limits = scope.get("state", {}).get(RATE_LIMIT_HEADERS)
                if limits:
                    extra.extend((k.lower().encode(), v.encode()) for k, v in limits.items())
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self._app(scope, receive, send_and_measure)
        except BaseException:
            if not answered:
                self._observe(scope, 500, started)
            raise
        finally:
            REQUEST_ID.reset(named)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        template = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        elapsed = time.perf_counter() - started
        self._metrics.http_requests.labels(template, method, str(status)).inc()
        self._metrics.http_duration.labels(template, method).observe(elapsed)
        # Answered requests are counted and timed above; a line each for the refused and failed
        # ones only (a line per accepted event cost 7 % of its CPU, docs/benchmarks.md "Ingest").
        level = logging.INFO if status >= 400 else logging.DEBUG
        if not logger.isEnabledFor(level):
            return
        logger.log(
            level,
            "request",
            extra={
                "route": template,
                "method": method,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )


def install_request_metrics(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Count and time every request by route template, and log it (no raw paths: no ids): at
    info when answered 4xx or 5xx, at debug otherwise. Every answer carries X-Request-ID, and
    every line logged while answering carries its ``request_id``."""
    app.add_middleware(_RequestMetrics, metrics=metrics)


# OpenAPI documentation of what the routes really answer, so clients and schemathesis
# (tests/chaos/test_schemathesis.py) can check responses against it.

_PROBLEM_TITLES = {
    400: "The body is not valid JSON",
    401: "No API key, or a key nobody issued",
    403: "The key belongs to another department or lacks the scope",
    404: "Not found",
    408: "The request did not arrive in time",
    409: "The request conflicts with the resource's current state",
    413: "The body is too large",
    414: "The request line is too long",
    415: "Unsupported content type",
    422: "Invalid request, with the failing field paths",
    429: "Too many requests for this key: Retry-After and RateLimit headers say when to retry",
    431: "The request headers are too large",
    502: "Another worker did not answer",
    503: "A dependency (Kafka, table recovery) is unavailable; retry later",
}


def inline_json_schema(
    model: type[BaseModel], mode: Literal["validation", "serialization"] = "validation"
) -> dict[str, Any]:
    """The model's JSON Schema with its ``$defs`` inlined (OpenAPI resolves refs elsewhere):
    of what it accepts (``validation``) or of what it dumps (``serialization``)."""
    schema = model.model_json_schema(mode=mode)
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _integer_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


RETRY_AFTER_HEADER = {
    "Retry-After": _integer_header("seconds to wait before trying again (RFC 9110)"),
}
# The IETF draft "RateLimit header fields for HTTP", of the caller's tightest limit
# (service_kit.rate_limits); on every answer to a caller with a key, and on its 429.
RATE_LIMIT_HEADERS_DOCUMENTED = {
    "RateLimit-Limit": _integer_header("requests allowed in the window"),
    "RateLimit-Remaining": _integer_header("requests left in the window"),
    "RateLimit-Reset": _integer_header("seconds until the window resets"),
    "RateLimit-Policy": {
        "description": "the limit and its window in seconds, e.g. 2000;w=1",
        "schema": {"type": "string"},
    },
}
_HEADERS_OF_STATUS: dict[int, dict[str, Any]] = {
    429: {**RETRY_AFTER_HEADER, **RATE_LIMIT_HEADERS_DOCUMENTED},
    503: RETRY_AFTER_HEADER,
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: each status answered as RFC 9457 problem details (a 429
    and a 503 declare ``Retry-After``, a 429 the ``RateLimit-*`` headers too)."""
    schema = inline_json_schema(Problem)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": _PROBLEM_TITLES.get(status, "Problem details"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
        }
        if status in _HEADERS_OF_STATUS:
            response["headers"] = _HEADERS_OF_STATUS[status]
        responses[status] = response
    return responses


def add_component_schemas(app: FastAPI, schemas: Mapping[str, dict[str, Any]]) -> None:
    """Add schemas under ``components/schemas`` of the app's OpenAPI document (for bodies
    described by hand that ``$ref`` them, e.g. a discriminated union)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        clashes = {name for name in schemas if components.get(name, schemas[name]) != schemas[name]}
        if clashes:
            raise ValueError(f"component schemas named twice: {sorted(clashes)}")
        components.update(schemas)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
