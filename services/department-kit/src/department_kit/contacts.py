"""Contact requests: a department's systems ask the orchestrator before they contact a customer.

``POST /v1/contact-requests`` (one customer) and ``POST /v1/contact-requests/batch`` (a campaign:
up to 1,000 customers, one verdict each) publish a ``<department>.contact.requested`` record per
customer to the department's event topic, keyed like the customer's events, so the worker that
owns the customer decides it in order with them (and reserves an allowed contact in the same
step). Its answer comes back on the department's contact-decisions topic, which every replica
of the service reads from its end (:class:`~department_kit.kafka_io.TopicTail`) and matches to
the request it waits for by request id.

When the orchestrator cannot be reached (the publish fails, the answer topic is not watched) or
does not answer within ``DEPARTMENT_CONTACT_TIMEOUT_S``, the request gets the fallback of its
purpose: allowed when it is in ``DEPARTMENT_CONTACT_FAIL_OPEN`` (service, transactional, legal
by default), denied otherwise (promotional), counted in
``lifecycle_contact_request_fallbacks_total``.
"""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from department_kit.ingest import Model, parse_strict, require_json
from department_kit.kafka_io import BrokerUnavailableError, IncomingRecord, OutgoingRecord
from department_kit.metrics import DepartmentMetrics
from lifecycle_schemas.catalogue import CONTACT_REQUEST_OF_DEPARTMENT
from lifecycle_schemas.codec import (
    RecordDecodeError,
    decode_record,
    encode_record,
    kafka_key,
)
from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import CloudEvent, EventId, new_record_id
from lifecycle_schemas.events.common import ContactRequestedData, contact_id
from lifecycle_schemas.identifiers import CustomerRef, ExternalId
from lifecycle_schemas.outputs import ContactDecided
from lifecycle_schemas.vocabulary import Code, ContactChannel, ContactDecision, ContactPurpose
from service_kit.api_keys import ApiKeyEntry, Scope
from service_kit.http import inline_json_schema, problem_responses

logger = logging.getLogger(__name__)

MAX_BATCH_CUSTOMERS = 1000
UNREACHABLE = "orchestrator-unreachable"
NO_ANSWER = "orchestrator-timeout"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ContactRequestBody(_Body):
    """May the department contact this customer now, on this channel, for this purpose?"""

    customer: CustomerRef = Field(description="Any identifier the department has for them.")
    channel: ContactChannel
    purpose: ContactPurpose
    campaign_id: ExternalId | None = None
    content_tag: Code | None = None


class ContactBatchBody(_Body):
    """One campaign's contacts: the same channel, purpose and campaign for every customer."""

    customers: Annotated[list[CustomerRef], Field(min_length=1, max_length=MAX_BATCH_CUSTOMERS)]
    channel: ContactChannel
    purpose: ContactPurpose
    campaign_id: ExternalId | None = None
    content_tag: Code | None = None

    def requests(self) -> list[ContactRequestBody]:
        """One request per customer."""
        shared = self.model_dump(exclude={"customers"})
        return [ContactRequestBody(customer=customer, **shared) for customer in self.customers]


class ContactAnswer(BaseModel):
    """The verdict on one contact request."""

    decision: ContactDecision
    reason_code: str = Field(
        description="The orchestrator's (within-policy, open-urgent-case, no-consent, "
        "frequency-cap, quiet-hours, control-group, unknown-customer, ...) or a fallback's "
        f"({UNREACHABLE}, {NO_ANSWER})."
    )
    reason: str
    contact_id: EventId = Field(
        description="Report it on campaign.message-sent (data.contact_id) once sent."
    )
    expires_at: AwareDatetime | None = Field(
        description="An allowed contact is reserved against the caps until it is reported "
        "sent or until then (none for a fallback)."
    )
    customer_id: str | None = Field(
        default=None, description="The orchestrator's customer id (none for a fallback)."
    )


