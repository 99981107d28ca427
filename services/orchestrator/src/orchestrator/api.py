"""The orchestrator's HTTP API (FastAPI), served on a thread and event loop of its own beside the
faust worker's (``orchestrator.serving``); it reads the worker's state through a
:class:`~orchestrator.worker_port.WorkerPort`, and calls other workers with its own HTTP client.

A customer request is answered by the worker that owns the customer's table partition: another
worker proxies it there (``app.router.key_store``). Lookups by identifier go first to the
worker owning the identifier's partition.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lifecycle_schemas.identifiers import IdentifierKind, normalise_email, normalise_phone
from orchestrator import erasure_marks
from orchestrator.access import Access, Caller, HostAllowList
from orchestrator.api_document import (
    PlaybookVersions,
    Plays,
    Readiness,
    Segments,
    Status,
    customer_part_schema,
    customer_schema,
    json_response,
)
from orchestrator.core.state import CustomerState
from orchestrator.observed import merge_exports, plays_report
from orchestrator.peers import PeerClient
from orchestrator.reporting import Reading, install_reporting
from orchestrator.segment_changes import install_segment_changes
from orchestrator.sessions import install_sessions
from orchestrator.streaming import Topology
from orchestrator.worker_port import WorkerPort
from service_kit.api_docs import install_api_docs
from service_kit.api_keys import Scope
from service_kit.http import (
    REQUEST_ID_HEADER,
    RETRY_AFTER_HEADER,
    install_problem_handlers,
    install_request_metrics,
    problem_responses,
)
from service_kit.logs import REQUEST_ID
from service_kit.problems import ProblemError

log = logging.getLogger("orchestrator.api")
ROUTED_HEADER = "X-Orchestrator-Routed"
MAX_ALIAS_HOPS = 8
MAX_ROUTING_HOPS = 3
# A worker still recovering its tables: asked again after this.
RETRY_READY = {"Retry-After": "5"}
# OpenAPI links (stateful clients, tests/chaos/test_schemathesis.py): a customer's record leads
# to its timeline and decisions by the customer id it answers with.
CUSTOMER_LINKS = {
    name: {"operationId": operation, "parameters": {"key": "$response.body#/customer_id"}}
    for name, operation in (
        ("GetCustomerTimeline", "customer_timeline"),
        ("GetCustomerDecisions", "customer_decisions"),
    )
}
CUSTOMER_REFUSALS: dict[int | str, dict[str, Any]] = problem_responses(400, 401, 403, 404, 429, 502)
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(400, 401, 403, 429)
# How a customer is named in a path: what a person would type into a search.
CUSTOMER_KEY_HELP = (
    "`key` is a customer id, `<kind>:<value>` (`email:ann@example.com`, "
    "`crm_account_id:0061`, ...), a bare e-mail address, a `+` phone number, or a department "
    "system's id. Answered by the worker that owns the customer (others route the request "
    "there); every read is audit-logged. Needs the `customers:read` scope."
)


def routed_hops(request: Request, access: Access) -> int:
    """How many workers routed this request already: from another worker (the cluster secret)
    only, and a number only; anything else counts as none."""
    text = request.headers.get(ROUTED_HEADER, "")
    if not access.from_cluster(request) or not (text.isascii() and text.isdigit()):
        return 0
    return min(int(text[:3]), MAX_ROUTING_HOPS)


def not_found(what: str) -> ProblemError:
    """404 as problem details."""
    return ProblemError(404, "not-found", "Not found", f"no {what} with this id or identifier")


# A bare key that is not an e-mail or a phone number is tried as each of these, in order.
BARE_KEY_KINDS = (
    IdentifierKind.CUSTOMER_ID,
    IdentifierKind.CRM_ACCOUNT_ID,
    IdentifierKind.HELPDESK_REQUESTER_ID,
    IdentifierKind.MARKETING_CONTACT_ID,
)


def lookup_keys(key: str) -> list[str]:
    """The table keys to try, in order, for what a person typed into a search.

    ``<kind>:<value>`` is taken as it is (an e-mail or phone value normalised as the contracts
    store it); a bare e-mail address or ``+`` phone number as that identifier; any other bare
    key as a customer id, then as each department system's id (CRM account, help-desk
    requester, marketing contact).
    """
    text = key.strip()
    kind, separator, value = text.partition(":")
    if separator and value and kind in {k.value for k in IdentifierKind}:
        return [f"{kind}:{_normalised(IdentifierKind(kind), value)}"]
    if "@" in text:
        return [f"email:{_normalised(IdentifierKind.EMAIL, text)}"]
    if text.startswith("+"):
        return [f"phone:{_normalised(IdentifierKind.PHONE, text)}"]
    return [f"{bare_kind.value}:{text}" for bare_kind in BARE_KEY_KINDS]


def _normalised(kind: IdentifierKind, value: str) -> str:
    """An e-mail or phone as stored (lower case, E.164); left as typed if it is not one."""
    try:
        if kind is IdentifierKind.EMAIL:
            return normalise_email(value)
        if kind is IdentifierKind.PHONE:
            return normalise_phone(value)
    except ValueError:
        return value.strip()
    return value


def create_api(topology: Topology, access: Access, port: WorkerPort) -> FastAPI:
    """The FastAPI app; its lifespan opens and closes the client it calls other workers with."""
    app = topology.app
    metrics = topology.metrics
    customers_read = Depends(access.require(Scope.CUSTOMERS_READ))
    reports_read = Depends(access.require(Scope.REPORTS_READ))
    cluster_only = [Depends(access.require_cluster)]
    peers = PeerClient()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await peers.close()

    api = FastAPI(
        title="Customer lifecycle orchestrator",
        description="One state per customer across the lifecycle, the decisions taken for it, "
        "and the reports of the dashboard (docs/orchestrator.md). Keys and scopes: "
        "docs/security.md.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(api)

    install_problem_handlers(api)
    api.add_middleware(HostAllowList, allowed_hosts=topology.settings.host_allow_list)
    install_request_metrics(api, metrics)
    install_sessions(api, access)

    reads = topology.reads

    def owner_and_state(customer_id: str) -> tuple[str | None, CustomerState | None]:
        """Who owns the customer, and its state here (run on the worker's loop)."""
        return reads.customer_owner(customer_id), reads.customer(customer_id)

    async def proxied(url: str, path: str, hops: int, caller: Caller) -> Any:
        # The owner checks the caller's key again and writes the audit line.
        headers = {ROUTED_HEADER: str(hops + 1), **access.cluster_headers(caller.key_id)}
        # The owner's log lines of this read carry the same request id.
        request_id = REQUEST_ID.get()
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        async with peers.session().get(f"{url}{path}", headers=headers) as reply:
            body = await reply.json(content_type=None)
            if reply.status == 404:
                raise not_found("customer")
            if reply.status != 200:
                raise ProblemError(
                    502,
                    "worker-unavailable",
                    "Worker unavailable",
                    f"the worker owning the key answered {reply.status}",
                )
            return body

    async def find_state(
        request: Request, key: str, caller: Caller
    ) -> CustomerState | dict[str, Any]:
        """The customer matching ``key``, from this worker or (as a JSON body) from its owner.

        ``key`` is what a person typed (see :func:`lookup_keys`): each reading is tried in turn
        until one matches; a 404 says which kinds of identifier were tried.
        """
        hops = routed_hops(request, access)
        suffix = (
            request.url.path.rsplit("/", 1)[1]
            if request.url.path.endswith(("/timeline", "/decisions"))
            else ""
        )
        suffix = f"/{suffix}" if suffix else ""
        readings = lookup_keys(key)
        for reading in readings:
            try:
                return await find_exactly(reading, suffix, hops, caller)
            except ProblemError as error:
                if error.status != 404:
                    raise
        raise ProblemError(
            404,
            "not-found",
            "Not found",
            "no customer matches; tried it as "
            + ", ".join(reading.partition(":")[0] for reading in readings),
        )

    async def find_exactly(
        key: str, suffix: str, hops: int, caller: Caller
    ) -> CustomerState | dict[str, Any]:
        """The customer by ``customer_id:<id>`` or ``<kind>:<value>``, following merges."""
        may_route = hops < MAX_ROUTING_HOPS
        if key.startswith("customer_id:"):
            customer_id = key.removeprefix("customer_id:")
        else:
            url, found = await port.read(
                lambda: (reads.identity_owner(key), reads.customer_of(key))
            )
            if url is not None and may_route:
                path = f"/v1/customers/{quote(key, safe=':@+')}{suffix}"
                return await proxied(url, path, hops, caller)  # type: ignore[no-any-return]
            if found is None:
                raise not_found("customer")
            customer_id = found
        for _ in range(MAX_ALIAS_HOPS):
            if erasure_marks.is_mark(customer_id.encode()):
                raise not_found("customer")
            url, state = await port.read(partial(owner_and_state, customer_id))
            if url is not None and may_route:
                # Explicit, so the owner does not try the other readings of a bare key again.
                path = f"/v1/customers/customer_id:{quote(customer_id, safe=':')}{suffix}"
                return await proxied(url, path, hops, caller)  # type: ignore[no-any-return]
            if state is None:
                raise not_found("customer")
            if state.alias_of is None:
                return state
            customer_id = state.alias_of
        raise not_found("customer")

    def served_by() -> str:
        return topology.settings.canonical_url

    def other_workers() -> list[str]:
        """The other workers of the group (run on the worker's loop)."""
        try:
            urls = {str(u).rstrip("/") for u in app.router.tables_metadata()}
        except Exception:  # no assignment yet: this worker only
            return []
        return sorted(urls - {served_by()})

    @api.get(
        "/healthz",
        tags=["operations"],
        summary="Liveness",
        response_model=None,
        responses={200: {"model": Status, "description": "The process is alive"}},
    )
    async def healthz() -> dict[str, str]:
        """The process is up (says nothing about Kafka or the tables)."""
        return {"status": "ok"}

    @api.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness",
        response_model=None,
        responses={
            200: {"model": Readiness, "description": "Faust recovered its tables"},
            503: {
                "model": Readiness,
                "description": "Starting: faust has not recovered its tables yet",
                "headers": RETRY_AFTER_HEADER,
            },
        },
    )
    async def readyz() -> JSONResponse:
        """Ready once the worker started and recovered its tables from their changelogs."""

        def recovered() -> bool:
            # On the worker's loop: faust makes its services (and their events) on first use,
            # bound to the loop that touches them.
            recovery = getattr(app.tables, "recovery", None)
            return bool(app.started and recovery is not None and recovery.completed.is_set())

        try:
            ready = await port.read(recovered)
        except ProblemError:  # the worker is busy or stopping: not ready
            ready = False
        if ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "starting"}, status_code=503, headers=RETRY_READY)

    @api.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "The text exposition format"}},
    )
    async def prometheus_metrics() -> Response:
        """Every metric of this worker, in Prometheus' text format (docs/observability.md)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def customer_part(request: Request, key: str, part: str, caller: Caller) -> Any:
        """One part of a customer's record (answered here or by the owning worker)."""
        state = await find_state(request, key, caller)
        if isinstance(state, dict):
            return state
        access.audit(caller, request, [state.customer_id])
        items = state.model_dump(mode="json", include={part})[part]
        return {"customer_id": state.customer_id, "served_by": served_by(), part: items}

    @api.get(
        "/v1/customers/{key:path}/timeline",
        operation_id="customer_timeline",
        tags=["customers"],
        summary="A customer's timeline",
        description="The bounded timeline of what happened to the customer, newest last. "
        + CUSTOMER_KEY_HELP,
        response_model=None,
        responses={
            200: json_response("The timeline", customer_part_schema("timeline")),
            **CUSTOMER_REFUSALS,
        },
    )
    async def customer_timeline(key: str, request: Request, caller: Caller = customers_read) -> Any:
        return await customer_part(request, key, "timeline", caller)

    @api.get(
        "/v1/customers/{key:path}/decisions",
        operation_id="customer_decisions",
        tags=["customers"],
        summary="A customer's decisions",
        description="The decision log: each candidate play, the winner and why the others "
        "lost. " + CUSTOMER_KEY_HELP,
        response_model=None,
        responses={
            200: json_response("The decisions", customer_part_schema("decisions")),
            **CUSTOMER_REFUSALS,
        },
    )
    async def customer_decisions(
        key: str, request: Request, caller: Caller = customers_read
    ) -> Any:
        return await customer_part(request, key, "decisions", caller)

    @api.get(
        "/v1/customers/{key:path}",
        operation_id="get_customer",
        tags=["customers"],
        summary="A customer's 360 view",
        description="The golden record: identifiers, profile, stages, value, health, consents, "
        "segments, owner, open actions (its timeline and decisions have routes of their own). "
        + CUSTOMER_KEY_HELP,
        response_model=None,
        responses={
            200: {
                **json_response(
                    "The customer (answered by the worker owning it)", customer_schema()
                ),
                "links": CUSTOMER_LINKS,
            },
            **CUSTOMER_REFUSALS,
        },
    )
    async def customer(key: str, request: Request, caller: Caller = customers_read) -> Any:
        state = await find_state(request, key, caller)
        if isinstance(state, dict):
            return state
        access.audit(caller, request, [state.customer_id])
        body = state.model_dump(
            mode="json", exclude={"timeline", "decisions", "applied_event_ids", "contact_log"}
        )
        body["served_by"] = served_by()
        return body

    async def all_worker_stats() -> tuple[Any, dict[str, Any], list[str]]:
        """Segment and play counts summed over every worker of the group."""
        exports = [await port.read(topology.view.export)]
        workers = [served_by()]
        for url in await port.read(other_workers):
            try:
                async with peers.session().get(
                    f"{url}/internal/worker-stats", headers=access.cluster_headers()
                ) as reply:
                    exports.append(await reply.json(content_type=None))
                    workers.append(url)
            except Exception:  # a worker that is gone leaves its counts out, not the answer
                log.warning("worker stats unavailable", extra={"worker": url})
        counts, plays = merge_exports(exports)
        return counts, plays, workers

    @api.get("/internal/worker-stats", include_in_schema=False, dependencies=cluster_only)
    async def worker_stats() -> dict[str, Any]:
        return await port.read(topology.view.export)

    @api.get(
        "/v1/segments",
        tags=["reports"],
        summary="Segments and their members",
        response_model=None,
        responses={200: {"model": Segments, "description": "Every segment"}, **REPORT_RESPONSES},
        dependencies=[reports_read],
    )
    async def segments() -> dict[str, Any]:
        """Every segment of the playbook: its manager, budget, condition and members now,
        summed over every worker of the group. Needs `reports:read`."""
        counts, _, workers = await all_worker_stats()
        return {
            "workers": workers,
            "segments": [
                {
                    "segment_id": s.id,
                    "name": s.name,
                    "version": s.version,
                    "manager": s.manager.model_dump(exclude_none=True),
                    "budget": s.budget.model_dump() if s.budget else None,
                    "expression": s.when,
                    "members": counts.get(s.id, 0),
                }
                for s in topology.playbook.segments
            ],
        }

    @api.get(
        "/v1/plays",
        tags=["reports"],
        summary="Plays and their outcomes",
        response_model=None,
        responses={200: {"model": Plays, "description": "Every play"}, **REPORT_RESPONSES},
        dependencies=[reports_read],
    )
    async def plays() -> dict[str, Any]:
        """Every play: actions emitted, what the departments did with them, the decline rate
        and its reasons, and whether the play is flagged. Needs `reports:read`."""
        playbook = topology.playbook
        _, stats, workers = await all_worker_stats()
        report = plays_report([p.id for p in playbook.plays], stats, playbook.policy)
        names = {p.id: (p.name, p.version) for p in playbook.plays}
        for item in report:
            item["name"], item["version"] = names[item["play_id"]]
        return {"workers": workers, "plays": report}

    @api.get(
        "/v1/playbook",
        tags=["reports"],
        summary="The playbook versions",
        response_model=None,
        responses={
            200: {"model": PlaybookVersions, "description": "Active version and history"},
            **REPORT_RESPONSES,
        },
        dependencies=[reports_read],
    )
    async def playbook_versions() -> dict[str, Any]:
        """The playbook version this worker decides under and every version it has read from
        the playbook topic, newest first (refused ones with why). Every worker reads the same
        topic: another worker may be a moment behind. Needs `reports:read`."""
        return {"served_by": served_by(), **(await port.read(topology.live.report))}

    install_reporting(api, topology, access, Reading(port, peers, other_workers))
    install_segment_changes(api, topology, access, port)
    return api
