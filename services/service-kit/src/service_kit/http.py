"""FastAPI plumbing every service installs: problem-details error handlers and request metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service_kit.metrics import ServiceMetrics
from service_kit.problems import PROBLEM_CONTENT_TYPE, FieldProblem, ProblemError

logger = logging.getLogger(__name__)


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


def install_request_metrics(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Count and time every request by route template, and log it (no raw paths: no ids)."""

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        template = getattr(request.scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - started
        metrics.http_requests.labels(template, request.method, str(response.status_code)).inc()
        metrics.http_duration.labels(template, request.method).observe(elapsed)
        logger.info(
            "request",
            extra={
                "route": template,
                "method": request.method,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        return response