class ContactBatchItem(ContactAnswer):
    index: int = Field(description="The customer's position in the request's customers.")


class ContactBatchAnswer(BaseModel):
    results: list[ContactBatchItem]


class AwaitedAnswers:
    """The contact requests this process waits for, by request id (any thread may answer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}

    def expect(self, request_id: str) -> asyncio.Future[ContactDecided]:
        """A future the answer to ``request_id`` will complete (call on the event loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ContactDecided] = loop.create_future()
        with self._lock:
            self._waiting[request_id] = (loop, future)
        return future

    def forget(self, request_ids: Sequence[str]) -> None:
        """Stop waiting for these requests (answered, or given up)."""
        with self._lock:
            for request_id in request_ids:
                self._waiting.pop(request_id, None)

    def answer(self, decided: ContactDecided) -> None:
        """Complete the future of the request ``decided`` answers, if this process waits."""
        with self._lock:
            waiting = self._waiting.pop(decided.data.request_id, None)
        if waiting is not None:
            loop, future = waiting
            loop.call_soon_threadsafe(_settle, future, decided)

    def on_record(self, record: IncomingRecord) -> None:
        """A record of the contact-decisions topic (:class:`TopicTail`'s callback)."""
        try:
            decided = decode_record(record.value or b"", now=None)
        except RecordDecodeError:
            logger.warning("unreadable contact decision ignored", extra={"offset": record.offset})
            return
        if isinstance(decided, ContactDecided):
            self.answer(decided)


def _settle(future: asyncio.Future[ContactDecided], decided: ContactDecided) -> None:
    if not future.done():  # a request that gave up has cancelled it
        future.set_result(decided)


# Publishes request records and waits for Kafka (raises BrokerUnavailableError).
PublishRequests = Callable[[list[CloudEvent[Any]]], None]


class ContactDesk:
    """Asks the orchestrator and waits for its answers, or applies the purpose's fallback."""

    def __init__(
        self,
        department: Department,
        publish: PublishRequests,
        awaited: AwaitedAnswers,
        watching: Callable[[], bool],
        metrics: DepartmentMetrics,
        clock: Callable[[], datetime],
        timeout_s: float,
        fail_open: frozenset[ContactPurpose],
    ) -> None:
        self.department = department
        self.model = CONTACT_REQUEST_OF_DEPARTMENT[department]
        self.publish = publish
        self.awaited = awaited
        self.watching = watching
        self.metrics = metrics
        self.clock = clock
        self.timeout_s = timeout_s
        self.fail_open = fail_open

    async def ask(self, requests: Sequence[ContactRequestBody]) -> list[ContactAnswer]:
        """The verdict on each request, in order."""
        now = self.clock()
        records = [
            self.model.build(
                ContactRequestedData(
                    customer=body.customer,
                    channel=body.channel,
                    purpose=body.purpose,
                    campaign_id=body.campaign_id,
                    content_tag=body.content_tag,
                    answer_by=now + timedelta(seconds=self.timeout_s),
                ),
                id=new_record_id(),
                time=now,
            )
            for body in requests
        ]
        if not self.watching():
            return self._all_fallback(requests, records, UNREACHABLE)
        ids = [record.id for record in records]
        futures = [self.awaited.expect(request_id) for request_id in ids]
        try:
            try:
                await asyncio.to_thread(self.publish, records)
            except BrokerUnavailableError:
                return self._all_fallback(requests, records, UNREACHABLE)
            await asyncio.wait(futures, timeout=max(0.0, self.timeout_s - self._spent(now)))
        finally:
            self.awaited.forget(ids)
            for future in futures:
                future.cancel()  # no-op for the answered ones
        return [
            self._answered(body, future.result())
            if future.done() and not future.cancelled()
            else self._fallback(body, record.id, NO_ANSWER)
            for body, record, future in zip(requests, records, futures, strict=True)
        ]

    def _spent(self, since: datetime) -> float:
        return (self.clock() - since).total_seconds()

    def _answered(self, body: ContactRequestBody, decided: ContactDecided) -> ContactAnswer:
        data = decided.data
        self.metrics.contact_answers.labels(
            purpose=body.purpose.value, decision=data.decision.value, reason=data.reason_code
        ).inc()
        return ContactAnswer(
            decision=data.decision,
            reason_code=data.reason_code,
            reason=data.reason,
            contact_id=data.contact_id,
            expires_at=data.expires_at,
            customer_id=data.customer_id,
        )

    def _all_fallback(
        self, requests: Sequence[ContactRequestBody], records: Sequence[CloudEvent[Any]], cause: str
    ) -> list[ContactAnswer]:
        return [
            self._fallback(body, record.id, cause)
            for body, record in zip(requests, records, strict=True)
        ]

    def _fallback(self, body: ContactRequestBody, request_id: str, cause: str) -> ContactAnswer:
        opened = body.purpose in self.fail_open
        decision = ContactDecision.ALLOW if opened else ContactDecision.DENY
        labels = {"purpose": body.purpose.value, "decision": decision.value}
        self.metrics.contact_fallbacks.labels(**labels, cause=cause).inc()
        self.metrics.contact_answers.labels(**labels, reason=cause).inc()
        what = "unreachable" if cause == UNREACHABLE else "did not answer in time"
        policy = "fail open" if opened else "fail closed"
        return ContactAnswer(
            decision=decision,
            reason_code=cause,
            reason=f"the orchestrator {what}: {body.purpose.value} requests {policy}",
            contact_id=contact_id(request_id),
            expires_at=None,
        )


