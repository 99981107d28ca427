"""Webhook push of actions to a department's system: signed, retried with backoff.

Each push is ``POST <url>`` with the action record (CloudEvents JSON) as body and headers:

* ``Idempotency-Key``: the action id (the same on every retry);
* ``X-Lifecycle-Timestamp``: Unix seconds when the attempt was signed;
* ``X-Lifecycle-Signature``: ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>``.

A 2xx answer is a delivery; anything else is retried after ``initial * 2**(attempt-1)``
seconds (capped), until the attempts run out (then the action stays in the pull inbox).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from department_kit.actions import FINAL_STATUSES
from department_kit.metrics import DepartmentMetrics
from department_kit.store import DepartmentStore, StoredAction, WebhookState

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Lifecycle-Signature"
TIMESTAMP_HEADER = "X-Lifecycle-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# A receiver should refuse signatures older than this (replays).
SIGNATURE_TOLERANCE_S = 300
# An attempt is leased for this many request timeouts: replicas on one database do not push
# the same action at once, and a replica that died mid-attempt leaves it due again after that.
LEASE_TIMEOUTS = 4


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of ``body`` signed at ``timestamp``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: datetime,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> bool:
    """True if ``signature`` is ours for ``body`` and ``timestamp`` is recent: for receivers."""
    try:
        moment = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - moment) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, moment, body), signature)


def backoff(attempt: int, initial_s: float, max_s: float) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt (1-based)."""
    return float(min(max_s, initial_s * 2 ** (attempt - 1)))


class WebhookPusher:
    """Pushes pending actions from the inbox to the webhook URL, in a background thread."""

    def __init__(
        self,
        store: DepartmentStore,
        metrics: DepartmentMetrics,
        url: str,
        secret: str,
        max_attempts: int,
        initial_backoff_s: float,
        max_backoff_s: float,
        timeout_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_delivered: Callable[[StoredAction], None] = lambda _action: None,
    ) -> None:
        self._on_delivered = on_delivered
        self._store = store
        self._metrics = metrics
        self._url = url
        self._secret = secret
        self._max_attempts = max_attempts
        self._initial = initial_backoff_s
        self._max = max_backoff_s
        self._clock = clock
        self._lease = timedelta(seconds=timeout_s * LEASE_TIMEOUTS)
        self._client = httpx.Client(timeout=timeout_s)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-push", daemon=True)

    def start(self) -> None:
        """Start pushing in the background."""
        self._thread.start()

    def notify(self) -> None:
        """A new action is waiting: push now rather than at the next scheduled check."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the attempt in hand."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            for action in self._store.lease_webhook_deliveries(now, now + self._lease):
                if self._stop.is_set():
                    return
                self._attempt(action)
            due = self._store.next_webhook_attempt_at()
            wait_s = 5.0 if due is None else max(0.0, (due - self._clock()).total_seconds())
            self._wake.wait(min(wait_s, 5.0))
            self._wake.clear()

    def _attempt(self, action: StoredAction) -> None:
        now = self._clock()
        if action.status_at(now) in FINAL_STATUSES:
            self._store.record_webhook_attempt(
                action.action_id, WebhookState.SKIPPED, action.webhook_attempts, now
            )
            return
        body = _body(action)
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/cloudevents+json; charset=UTF-8",
            IDEMPOTENCY_HEADER: action.action_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        attempts = action.webhook_attempts + 1
        try:
            response = self._client.post(self._url, content=body, headers=headers)
            delivered = 200 <= response.status_code < 300
        except httpx.HTTPError as error:
            logger.warning(
                "webhook push failed",
                extra={"action_id": action.action_id, "error_class": type(error).__name__},
            )
            delivered = False
        if delivered:
            self._metrics.webhook_attempts.labels(result="delivered").inc()
            self._metrics.actions_delivered.labels(channel="webhook").inc()
            self._store.record_webhook_attempt(
                action.action_id, WebhookState.DELIVERED, attempts, now
            )
            self._on_delivered(action)
            return
        self._metrics.webhook_attempts.labels(result="failed").inc()
        if attempts >= self._max_attempts:
            logger.warning(
                "webhook push gave up", extra={"action_id": action.action_id, "attempts": attempts}
            )
            self._store.record_webhook_attempt(action.action_id, WebhookState.FAILED, attempts, now)
            return
        retry_at = now + timedelta(seconds=backoff(attempts, self._initial, self._max))
        self._store.record_webhook_attempt(
            action.action_id, WebhookState.PENDING, attempts, retry_at
        )


def _body(action: StoredAction) -> bytes:
    return json.dumps(action.record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
