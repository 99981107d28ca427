"""The HTTP API of a department service (FastAPI): routes translate HTTP into runtime commands."""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from department_kit.actions import ActionStatus, OutcomeRequest
from department_kit.api_document import (
    EventResults,
    EventsAccepted,
    NativeEventsAccepted,
    event_schemas,
    events_body,
    outcome_body,
    outcome_schemas,
)
from department_kit.contacts import install_contact_routes
from department_kit.department import NativePayloadError
from department_kit.event_claims import AcceptedEvent
from department_kit.ingest import Validation, parse_body, parse_strict, require_json, validate_items
from department_kit.runtime import (
    AcceptAttempt,
    BatchOutcome,
    ClaimedElsewhere,
    ClaimWait,
    DepartmentRuntime,
    IdReused,
    utc_now,
)
from department_kit.store import StoredAction
from lifecycle_schemas.catalogue import AnyDepartmentEvent
from service_kit.api_docs import install_api_docs
from service_kit.api_keys import ApiKeyEntry, Scope
from service_kit.http import (
    RATE_LIMIT_HEADERS,
    add_component_schemas,
    install_problem_handlers,
    install_request_metrics,
    problem_responses,
)
from service_kit.problems import FieldProblem, ProblemError, forbidden, unauthorized
from service_kit.rate_limits import RateLimits, StreamSlots

logger = logging.getLogger(__name__)

STREAM_POLL_S = 0.2
STREAM_KEEPALIVE_S = 15.0
# A cursor is an SQLite rowid (signed 64 bits): a larger one overflowed the query into a 500.
MAX_CURSOR = 2**63 - 1

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

# POST /v1/events reads its key and `per_item` itself (`events_request` in `create_app`); the
# OpenAPI document still says what FastAPI would have said of them.
_PER_ITEM_DESCRIPTION = "answer 207 with a status per event"
_PER_ITEM: TypeAdapter[bool] = TypeAdapter(bool)
_EVENTS_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "per_item",
            "in": "query",
            "required": False,
            "description": _PER_ITEM_DESCRIPTION,
            "schema": {
                "type": "boolean",
                "default": False,
                "title": "Per Item",
                "description": _PER_ITEM_DESCRIPTION,
            },
        }
    ],
    "security": [{_bearer.scheme_name: []}, {_api_key_header.scheme_name: []}],
}
_NATIVE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _action_links(pointer: str) -> dict[str, Any]:
    """OpenAPI links from a response naming an action (at ``pointer``) to the action's routes."""
    parameters = {"action_id": f"$response.body#{pointer}"}
    return {
        "GetAction": {"operationId": "get_action", "parameters": parameters},
        "RecordOutcome": {"operationId": "record_outcome", "parameters": parameters},
    }


def _ok(description: str, links: dict[str, Any] | None = None) -> dict[int | str, Any]:
    response: dict[str, Any] = {"description": description}
    if links:
        response["links"] = links
    return {200: response}


def action_view(runtime: DepartmentRuntime, action: StoredAction) -> dict[str, Any]:
    """How an action is shown to the department (inbox, stream)."""
    now = runtime.clock()
    return {
        "action_id": action.action_id,
        "cursor": action.seq,
        "type": action.action_type,
        "status": action.status_at(now).value,
        "summary": runtime.summarise(action),
        "customer_id": action.customer_id,
        "priority": action.priority,
        "deadline": action.deadline.isoformat(),
        "expires_at": action.expires_at.isoformat(),
        "received_at": action.received_at.isoformat(),
        "record": action.record,
        "outcome": action.outcome,
    }


# How many groups of requests' events may wait for Kafka at once (each one store lookup, one
# produce flush, one store write); requests arriving meanwhile form the next group.
ACCEPT_GROUPS_IN_FLIGHT = 2
# How long a request waits for event ids another request is publishing (the runtime's own,
# derived from the publish deadline, is passed in by create_app).
DEFAULT_CLAIM_WAIT_S = 16.0


# One request's all-or-nothing batches.
_Batches = Sequence[Sequence[AnyDepartmentEvent]]