def outgoing_requests(topic: str, records: Sequence[CloudEvent[Any]]) -> list[OutgoingRecord]:
    """The request records as the event topic takes them, keyed like the customer's events."""
    return [OutgoingRecord(topic, kafka_key(record), encode_record(record)) for record in records]


def install_contact_routes(
    app: FastAPI,
    desk: ContactDesk,
    require: Callable[[Scope], Callable[..., Awaitable[ApiKeyEntry]]],
    read_body: Callable[[Request], Awaitable[bytes]],
) -> None:
    """``POST /v1/contact-requests`` and ``POST /v1/contact-requests/batch``."""

    async def json_body(request: Request, model: type[Model]) -> Model:
        require_json(request.headers.get("content-type"))
        body = await read_body(request)
        return parse_strict(body, model, "invalid-contact-request", "Invalid contact request")

    responses = problem_responses(400, 401, 403, 413, 415, 422, 429)

    @app.post(
        "/v1/contact-requests",
        tags=["contacts"],
        operation_id="request_contact",
        response_model=ContactAnswer,
        openapi_extra=_body_of(ContactRequestBody),
        responses=responses,
    )
    async def request_contact(
        request: Request,
        _key: Annotated[ApiKeyEntry, Depends(require(Scope.CONTACTS_REQUEST))],
    ) -> ContactAnswer:
        """May the department contact this customer now? ``allow`` reserves the contact."""
        body = await json_body(request, ContactRequestBody)
        return (await desk.ask([body]))[0]

    @app.post(
        "/v1/contact-requests/batch",
        tags=["contacts"],
        operation_id="request_contacts",
        response_model=ContactBatchAnswer,
        openapi_extra=_body_of(ContactBatchBody),
        responses=responses,
    )
    async def request_contacts(
        request: Request,
        _key: Annotated[ApiKeyEntry, Depends(require(Scope.CONTACTS_REQUEST))],
    ) -> ContactBatchAnswer:
        """A campaign's contacts: up to 1,000 customers, one verdict each (in their order)."""
        body = await json_body(request, ContactBatchBody)
        answers = await desk.ask(body.requests())
        return ContactBatchAnswer(
            results=[
                ContactBatchItem(index=index, **answer.model_dump())
                for index, answer in enumerate(answers)
            ]
        )


def _body_of(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_json_schema(model)}},
        }
    }
