"""Who may read what on the orchestrator's API (docs/security.md).

* A caller is identified by an API key (``Authorization: Bearer``, or ``X-API-Key``) from the one
  key file every service reads, or by the dashboard's session cookie, which names a key and is
  signed with a key derived from the cluster secret (so any worker of the group accepts it, and
  a key taken out of the key file ends its sessions at once).
* Scopes: ``customers:read`` (personal data: the 360 view, timeline, decisions, the dashboard's
  customer list; every read audit-logged), ``reports:read`` (aggregates), ``admin``.
* Workers call each other's ``/internal/*`` routes, and route a customer read to the worker
  owning the customer, with the cluster secret; a routed read names the caller's key, and the
  worker answering it checks that key again and writes the audit line.
* Rate limits per key (or per client address without one) answer ``429``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.settings import OrchestratorSettings
from service_kit.api_keys import ApiKeyEntry, KeyRing, load_keys
from service_kit.api_keys import Scope as KeyScope
from service_kit.http import RATE_LIMIT_HEADERS
from service_kit.problems import PROBLEM_CONTENT_TYPE, ProblemError, forbidden, unauthorized
from service_kit.rate_limits import RateLimits

audit_log = logging.getLogger("orchestrator.audit")
SESSION_COOKIE = "lifecycle_session"
CLUSTER_SECRET_HEADER = "X-Orchestrator-Cluster-Secret"  # noqa: S105 (a header name)
# On a read routed to the owning worker: the id of the key the caller presented.
ROUTED_KEY_HEADER = "X-Orchestrator-Routed-Key"
# Answered whatever the Host header: probes and scrapes name a pod's address, and these routes
# hold no personal data.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the key's id and scopes, and how it was presented."""

    key_id: str
    scopes: frozenset[KeyScope]
    via: str  # "key", "session" or "routed"
    # The segments a `segments:write` key may change (`*`: every one).
    segments: frozenset[str] = frozenset()

    def may(self, scope: KeyScope) -> bool:
        """Whether the key holds ``scope``."""
        return scope in self.scopes

    def manages(self, segment_id: str) -> bool:
        """Whether the key may change ``segment_id`` (with `segments:write`)."""
        return segment_id in self.segments or "*" in self.segments


