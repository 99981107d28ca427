"""The dashboard's session: a key given once, then an HttpOnly, SameSite=Strict cookie.

``POST /v1/session`` with a key in ``Authorization: Bearer`` sets the cookie (a page's script
never holds it afterwards, and no other site's page can send it); ``GET /v1/session`` says
which key and scopes the session has, so the dashboard shows only what it may;
``DELETE /v1/session`` ends it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response

from orchestrator.access import SESSION_COOKIE, Access
from orchestrator.api_document import SessionEnded, SessionKey
from service_kit.http import problem_responses
from service_kit.problems import unauthorized


def install_sessions(api: FastAPI, access: Access) -> None:
    """Add the session routes to ``api``."""

    def secure(request: Request) -> bool:
        forwarded = request.headers.get("x-forwarded-proto", "")
        return request.url.scheme == "https" or forwarded.lower() == "https"

    @api.post(
        "/v1/session",
        tags=["session"],
        summary="Start a dashboard session",
        response_model=None,
        responses={
            200: {"model": SessionKey, "description": "The cookie is set"},
            **problem_responses(400, 401, 429),
        },
    )
    async def start_session(request: Request, response: Response) -> dict[str, Any]:
        """Trade a key (``Authorization: Bearer``) for the dashboard's session cookie."""
        authorization = request.headers.get("authorization", "")
        scheme, _, presented = authorization.partition(" ")
        entry = (
            access.keys.identify(presented.strip())
            if scheme.lower() == "bearer" and presented.strip()
            else None
        )
        client = request.client.host if request.client else "unknown"
        key = f"key:{entry.id}" if entry is not None else f"address:{client}"
        access.rate_limits.hit(key)
        if entry is None:
            raise unauthorized("send a known API key as Authorization: Bearer <key>")
        value, ttl = access.new_session(entry)
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=ttl,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/",
        )
        return {"key_id": entry.id, "scopes": sorted(s.value for s in entry.scopes)}

    @api.get(
        "/v1/session",
        tags=["session"],
        summary="The session's key",
        response_model=None,
        responses={
            200: {"model": SessionKey, "description": "The session's key"},
            **problem_responses(400, 401),
        },
    )
    async def session(request: Request) -> dict[str, Any]:
        """The key and scopes of the caller (its session cookie or key)."""
        caller = access.caller(request)
        if caller is None:
            raise unauthorized("no session: POST /v1/session with a key")
        return {"key_id": caller.key_id, "scopes": sorted(s.value for s in caller.scopes)}

    @api.delete(
        "/v1/session",
        tags=["session"],
        summary="End the session",
        response_model=None,
        responses={
            200: {"model": SessionEnded, "description": "The cookie is cleared"},
            **problem_responses(400),
        },
    )
    async def end_session(response: Response) -> dict[str, str]:
        """End the session (the cookie is cleared)."""
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return {"status": "ended"}
