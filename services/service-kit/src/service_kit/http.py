"""FastAPI plumbing every service installs: problem-details error handlers and request metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.metrics import ServiceMetrics
from service_kit.problems import PROBLEM_CONTENT_TYPE, FieldProblem, Problem, ProblemError

logger = logging.getLogger(__name__)
# Where a route's key check leaves the key's RateLimit headers (``scope["state"]``); the request
# middleware adds them to whatever the route answers.
RATE_LIMIT_HEADERS = "rate_limit_headers"


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

        async def send_and_measure(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                # Timed to the response's start, as before: a stream's lifetime is not latency.
                answered = True
                self._observe(scope, int(message["status"]), started)
                limits = scope.get("state", {}).get(RATE_LIMIT_HEADERS)
                if limits:
                    extra = [(k.lower().encode(), v.encode()) for k, v in limits.items()]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self._app(scope, receive, send_and_measure)
        except BaseException:
            if not answered:
                self._observe(scope, 500, started)
            raise

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
    info when answered 4xx or 5xx, at debug otherwise."""
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


def inline_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its ``$defs`` inlined (OpenAPI resolves refs elsewhere)."""
    schema = model.model_json_schema()
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


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: each status answered as RFC 9457 problem details."""
    schema = inline_json_schema(Problem)
    return {
        status: {
            "description": _PROBLEM_TITLES.get(status, "Problem details"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
        }
        for status in statuses
    }
