"""The department service's durable state: SQLite by default, PostgreSQL for replicas.

Three kinds of rows: the action inbox (one row per action id, so a redelivered action is stored
once), the accepted event ids with a digest of each body (idempotency of ingest) and import
checkpoints. Every write is one short transaction; the consumer commits its Kafka offsets only
after the write.

Replicas of one department share one PostgreSQL database, so whatever must happen once is
decided by the database, not by a process:

* an event id is claimed before it is published: a transaction of its own inserts the id's row
  with the request's claim token, the body's digest and an expiry, and commits. The request
  publishes with no transaction open, then marks the row published (where Kafka stored it). A
  concurrent post of the id (any replica) finds the claim and asks again until it is published
  (then it is a replay, or 409 for another body) or given back. A claim its holder never
  finished (a crash) lapses at its expiry and is taken over; the crashed holder may have
  published, so only then can an id reach the topic twice.
* an outcome is published while its action's row is locked (``SELECT ... FOR UPDATE``), so two
  posts of it publish once; the expiry sweep skips rows another replica holds.
* a webhook push is leased: the replica that moves ``webhook_next_at`` past now pushes.

On SQLite a write transaction holds the whole database: one process's writers take turns on a
lock of their own, so none sleeps in SQLite's busy handler behind another.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from department_kit.actions import FINAL_STATUSES, ActionStatus, effective_status
from department_kit.event_claims import (
    AcceptedEvent,
    ClaimStatements,
    EventClaims,
    mark_published,
    release,
)
from department_kit.inbox_db import (
    DURABILITY,
    WRITING,
    accepted_events,
    actions,
    create_inbox_engine,
    import_checkpoints,
    inbox_sequence,
    migrate,
    upsert_of,
)
from lifecycle_schemas.catalogue import AnyAction
from lifecycle_schemas.codec import encode_record


class WebhookState:
    """Where the push of one action to the department's webhook stands."""

    NOT_CONFIGURED = "not-configured"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    # Finished or expired before it could be pushed: nothing left to ask of the department.
    SKIPPED = "skipped"


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


def _action(row: sa.Row[Any]) -> StoredAction:
    return StoredAction(
        seq=row.seq,
        action_id=row.action_id,
        action_type=row.action_type,
        customer_id=row.customer_id,
        priority=row.priority,
        deadline=_moment(row.deadline),
        expires_at=_moment(row.expires_at),
        received_at=_moment(row.received_at),
        status=ActionStatus(row.status),
        record=json.loads(row.record),
        outcome=json.loads(row.outcome_record) if row.outcome_record else None,
        webhook_state=row.webhook_state,
        webhook_attempts=row.webhook_attempts,
    )


def _unfinished_past(now: datetime) -> sa.ColumnElement[bool]:
    unfinished = (ActionStatus.OPEN.value, ActionStatus.ACCEPTED.value)
    return sa.and_(actions.c.status.in_(unfinished), actions.c.expires_at <= _epoch(now))


class ActionChange:
    """Actions locked in one transaction, and the outcomes recorded for them."""

    def __init__(self, connection: sa.Connection, found: list[StoredAction]) -> None:
        self._connection = connection
        self.actions = found

    def record_outcome(
        self, action_id: str, new: ActionStatus, outcome: dict[str, Any], at: datetime
    ) -> None:
        """Store the outcome of a locked action (committed when the block ends)."""
        self._connection.execute(
            sa.update(actions)
            .where(actions.c.action_id == action_id)
            .values(status=new.value, outcome_record=json.dumps(outcome), outcome_at=_epoch(at))
        )


