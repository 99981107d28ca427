"""The department service's durable state in an embedded database (SQLite by default).

Three tables: the action inbox (one row per action id, so a redelivered action is stored
once), the log of accepted event ids (idempotency of ingest) and import checkpoints. Every
write is one transaction; the consumer commits its Kafka offsets only after the write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from department_kit.actions import FINAL_STATUSES, ActionStatus, effective_status
from lifecycle_schemas.catalogue import AnyAction
from lifecycle_schemas.codec import encode_record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id TEXT NOT NULL UNIQUE,
    action_type TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    priority TEXT NOT NULL,
    deadline REAL NOT NULL,
    expires_at REAL NOT NULL,
    received_at REAL NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    outcome_record TEXT,
    outcome_at REAL,
    webhook_state TEXT NOT NULL,
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_next_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS actions_by_status ON actions (status, seq);
CREATE INDEX IF NOT EXISTS actions_by_webhook ON actions (webhook_state, webhook_next_at);
CREATE TABLE IF NOT EXISTS accepted_events (
    event_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    accepted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS accepted_events_by_time ON accepted_events (accepted_at);
CREATE TABLE IF NOT EXISTS import_checkpoints (
    file_key TEXT PRIMARY KEY,
    line INTEGER NOT NULL
);
"""


class WebhookState:
    """Where the push of one action to the department's webhook stands."""

    NOT_CONFIGURED = "not-configured"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    # Finished or expired before it could be pushed: nothing left to ask of the department.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class AcceptedEvent:
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class StoredAction:
    """One action in the inbox."""

    seq: int
    action_id: str
    action_type: str
    customer_id: str
    priority: str
    deadline: datetime
    expires_at: datetime
    received_at: datetime
    status: ActionStatus
    record: dict[str, Any]
    outcome: dict[str, Any] | None
    webhook_state: str
    webhook_attempts: int

    def status_at(self, now: datetime) -> ActionStatus:
        """The status to report at ``now`` (expired when past its expiry)."""
        return effective_status(self.status, self.expires_at, now)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///path`` URL (the only kind supported)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError("the inbox URL must be sqlite:///<path>")
    return Path(url[len(prefix) :])