class EventCoalescer:
    """Publishes the events of concurrent requests together, each request answered on its own.

    Each request used to wait in a worker thread for its own store lookup, ``send().get()`` and
    store write: a thread hop, two SQLite transactions and a produce round trip per request
    (docs/benchmarks.md, "Ingest"). Here the requests that arrive while earlier groups
    wait for Kafka are handed to ``accept`` as one group, whose all-or-nothing answer is each
    request's: acknowledged (every event on the topic, ``acks=all``) or the same error (503).
    A request is one or more all-or-nothing batches (one per event with ``per_item``), each
    answered with where its events are stored or why none was sent. A group holds whole
    requests, at most ``max_events`` events unless one request alone is larger.

    A batch with an id another request is publishing (:class:`ClaimedElsewhere`) is asked
    again when one of this service's groups finishes (the holder may be one of them) or after a
    pause that doubles (another replica's claim is polled), for at most ``claim_wait_s``; then
    the request gets 503. Nothing waits in a worker thread meanwhile.
    """

    def __init__(
        self,
        accept: Callable[[_Batches], list[AcceptAttempt]],
        max_events: int,
        in_flight: int = ACCEPT_GROUPS_IN_FLIGHT,
        claim_wait_s: float = DEFAULT_CLAIM_WAIT_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._accept = accept
        self._max_events = max_events
        self._in_flight_limit = in_flight
        self._claim_wait_s = claim_wait_s
        self._clock = clock
        self._in_flight = 0
        self._waiting: list[tuple[_Batches, asyncio.Future[list[AcceptAttempt]]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Set (and replaced) whenever a group finishes: wakes requests waiting for a claim.
        self._settled = asyncio.Event()

    async def accept(self, batches: _Batches) -> list[BatchOutcome]:
        """What became of each batch, once Kafka acknowledged what was sent; or raise."""
        answers = await self._attempt(batches)
        wait: ClaimWait | None = None
        while True:
            held = [n for n, answer in enumerate(answers) if isinstance(answer, ClaimedElsewhere)]
            if not held:
                return [answer for answer in answers if not isinstance(answer, ClaimedElsewhere)]
            wait = wait or ClaimWait(self._claim_wait_s)
            latest = max(
                (a for a in answers if isinstance(a, ClaimedElsewhere)), key=lambda a: a.lapses_at
            )
            await self._settled_within(wait.next_look_in(latest, self._clock()))
            again = await self._attempt([batches[n] for n in held])
            for n, answer in zip(held, again, strict=True):
                answers[n] = answer

    async def _attempt(self, batches: _Batches) -> list[AcceptAttempt]:
        answer: asyncio.Future[list[AcceptAttempt]] = asyncio.get_running_loop().create_future()
        self._waiting.append((batches, answer))
        self._start_groups()
        return await answer

    async def _settled_within(self, timeout_s: float) -> None:
        """Until a group finishes, or ``timeout_s``."""
        settled = self._settled
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await settled.wait()

    def _start_groups(self) -> None:
        # A request whose client went away before its group started is not published.
        self._waiting = [entry for entry in self._waiting if not entry[1].done()]
        while self._waiting and self._in_flight < self._in_flight_limit:
            group = [self._waiting.pop(0)]
            size = _size(group[0][0])
            while self._waiting and size + _size(self._waiting[0][0]) <= self._max_events:
                size += _size(self._waiting[0][0])
                group.append(self._waiting.pop(0))
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._publish(group))
            self._tasks.add(task)  # held, so the loop does not collect it mid-flight
            task.add_done_callback(self._tasks.discard)

    async def _publish(
        self, group: list[tuple[_Batches, asyncio.Future[list[AcceptAttempt]]]]
    ) -> None:
        batches = [batch for request, _ in group for batch in request]
        try:
            outcomes = await run_in_threadpool(self._accept, batches)
        except Exception as error:
            failure: Exception | None = error
        else:
            failure = None
        finally:
            # Freed before the answers: an answered request may end the loop it ran in.
            self._in_flight -= 1
            self._start_groups()
            self._settled.set()
            self._settled = asyncio.Event()
        start = 0
        for request, answer in group:
            if not answer.done():  # a request whose client went away is cancelled
                if failure is not None:
                    answer.set_exception(failure)
                else:
                    answer.set_result(outcomes[start : start + len(request)])
            start += len(request)


def _size(batches: _Batches) -> int:
    return sum(len(batch) for batch in batches)


def id_reused(pointers: Sequence[str]) -> ProblemError:
    """409: event ids accepted before with another body; nothing of the request was sent."""
    return ProblemError(
        409,
        "id-reused",
        "Event id reused with another body",
        "an event id is accepted once; these ids were accepted before with a different "
        "event: nothing of the request was published",
        [
            FieldProblem(
                pointer=pointer, rule="id_reused", detail="accepted before with another body"
            )
            for pointer in pointers
        ],
    )


def _accepted_view(event: AcceptedEvent) -> dict[str, Any]:
    return {
        "id": event.event_id,
        "type": event.event_type,
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
    }


class _HeldStream(StreamingResponse):
    """A stream that gives its key's stream slot back when it ends, however it ends (a
    generator never started would never run its own ``finally``)."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(
            content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
        self._release = release

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def create_app(runtime: DepartmentRuntime, *, background: bool = True) -> FastAPI:
    """The department service's FastAPI app over ``runtime``.

    ``background=False`` starts neither the action consumer nor the webhook pusher (for tests
    of the HTTP layer alone).
    """
    department = runtime.department

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background:
            runtime.start()
        try:
            yield
        finally:
            await run_in_threadpool(runtime.stop)

    app = FastAPI(
        title=f"{department.value} department service",
        description=f"The {department.value} department's door onto Kafka: events in, actions out.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    add_component_schemas(app, {**event_schemas(department), **outcome_schemas()})

    install_problem_handlers(app)
    install_request_metrics(app, runtime.metrics)
    coalescer = EventCoalescer(
        runtime.accept_batches,
        runtime.settings.max_batch_events,
        claim_wait_s=runtime.claim_wait_s,
        clock=runtime.clock,
    )
    rate_limits = RateLimits(runtime.settings.rate_limit)
    stream_slots = StreamSlots(runtime.settings.max_streams_per_key)

    def check_key(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None,
        header_key: str | None,
        scope: Scope,
    ) -> ApiKeyEntry:
        presented = bearer.credentials if bearer is not None else header_key
        if not presented:
            raise unauthorized("an API key is required (Authorization: Bearer <key>)")
        entry = runtime.keys.identify(presented)
        if entry is None:
            raise unauthorized("the API key is not known")
        if entry.department is None:
            raise forbidden("this key belongs to no department (an orchestrator key)")
        if entry.department != department:
            raise forbidden(f"this key belongs to the {entry.department.value} department")
        if scope not in entry.scopes:
            raise forbidden(f"this key lacks the {scope.value} scope")
        # Counted once the key is known: the answer carries the key's RateLimit headers.
        request.scope.setdefault("state", {})[RATE_LIMIT_HEADERS] = rate_limits.hit(entry.id)
        return entry

    def require(scope: Scope) -> Callable[..., Awaitable[ApiKeyEntry]]:
        # async: a plain function would be run in a worker thread, one thread hop per request
        # for a hash and a comparison (docs/benchmarks.md, "Ingest").
        async def authorise(
            request: Request,
            bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            header_key: Annotated[str | None, Depends(_api_key_header)],
        ) -> ApiKeyEntry:
            return check_key(request, bearer, header_key, scope)

        return authorise

    async def events_request(request: Request) -> bool:
        """What ``Depends(require(EVENTS_WRITE))`` and the ``per_item`` query parameter gave
        ``POST /v1/events``, in the same order with the same errors, without FastAPI's
        dependency solving: a seventh of a single event's CPU (docs/benchmarks.md, "Ingest")."""
        check_key(
            request, await _bearer(request), await _api_key_header(request), Scope.EVENTS_WRITE
        )
        value = request.query_params.get("per_item")
        if value is None:
            return False
        try:
            return _PER_ITEM.validate_python(value)
        except ValidationError as error:
            raise RequestValidationError(
                [
                    {**detail, "loc": ("query", "per_item")}
                    for detail in error.errors(include_url=False)
                ]
            ) from None

    async def read_body(request: Request) -> bytes:
        limit = runtime.settings.max_body_bytes
        declared = request.headers.get("content-length")
        too_large = ProblemError(
            413,
            "body-too-large",
            "The body is too large",
            f"a request body is at most {limit} bytes",
            [FieldProblem(pointer="", rule="body_too_large", detail=f"at most {limit} bytes")],
        )
        if declared is not None and declared.isdigit() and int(declared) > limit:
            runtime.metrics.events_rejected.labels(reason="body_too_large").inc()
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    runtime.metrics.events_rejected.labels(reason="body_too_large").inc()
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            # Gone, or cut off by the server's body timeout: nothing to answer, nothing accepted.
            raise ProblemError(
                408, "request-timeout", "Request timeout", "the body did not arrive"
            ) from None
        return b"".join(chunks)

    def reject(validation: Validation) -> ProblemError:
        errors = [problem for item in validation.invalid for problem in item.errors]
        for item in validation.invalid:
            runtime.metrics.events_rejected.labels(reason=item.errors[0].rule).inc()
        foreign = any(p.rule == "wrong_department" for p in errors)
        return ProblemError(
            422,
            "foreign-event-type" if foreign else "invalid-events",
            "Invalid events",
            f"{len(validation.invalid)} of {len(validation.invalid) + len(validation.valid)} "
            "events are invalid; none was accepted",
            errors,
        )

    async def accept_all(
        records: Sequence[AnyDepartmentEvent], is_batch: bool
    ) -> list[AcceptedEvent]:
        """Publish one all-or-nothing batch; 409 when an id was used before for another body."""
        if not records:
            return []
        outcome = (await coalescer.accept([records]))[0]
        if isinstance(outcome, IdReused):
            raise id_reused([f"/{p}/id" if is_batch else "/id" for p in outcome.positions])
        return outcome

    async def publish(validation: Validation, per_item: bool, is_batch: bool) -> Response:
        if validation.invalid and not per_item:
            raise reject(validation)
        if not per_item:
            # Every event is valid here: positions among them are the request's indexes.
            accepted = await accept_all([item.record for item in validation.valid], is_batch)
            return JSONResponse(
                {"accepted": [_accepted_view(a) for a in accepted]}, status_code=202
            )
        for item in validation.invalid:
            runtime.metrics.events_rejected.labels(reason=item.errors[0].rule).inc()
        outcomes = (
            await coalescer.accept([[item.record] for item in validation.valid])
            if validation.valid
            else []
        )
        results: list[dict[str, Any]] = [
            {"index": item.index, "status": 202, **_accepted_view(outcome[0])}
            if not isinstance(outcome, IdReused)
            else {
                "index": item.index,
                "status": 409,
                "errors": [p.model_dump() for p in id_reused([f"/{item.index}/id"]).errors],
            }
            for item, outcome in zip(validation.valid, outcomes, strict=True)
        ]
        results.extend(
            {"index": item.index, "status": 422, "errors": [p.model_dump() for p in item.errors]}
            for item in validation.invalid
        )
        results.sort(key=lambda result: int(result["index"]))
        return JSONResponse({"results": results}, status_code=207)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is alive (says nothing about Kafka)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=problem_responses(503))
    def readyz() -> dict[str, str]:
        """Kafka is reachable and the action consumer has its partitions."""
        ready, reason = runtime.ready()
        if not ready:
            raise ProblemError(503, "not-ready", "Not ready", reason, headers={"Retry-After": "5"})
        return {"status": "ready"}

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus metrics."""
        runtime.refresh_inbox_gauge()
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/events",
        status_code=202,
        tags=["events"],
        operation_id="post_events",
        openapi_extra={**events_body(department), **_EVENTS_PARAMETERS},
        responses={
            202: {"model": EventsAccepted, "description": "Every event acknowledged by Kafka"},
            207: {"model": EventResults, "description": "per_item=true: a status per event"},
            **problem_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
    )
    async def post_events(request: Request) -> Response:
        """Publish one event, a JSON array or NDJSON; 202 once Kafka acknowledged every event."""
        per_item = await events_request(request)
        body = await read_body(request)
        try:
            parsed = parse_body(
                body, request.headers.get("content-type"), runtime.settings.max_batch_events
            )
        except ProblemError as error:
            runtime.metrics.events_rejected.labels(reason=error.slug).inc()
            raise
        validation = validate_items(
            parsed.items, department, runtime.clock(), parsed.is_batch, from_json=True
        )
        return await publish(validation, per_item, parsed.is_batch)

    @app.post(
        "/v1/native/{vendor}",
        status_code=202,
        tags=["events"],
        operation_id="post_native",
        openapi_extra=_NATIVE_BODY,
        responses={
            202: {"model": NativeEventsAccepted, "description": "Mapped and acknowledged"},
            **problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        },
    )
    async def post_native(
        vendor: str,
        request: Request,
        _key: Annotated[ApiKeyEntry, Depends(require(Scope.EVENTS_WRITE))],
    ) -> Response:
        """A vendor's webhook payload, mapped to canonical events and published like them."""
        adapter = runtime.spec.native_formats.get(vendor)
        if adapter is None:
            known = ", ".join(sorted(runtime.spec.native_formats)) or "none"
            raise ProblemError(
                404, "unknown-format", "Unknown native format", f"formats here: {known}"
            )
        body = await read_body(request)
        parsed = parse_body(
            body, request.headers.get("content-type"), runtime.settings.max_batch_events
        )
        document = parsed.items if parsed.is_batch else parsed.items[0]
        try:
            mapping = adapter(document)
        except NativePayloadError as error:
            runtime.metrics.events_rejected.labels(reason="native_payload_invalid").inc()
            raise ProblemError(
                422,
                "invalid-native-payload",
                f"Not a {vendor} payload we can read",
                errors=error.errors,
            ) from None
        except Exception as error:  # an adapter's gap must be a 4xx, never a 500
            logger.warning(
                "native payload unreadable",
                extra={"vendor": vendor, "error": type(error).__name__},
            )
            runtime.metrics.events_rejected.labels(reason="native_payload_invalid").inc()
            raise ProblemError(
                422,
                "invalid-native-payload",
                f"Not a {vendor} payload we can read",
                errors=[
                    FieldProblem(
                        pointer="",
                        rule="payload_unreadable",
                        detail="a field has an unexpected shape",
                    )
                ],
            ) from None
        if len(mapping.events) > runtime.settings.max_batch_events:
            raise ProblemError(422, "too-many-events", "Too many events")
        validation = validate_items(mapping.events, department, runtime.clock(), True)
        if validation.invalid:
            raise reject(validation)
        accepted = await accept_all([item.record for item in validation.valid], True)
        return JSONResponse(
            {"accepted": [_accepted_view(a) for a in accepted], "ignored": mapping.ignored},
            status_code=202,
        )

    @app.get(
        "/v1/actions",
        tags=["actions"],
        operation_id="list_actions",
        responses={
            **_ok("A page of the inbox", _action_links("/items/0/action_id")),
            **problem_responses(401, 403, 422, 429),
        },
    )
    def list_actions(
        _key: Annotated[ApiKeyEntry, Depends(require(Scope.ACTIONS_READ))],
        status: ActionStatus | None = None,
        type: str | None = None,
        after: Annotated[
            int, Query(ge=0, le=MAX_CURSOR, description="cursor: the last action's cursor")
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """The inbox, in arrival order, a page at a time (``next_after`` is the next cursor)."""
        actions = runtime.store.list_actions(runtime.clock(), status, type, after, limit)
        runtime.metrics.actions_delivered.labels(channel="inbox").inc(len(actions))
        runtime.delivered(actions)
        return {
            "items": [action_view(runtime, a) for a in actions],
            "next_after": actions[-1].seq if len(actions) == limit else None,
        }

    @app.get(
        "/v1/actions/stream",
        tags=["actions"],
        operation_id="stream_actions",
        response_class=StreamingResponse,
        responses={
            200: {"description": "Server-sent events", "content": {"text/event-stream": {}}},
            **problem_responses(401, 403, 422, 429),
        },
    )
    async def stream_actions(
        request: Request,
        key: Annotated[ApiKeyEntry, Depends(require(Scope.ACTIONS_READ))],
        after: Annotated[int | None, Query(ge=0, le=MAX_CURSOR)] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Server-sent events: every open action after the cursor, then each new one as it comes.

        The SSE ``id`` is the action's cursor; a reconnecting client sends it back as
        ``Last-Event-ID`` and sees no action twice.
        """
        resume = last_event_id or ""
        resumable = resume.isascii() and resume.isdigit() and int(resume) <= MAX_CURSOR
        cursor = after if after is not None else int(resume) if resumable else 0

        async def events() -> AsyncIterator[str]:
            nonlocal cursor
            seen_version = -1
            last_sent = time.monotonic()
            runtime.metrics.open_streams.inc()
            try:
                yield ": connected\n\n"
                while not await request.is_disconnected():
                    if runtime.feed_version != seen_version:
                        seen_version = runtime.feed_version
                        batch = await run_in_threadpool(
                            runtime.store.list_actions, runtime.clock(), None, None, cursor, 100
                        )
                        for action in batch:
                            cursor = action.seq
                            if action.status_at(runtime.clock()) in (
                                ActionStatus.OPEN,
                                ActionStatus.ACCEPTED,
                            ):
                                runtime.metrics.actions_delivered.labels(channel="stream").inc()
                                data = json.dumps(action_view(runtime, action), ensure_ascii=False)
                                yield f"id: {action.seq}\nevent: action\ndata: {data}\n\n"
                                await run_in_threadpool(runtime.delivered, [action])
                                last_sent = time.monotonic()
                        if len(batch) == 100:
                            seen_version = -1
                            continue
                    if time.monotonic() - last_sent > STREAM_KEEPALIVE_S:
                        yield ": keep-alive\n\n"
                        last_sent = time.monotonic()
                    await asyncio.sleep(STREAM_POLL_S)
            finally:
                runtime.metrics.open_streams.dec()

        stream_slots.claim(key.id)  # 429 past DEPARTMENT_MAX_STREAMS_PER_KEY
        return _HeldStream(events(), lambda: stream_slots.release(key.id))

    @app.get(
        "/v1/actions/{action_id}",
        tags=["actions"],
        operation_id="get_action",
        responses={
            **_ok("The action", {"RecordOutcome": _action_links("/action_id")["RecordOutcome"]}),
            **problem_responses(401, 403, 404, 429),
        },
    )
    def get_action(
        action_id: str, _key: Annotated[ApiKeyEntry, Depends(require(Scope.ACTIONS_READ))]
    ) -> dict[str, Any]:
        """One action with its status and outcome."""
        action = runtime.store.get_action(action_id)
        if action is None:
            raise ProblemError(404, "action-not-found", "No such action")
        view = action_view(runtime, action)
        runtime.delivered([action])
        return view

    @app.post(
        "/v1/actions/{action_id}/outcome",
        tags=["actions"],
        operation_id="record_outcome",
        openapi_extra=outcome_body(),
        responses={
            **_ok(
                "The action with its outcome",
                {"GetAction": _action_links("/action/action_id")["GetAction"]},
            ),
            **problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        },
    )
    async def post_outcome(
        action_id: str,
        request: Request,
        _key: Annotated[ApiKeyEntry, Depends(require(Scope.ACTIONS_WRITE))],
    ) -> dict[str, Any]:
        """Record accepted, completed, declined (reason required) or failed; publish it."""
        require_json(request.headers.get("content-type"))
        body = await read_body(request)
        outcome = parse_strict(body, OutcomeRequest, "invalid-outcome", "Invalid outcome")
        result = await run_in_threadpool(runtime.record_outcome, action_id, outcome)
        return {"action": action_view(runtime, result.action)}

    install_contact_routes(app, runtime.contacts, require, read_body)
    return app