class Access:
    """Keys, sessions, the cluster secret and rate limits of one worker."""

    def __init__(self, settings: OrchestratorSettings, keys: KeyRing | None = None) -> None:
        self.keys = keys or load_keys(settings.api_keys_file, settings.api_keys_json)
        configured = settings.cluster_secret
        # Unset: a secret of this process alone (one worker works; several need the setting).
        self.cluster_secret = (
            configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        )
        self.cluster_secret_configured = configured is not None
        self._session_key = hmac.new(
            self.cluster_secret.encode(), b"dashboard-session", hashlib.sha256
        ).digest()
        self.session_ttl_s = settings.session_ttl_s
        self.rate_limits = RateLimits(settings.rate_limit)

    # Worker to worker ---------------------------------------------------------------------

    def cluster_headers(self, key_id: str | None = None) -> dict[str, str]:
        """Headers of a call to another worker (naming the caller's key on a routed read)."""
        headers = {CLUSTER_SECRET_HEADER: self.cluster_secret}
        if key_id is not None:
            headers[ROUTED_KEY_HEADER] = key_id
        return headers

    def from_cluster(self, request: Request) -> bool:
        """Whether the request carries this group's cluster secret."""
        presented = request.headers.get(CLUSTER_SECRET_HEADER)
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.cluster_secret.encode()
        )

    async def require_cluster(self, request: Request) -> None:
        """A dependency of ``/internal/*``: the cluster secret or 403."""
        if not self.from_cluster(request):
            raise forbidden("worker-to-worker routes need the cluster secret")

    # Callers ------------------------------------------------------------------------------

    def caller(self, request: Request) -> Caller | None:
        """The caller of ``request``, or None when it presents no valid key or session."""
        if self.from_cluster(request) and (routed := request.headers.get(ROUTED_KEY_HEADER)):
            entry = self.keys.by_id(routed)
            return None if entry is None else _caller(entry, "routed")
        presented = _presented_key(request)
        if presented is not None:
            entry = self.keys.identify(presented)
            return None if entry is None else _caller(entry, "key")
        session = request.cookies.get(SESSION_COOKIE)
        if session is not None:
            entry = self.session_entry(session)
            return None if entry is None else _caller(entry, "session")
        return None

    def require(self, scope: KeyScope) -> Callable[[Request], Awaitable[Caller]]:
        """A route dependency: the caller, holding ``scope``; else 401 or 403, or 429."""

        async def authorise(request: Request) -> Caller:
            caller = self.caller(request)
            if caller is None:
                client = request.client.host if request.client else "unknown"
                self._count(request, f"address:{client}")
                if _presented_key(request) is None and SESSION_COOKIE not in request.cookies:
                    raise unauthorized("an API key is required (Authorization: Bearer <key>)")
                raise unauthorized("the API key or session is not known (or expired)")
            if caller.via != "routed":  # counted where the caller came in
                self._count(request, f"key:{caller.key_id}")
            if not caller.may(scope):
                raise forbidden(f"this key lacks the {scope.value} scope")
            return caller

        return authorise

    def _count(self, request: Request, caller: str) -> None:
        request.scope.setdefault("state", {})[RATE_LIMIT_HEADERS] = self.rate_limits.hit(caller)

    # Dashboard sessions -------------------------------------------------------------------

    def new_session(self, entry: ApiKeyEntry) -> tuple[str, int]:
        """A session cookie's value for ``entry`` and its lifetime in seconds."""
        claims = {"k": entry.id, "e": int(time.time()) + self.session_ttl_s}
        body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body.decode()}.{self._sign(body)}", self.session_ttl_s

    def session_entry(self, value: str) -> ApiKeyEntry | None:
        """The key a session cookie names, if its signature holds, it has not expired and the
        key is still issued."""
        body, _, signature = value.encode("ascii", "replace").partition(b".")
        if len(value) > 512 or not hmac.compare_digest(signature, self._sign(body).encode()):
            return None
        try:
            claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body))
            key_id, expires = str(claims["k"]), int(claims["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < time.time():
            return None
        return self.keys.by_id(key_id)

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._session_key, body, hashlib.sha256).hexdigest()

    # Audit ----------------------------------------------------------------------------------

    @staticmethod
    def audit(caller: Caller, request: Request, customer_ids: list[str]) -> None:
        """One line per read of personal data: key, customers, route template; never the data."""
        route = getattr(request.scope.get("route"), "path", "unmatched")
        audit_log.info(
            "personal data read",
            extra={
                "audit": True,
                "key_id": caller.key_id,
                "via": caller.via,
                "customer_ids": customer_ids,
                "route": route,
            },
        )


def _caller(entry: ApiKeyEntry, via: str) -> Caller:
    return Caller(entry.id, entry.scopes, via, entry.segments)


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else ""
    return request.headers.get("x-api-key")


class HostAllowList:
    """Starlette's TrustedHostMiddleware for every route but the operational ones, answering a
    foreign Host with ``400`` problem details.

    A page in a browser on the operator's machine could otherwise read the API through DNS
    rebinding (a name of its own pointed at 127.0.0.1): its requests carry its own Host.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self._app = app
        self._allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        passed = False

        async def allowed(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal passed
            passed = True
            await self._app(scope, receive, send)

        async def unless_refused(message: Message) -> None:
            if passed:  # the middleware's own plain-text refusal is replaced below
                await send(message)

        checked = TrustedHostMiddleware(allowed, self._allowed_hosts, www_redirect=False)
        await checked(scope, receive, unless_refused)
        if not passed:
            problem = ProblemError(
                400, "invalid-host", "Invalid host header", "this Host is not served here"
            )
            response = JSONResponse(problem.body(), 400, media_type=PROBLEM_CONTENT_TYPE)
            await response(scope, receive, send)