class DepartmentStore:
    """The inbox, the accepted-event log and import checkpoints; safe to share between threads."""

    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL by default: a stored action survives a power cut before its offset is committed.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _write(
        self,
        statements: Iterable[tuple[str, Sequence[Any]]],
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> list[int]:
        with self._lock:
            counts: list[int] = []
            self._db.execute(f"PRAGMA synchronous={synchronous}")  # a Literal, not input
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, parameters in statements:
                    counts.append(self._db.execute(sql, parameters).rowcount)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return counts

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, parameters).fetchall())

    # --- ingest idempotency -------------------------------------------------------------

    def accepted_events(
        self, event_ids: Sequence[str], since: datetime
    ) -> dict[str, AcceptedEvent]:
        """The ids among ``event_ids`` accepted at or after ``since``."""
        found: dict[str, AcceptedEvent] = {}
        for start in range(0, len(event_ids), 500):
            chunk = list(event_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                f"SELECT * FROM accepted_events WHERE event_id IN ({marks}) AND accepted_at >= ?",  # noqa: S608
                [*chunk, _epoch(since)],
            )
            for row in rows:
                found[row["event_id"]] = AcceptedEvent(
                    row["event_id"],
                    row["event_type"],
                    row["topic"],
                    row["partition"],
                    row["offset"],
                )
        return found

    def record_accepted(
        self, events: Sequence[AcceptedEvent], at: datetime, forget_before: datetime
    ) -> None:
        """Remember accepted events (and forget those older than the idempotency window)."""
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT OR REPLACE INTO accepted_events VALUES (?, ?, ?, ?, ?, ?)",
                (e.event_id, e.event_type, e.topic, e.partition, e.offset, _epoch(at)),
            )
            for e in events
        ]
        statements.append(
            ("DELETE FROM accepted_events WHERE accepted_at < ?", (_epoch(forget_before),))
        )
        # NORMAL: the idempotency log is the one write on every ingest request, and an fsync
        # per request held a service at about 45 requests/s (docs/benchmarks.md, "Ingest"). In
        # WAL mode it still survives a crash of the process; a power cut may forget the last
        # ids, and a client's retry of one is then published twice, which consumers drop by id.
        self._write(statements, synchronous="NORMAL")

    # --- the inbox ----------------------------------------------------------------------

    def add_action(self, action: AnyAction, received_at: datetime, webhook_state: str) -> bool:
        """Store an action unless its id is already there; True if it is new."""
        data = action.data
        counts = self._write(
            [
                (
                    "INSERT OR IGNORE INTO actions (action_id, action_type, customer_id, priority, "
                    "deadline, expires_at, received_at, status, record, webhook_state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        data.action_id,
                        action.type,
                        data.customer_id,
                        data.priority.value,
                        _epoch(data.deadline),
                        _epoch(data.expires_at),
                        _epoch(received_at),
                        ActionStatus.OPEN.value,
                        encode_record(action).decode("utf-8"),
                        webhook_state,
                    ),
                )
            ]
        )
        return counts[0] == 1

    def purge_customer(self, customer_id: str, keep_action_id: str) -> int:
        """Delete every inbox row of an erased customer but the erase action itself.

        The rows hold the department's identifiers for the customer (e-mail, phone); the erase
        action stays so the department can act on it and report the outcome.
        """
        counts = self._write(
            [
                (
                    "DELETE FROM actions WHERE customer_id = ? AND action_id != ?",
                    (customer_id, keep_action_id),
                )
            ]
        )
        return counts[0]

    def _action(self, row: sqlite3.Row) -> StoredAction:
        return StoredAction(
            seq=row["seq"],
            action_id=row["action_id"],
            action_type=row["action_type"],
            customer_id=row["customer_id"],
            priority=row["priority"],
            deadline=_moment(row["deadline"]),
            expires_at=_moment(row["expires_at"]),
            received_at=_moment(row["received_at"]),
            status=ActionStatus(row["status"]),
            record=json.loads(row["record"]),
            outcome=json.loads(row["outcome_record"]) if row["outcome_record"] else None,
            webhook_state=row["webhook_state"],
            webhook_attempts=row["webhook_attempts"],
        )

    def get_action(self, action_id: str) -> StoredAction | None:
        """One action by id."""
        rows = self._read("SELECT * FROM actions WHERE action_id = ?", (action_id,))
        return self._action(rows[0]) if rows else None

    def list_actions(
        self,
        now: datetime,
        status: ActionStatus | None = None,
        action_type: str | None = None,
        after_seq: int = 0,
        limit: int = 50,
    ) -> list[StoredAction]:
        """Actions in arrival order after a cursor, filtered by reported status and type."""
        clauses = ["seq > ?"]
        parameters: list[Any] = [after_seq]
        unfinished = (ActionStatus.OPEN.value, ActionStatus.ACCEPTED.value)
        if status == ActionStatus.EXPIRED:
            clauses.append("(status = ? OR (status IN (?, ?) AND expires_at <= ?))")
            parameters.extend([ActionStatus.EXPIRED.value, *unfinished, _epoch(now)])
        elif status in (ActionStatus.OPEN, ActionStatus.ACCEPTED):
            clauses.append("status = ? AND expires_at > ?")
            parameters.extend([status.value, _epoch(now)])
        elif status is not None:
            clauses.append("status = ?")
            parameters.append(status.value)
        if action_type is not None:
            clauses.append("action_type = ?")
            parameters.append(action_type)
        parameters.append(limit)
        rows = self._read(
            f"SELECT * FROM actions WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",  # noqa: S608
            parameters,
        )
        return [self._action(row) for row in rows]

    def record_outcome(
        self,
        action_id: str,
        expected: ActionStatus,
        new: ActionStatus,
        outcome: dict[str, Any],
        at: datetime,
    ) -> bool:
        """Move an action from ``expected`` to ``new``; False if someone changed it first."""
        counts = self._write(
            [
                (
                    "UPDATE actions SET status = ?, outcome_record = ?, outcome_at = ? "
                    "WHERE action_id = ? AND status = ?",
                    (new.value, json.dumps(outcome), _epoch(at), action_id, expected.value),
                )
            ]
        )
        return counts[0] == 1

    def unfinished_past_expiry(self, now: datetime, limit: int = 100) -> list[StoredAction]:
        """Open or accepted actions whose ``expires_at`` has passed (to be reported expired)."""
        rows = self._read(
            "SELECT * FROM actions WHERE status IN (?, ?) AND expires_at <= ? ORDER BY seq LIMIT ?",
            (ActionStatus.OPEN.value, ActionStatus.ACCEPTED.value, _epoch(now), limit),
        )
        return [self._action(row) for row in rows]

    def count_by_status(self, now: datetime) -> dict[ActionStatus, int]:
        """How many actions have each reported status."""
        counts = dict.fromkeys(ActionStatus, 0)
        rows = self._read(
            "SELECT status, expires_at <= ? AS past, COUNT(*) AS n FROM actions "
            "GROUP BY status, past",
            (_epoch(now),),
        )
        for row in rows:
            status = ActionStatus(row["status"])
            if status not in FINAL_STATUSES and row["past"]:
                status = ActionStatus.EXPIRED
            counts[status] += row["n"]
        return counts

    # --- webhook push -------------------------------------------------------------------

    def due_webhook_deliveries(self, now: datetime, limit: int = 20) -> list[StoredAction]:
        """Actions waiting to be pushed whose next attempt is due."""
        rows = self._read(
            "SELECT * FROM actions WHERE webhook_state = ? AND webhook_next_at <= ? "
            "ORDER BY seq LIMIT ?",
            (WebhookState.PENDING, _epoch(now), limit),
        )
        return [self._action(row) for row in rows]

    def next_webhook_attempt_at(self) -> datetime | None:
        """When the earliest pending push is due."""
        rows = self._read(
            "SELECT MIN(webhook_next_at) AS due FROM actions WHERE webhook_state = ?",
            (WebhookState.PENDING,),
        )
        due = rows[0]["due"] if rows else None
        return _moment(due) if due is not None else None

    def record_webhook_attempt(
        self, action_id: str, state: str, attempts: int, next_at: datetime
    ) -> None:
        """Store the result of one push attempt."""
        self._write(
            [
                (
                    "UPDATE actions SET webhook_state = ?, webhook_attempts = ?, "
                    "webhook_next_at = ? "
                    "WHERE action_id = ?",
                    (state, attempts, _epoch(next_at), action_id),
                )
            ]
        )

    # --- import checkpoints -------------------------------------------------------------

    def import_checkpoint(self, file_key: str) -> int:
        """The last line of a file whose events were all acknowledged (0 if none)."""
        rows = self._read("SELECT line FROM import_checkpoints WHERE file_key = ?", (file_key,))
        return int(rows[0]["line"]) if rows else 0

    def save_import_checkpoint(self, file_key: str, line: int) -> None:
        """Remember that every event up to ``line`` was acknowledged."""
        self._write([("INSERT OR REPLACE INTO import_checkpoints VALUES (?, ?)", (file_key, line))])
