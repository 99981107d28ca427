"""Clients posting events to a department service under faults, and the ledger they keep.

Shared by the department-side chaos tests (not a test module). A client posts each of its
events until it is answered ``202``, honouring ``Retry-After`` after a ``503``, as a well-behaved
department system would; every answer is written down. The oracle reads the topic back.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from lifecycle_schemas.codec import encode_record
from lifecycle_testing.kafka import read_topic
from lifecycle_testing.orchestrator_io import department_event
from lifecycle_testing.waiting import eventually
from orchestrator.core.identity import new_customer_id


def deal_won(crm_account_id: str, amount_minor: int, opportunity_id: str) -> dict[str, Any]:
    """A ``sales.deal.won`` body (JSON) for one customer, under a fresh event id."""
    record = department_event(
        "sales.deal.won",
        {"crm_account_id": crm_account_id, "email": f"{crm_account_id}@example.com"},
        amount={"amount_minor": amount_minor, "currency": "EUR"},
        opportunity_id=opportunity_id,
    )
    body: dict[str, Any] = json.loads(encode_record(record))
    return body


def customer_id_of(crm_account_id: str) -> str:
    """The orchestrator's id of the customer known by this CRM account."""
    return new_customer_id(f"crm_account_id:{crm_account_id}")


@dataclass(frozen=True)
class Answer:
    """One attempt to post one event: the status (0 for no answer) and when it ran."""

    event_id: str
    status: int
    retry_after: str | None
    started: float
    finished: float


@dataclass
class IngestClients:
    """Threads posting ``events`` (split among them) to ``url`` until each one is accepted."""

    url: str
    headers: dict[str, str]
    events: list[dict[str, Any]]
    threads: int = 4
    retry_after_cap_s: float = 5.0
    pace_s: float = 0.0  # pause after each accepted event: a steady rate, not synchronisation
    request_timeout_s: float = 30.0
    answers: list[Answer] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> IngestClients:
        for n in range(self.threads):
            share = self.events[n :: self.threads]
            worker = threading.Thread(target=self._post_all, args=(share,), daemon=True)
            self._workers.append(worker)
            worker.start()
        return self

    def _post_all(self, share: list[dict[str, Any]]) -> None:
        try:
            with httpx.Client(headers=self.headers, timeout=self.request_timeout_s) as client:
                for event in share:
                    while not self._stop.is_set() and not self._post(client, event):
                        pass
        except BaseException as error:  # reported by the test thread
            self.failures.append(error)

    def _post(self, client: httpx.Client, event: dict[str, Any]) -> bool:
        started = time.monotonic()
        try:
            response = client.post(self.url, json=[event])
            status, retry_after = response.status_code, response.headers.get("Retry-After")
        except httpx.TransportError:
            status, retry_after = 0, None
        with self._lock:
            self.answers.append(Answer(event["id"], status, retry_after, started, time.monotonic()))
        if status == 202:
            self._stop.wait(self.pace_s)
            return True
        assert status in (0, 503), f"unexpected answer {status}"
        # Back off as told (a client's pacing, not synchronisation).
        wait_s = min(float(retry_after or 1), self.retry_after_cap_s)
        self._stop.wait(wait_s)
        return False

    def accepted_ids(self) -> set[str]:
        """The ledger: every event id the service answered ``202``."""
        with self._lock:
            return {a.event_id for a in self.answers if a.status == 202}

    def count(self, status: int, after: float = 0.0) -> int:
        """How many answers had ``status``, among attempts started after ``after``."""
        with self._lock:
            return sum(1 for a in self.answers if a.status == status and a.started >= after)

    def wait_for(self, status: int, at_least: int, after: float, timeout_s: float) -> None:
        """Until ``at_least`` answers with ``status`` came to attempts started after ``after``."""
        eventually(
            lambda: self.count(status, after),
            lambda answered: answered >= at_least,
            timeout_s=timeout_s,
            interval_s=0.1,
            what=f"{at_least} answers {status}",
            give_up=self._failed,
        )

    def _failed(self) -> str | None:
        return f"a client failed: {self.failures}" if self.failures else None

    def finish(self, timeout_s: float = 60.0) -> None:
        """Wait until every event was accepted; fail when that does not happen in time."""
        try:
            eventually(
                lambda: [w.name for w in self._workers if w.is_alive()],
                lambda posting: not posting,
                timeout_s=timeout_s,
                interval_s=0.1,
                what="every client done (clients still posting)",
                give_up=self._failed,
            )
        finally:
            self._stop.set()
        assert not self.failures, self.failures
        assert self.accepted_ids() == {e["id"] for e in self.events}, "an event never accepted"

    def stop(self) -> None:
        """Stop posting (test teardown)."""
        self._stop.set()
        for worker in self._workers:
            worker.join(10)


def event_ids_on_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> Counter[str]:
    """How many times each event id is on ``topic``: every record up to the current end."""
    records = read_topic(bootstrap, topic, timeout_s)
    return Counter(json.loads(r.value)["id"] for r in records if r.value is not None)