class DepartmentStore:
    """The inbox, the accepted-event log and import checkpoints; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self._engine = create_inbox_engine(url)
        self._upsert = upsert_of(self._engine)
        self._claims = ClaimStatements(self._engine.dialect, self._upsert)
        # SQLite: one writer at a time anyway; waiting here wakes at once, SQLite's busy
        # handler sleeps (1, 2, 5 ... 100 ms) and retries. Reentrant: a nested write in one
        # thread fails on SQLite's busy timeout, as it did, instead of waiting forever.
        self._write_turn: AbstractContextManager[Any] = (
            threading.RLock() if self._engine.dialect.name == "sqlite" else nullcontext()
        )
        migrate(self._engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _writing(self, durability: str = "FULL") -> Iterator[sa.Connection]:
        """One write transaction, committed when the block ends without an exception."""
        options = {WRITING: True, DURABILITY: durability}
        with (
            self._write_turn,
            self._engine.connect().execution_options(**options) as connection,
            connection.begin(),
        ):
            yield connection

    def _read(self, statement: sa.Executable) -> list[sa.Row[Any]]:
        with self._engine.connect() as connection:
            return list(connection.execute(statement))

    # --- ingest idempotency -------------------------------------------------------------

    @contextmanager
    def claiming(self, now: datetime, lapse: datetime) -> Iterator[EventClaims]:
        """The short transaction that claims event ids (lapsing at ``lapse``) before they are
        published; nothing is published while it is open.

        NORMAL durability on SQLite, here and when the claims are marked published: these are
        the writes of every ingest request, and an fsync per request held a service at about
        45 requests/s (docs/benchmarks.md, "Ingest"). In WAL mode they still survive a crash of
        the process; a power cut may forget the last ids, and a client's retry of one is then
        published twice, which consumers drop by id.
        """
        with self._writing(durability="NORMAL") as connection:
            yield EventClaims(connection, self._claims, now, lapse)

    def record_published(self, token: str, events: Sequence[AcceptedEvent]) -> int:
        """Mark claimed ids published, with where Kafka stored them; how many were still ours
        (fewer: a claim lapsed and was taken over before this)."""
        with self._writing(durability="NORMAL") as connection:
            return mark_published(connection, self._claims, token, events)

    def release_claims(self, token: str, event_ids: Sequence[str]) -> None:
        """Give back claims that were not published (Kafka did not acknowledge)."""
        with self._writing(durability="NORMAL") as connection:
            release(connection, token, event_ids)

    def forget_accepted_before(self, moment: datetime) -> int:
        """Drop accepted ids older than the idempotency window; how many."""
        with self._writing() as connection:
            done = connection.execute(
                sa.delete(accepted_events).where(accepted_events.c.accepted_at < _epoch(moment))
            )
            return done.rowcount

    # --- the inbox ----------------------------------------------------------------------

    def add_action(self, action: AnyAction, received_at: datetime, webhook_state: str) -> bool:
        """Store an action unless its id is already there; True if it is new.

        Its cursor is the next value of the ``inbox_sequence`` row, taken under that row's lock
        in the same transaction: cursors are committed in the order they were handed out.
        """
        data = action.data
        with self._writing() as connection:
            if connection.execute(
                sa.select(actions.c.seq).where(actions.c.action_id == data.action_id)
            ).first():
                return False
            seq = connection.execute(
                sa.update(inbox_sequence)
                .where(inbox_sequence.c.id == 1)
                .values(last_seq=inbox_sequence.c.last_seq + 1)
                .returning(inbox_sequence.c.last_seq)
            ).scalar_one()
            inserted = connection.execute(
                self._upsert(actions)
                .values(
                    seq=seq,
                    action_id=data.action_id,
                    action_type=action.type,
                    customer_id=data.customer_id,
                    priority=data.priority.value,
                    deadline=_epoch(data.deadline),
                    expires_at=_epoch(data.expires_at),
                    received_at=_epoch(received_at),
                    status=ActionStatus.OPEN.value,
                    record=encode_record(action).decode("utf-8"),
                    webhook_state=webhook_state,
                    webhook_attempts=0,
                    webhook_next_at=0.0,
                )
                .on_conflict_do_nothing(index_elements=[actions.c.action_id])
                .returning(actions.c.seq)
            )
            return inserted.first() is not None

    def purge_customer(self, customer_id: str, keep_action_id: str) -> int:
        """Delete every inbox row of an erased customer but the erase action itself.

        The rows hold the department's identifiers for the customer (e-mail, phone); the erase
        action stays so the department can act on it and report the outcome.
        """
        with self._writing() as connection:
            done = connection.execute(
                sa.delete(actions).where(
                    actions.c.customer_id == customer_id, actions.c.action_id != keep_action_id
                )
            )
            return done.rowcount

    def get_action(self, action_id: str) -> StoredAction | None:
        """One action by id."""
        rows = self._read(sa.select(actions).where(actions.c.action_id == action_id))
        return _action(rows[0]) if rows else None

    def last_cursor(self) -> int:
        """The cursor of the newest action stored by any replica."""
        rows = self._read(sa.select(inbox_sequence.c.last_seq).where(inbox_sequence.c.id == 1))
        return int(rows[0].last_seq) if rows else 0

    def list_actions(
        self,
        now: datetime,
        status: ActionStatus | None = None,
        action_type: str | None = None,
        after_seq: int = 0,
        limit: int = 50,
    ) -> list[StoredAction]:
        """Actions in arrival order after a cursor, filtered by reported status and type."""
        query = sa.select(actions).where(actions.c.seq > after_seq)
        if status == ActionStatus.EXPIRED:
            query = query.where(
                sa.or_(actions.c.status == ActionStatus.EXPIRED.value, _unfinished_past(now))
            )
        elif status in (ActionStatus.OPEN, ActionStatus.ACCEPTED):
            query = query.where(
                actions.c.status == status.value, actions.c.expires_at > _epoch(now)
            )
        elif status is not None:
            query = query.where(actions.c.status == status.value)
        if action_type is not None:
            query = query.where(actions.c.action_type == action_type)
        rows = self._read(query.order_by(actions.c.seq).limit(limit))
        return [_action(row) for row in rows]

    @contextmanager
    def changing_action(self, action_id: str) -> Iterator[ActionChange]:
        """The action locked until the block ends (``actions`` is empty if there is none)."""
        with self._writing() as connection:
            rows = connection.execute(
                sa.select(actions).where(actions.c.action_id == action_id).with_for_update()
            )
            yield ActionChange(connection, [_action(row) for row in rows])

    @contextmanager
    def expiring(self, now: datetime, limit: int = 100) -> Iterator[ActionChange]:
        """Open or accepted actions past ``expires_at``, locked until the block ends; rows
        another replica is expiring are skipped."""
        with self._writing() as connection:
            rows = connection.execute(
                sa.select(actions)
                .where(_unfinished_past(now))
                .order_by(actions.c.seq)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            yield ActionChange(connection, [_action(row) for row in rows])

    def count_by_status(self, now: datetime) -> dict[ActionStatus, int]:
        """How many actions have each reported status."""
        counts = dict.fromkeys(ActionStatus, 0)
        past = sa.case((actions.c.expires_at <= _epoch(now), 1), else_=0).label("past")
        rows = self._read(
            sa.select(actions.c.status, past, sa.func.count().label("n")).group_by(
                actions.c.status, past
            )
        )
        for row in rows:
            status = ActionStatus(row.status)
            if status not in FINAL_STATUSES and row.past:
                status = ActionStatus.EXPIRED
            counts[status] += row.n
        return counts

    def oldest_open_received_at(self, now: datetime) -> datetime | None:
        """When the oldest action still open (taken up by no one, not expired) was received."""
        [row] = self._read(
            sa.select(sa.func.min(actions.c.received_at)).where(
                actions.c.status == ActionStatus.OPEN.value,
                actions.c.expires_at > _epoch(now),
            )
        )
        return None if row[0] is None else _moment(row[0])

    # --- webhook push -------------------------------------------------------------------

    def lease_webhook_deliveries(
        self, now: datetime, lease_until: datetime, limit: int = 20
    ) -> list[StoredAction]:
        """Actions waiting to be pushed whose next attempt is due, leased to the caller.

        Their next attempt moves to ``lease_until``: no other replica pushes them meanwhile,
        and if this one dies they are due again then.
        """
        with self._writing() as connection:
            rows = list(
                connection.execute(
                    sa.select(actions)
                    .where(
                        actions.c.webhook_state == WebhookState.PENDING,
                        actions.c.webhook_next_at <= _epoch(now),
                    )
                    .order_by(actions.c.seq)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if rows:
                connection.execute(
                    sa.update(actions)
                    .where(actions.c.action_id.in_([row.action_id for row in rows]))
                    .values(webhook_next_at=_epoch(lease_until))
                )
            return [_action(row) for row in rows]

    def next_webhook_attempt_at(self) -> datetime | None:
        """When the earliest pending push is due."""
        rows = self._read(
            sa.select(sa.func.min(actions.c.webhook_next_at)).where(
                actions.c.webhook_state == WebhookState.PENDING
            )
        )
        due = rows[0][0] if rows else None
        return _moment(due) if due is not None else None

    def record_webhook_attempt(
        self, action_id: str, state: str, attempts: int, next_at: datetime
    ) -> None:
        """Store the result of one push attempt."""
        with self._writing() as connection:
            connection.execute(
                sa.update(actions)
                .where(actions.c.action_id == action_id)
                .values(
                    webhook_state=state, webhook_attempts=attempts, webhook_next_at=_epoch(next_at)
                )
            )

    # --- import checkpoints -------------------------------------------------------------

    def import_checkpoint(self, file_key: str) -> int:
        """The last line of a file whose events were all acknowledged (0 if none)."""
        rows = self._read(
            sa.select(import_checkpoints.c.line).where(import_checkpoints.c.file_key == file_key)
        )
        return int(rows[0].line) if rows else 0

    def save_import_checkpoint(self, file_key: str, line: int) -> None:
        """Remember that every event up to ``line`` was acknowledged."""
        statement = self._upsert(import_checkpoints).values(file_key=file_key, line=line)
        with self._writing() as connection:
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[import_checkpoints.c.file_key],
                    set_={"line": statement.excluded.line},
                )
            )
