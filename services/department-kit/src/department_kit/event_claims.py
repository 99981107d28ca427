"""Idempotency of ingest: an event id is claimed, then published, then marked published.

One row per accepted event id (``accepted_events``). A request claims its ids in a short
transaction of its own (:class:`EventClaims`): the row gets the request's claim token, the
body's digest and the moment the claim lapses. The request publishes with no transaction open
and then marks its rows published, with where Kafka stored each event (or gives them back if
Kafka did not acknowledge). Whoever finds a row claimed by another request asks again later:
the holder answers within its publish deadline, or it crashed and the claim lapses and is taken
over. Only then can an id reach the topic twice: the crashed holder may have published it.

The claim and the mark run for every event, so they are sent to the database driver as one
``executemany`` of a statement compiled once (:class:`DriverStatement`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from department_kit.inbox_db import accepted_events

# Ids per statement when many are looked up or given back at once.
CHUNK = 500
# Built once: a statement built per call spends its time on SQLAlchemy's cache key.
_ROWS_OF = sa.select(accepted_events).where(
    accepted_events.c.event_id.in_(sa.bindparam("ids", expanding=True))
)


@dataclass(frozen=True)
class AcceptedEvent:
    """Where Kafka stored an accepted event."""

    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class EventClaim:
    """An event id a request wants to publish, with the digest of its canonical body."""

    event_id: str
    event_type: str
    digest: str


@dataclass(frozen=True)
class PriorEvent:
    """An id someone else holds: accepted before (where it went), or claimed by a request that
    is publishing it (``pending_until`` set: its claim lapses then). ``digest`` is the body's
    (None before revision 0002)."""

    event: AcceptedEvent
    digest: str | None
    pending_until: datetime | None = None


class DriverStatement:
    """A statement compiled once for the engine's dialect and run as the driver's own
    ``executemany``: SQLAlchemy builds every row's parameters in Python (about 10 µs a row
    here, two rows per ingested event), the driver takes them as they are."""

    def __init__(
        self, statement: sa.ClauseElement, dialect: sa.Dialect, columns: Sequence[str] = ()
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        assert isinstance(compiled, SQLCompiler)  # a DML statement's compiler
        self.sql = compiled.string
        self._defaults: dict[str, Any] = dict(compiled.params)
        # qmark (SQLite) takes tuples in this order; pyformat (psycopg) takes the dicts.
        self._positions: Sequence[str] | None = compiled.positiontup

    def run(self, connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> int:
        """Execute once per row; how many rows the database changed."""
        if not rows:
            return 0
        if self._positions is not None:
            order = self._positions
            defaults = self._defaults
            tuples = [tuple(r[k] if k in r else defaults[k] for k in order) for r in rows]
            return connection.exec_driver_sql(self.sql, tuples).rowcount
        return connection.exec_driver_sql(
            self.sql, [{**self._defaults, **r} for r in rows]
        ).rowcount


class ClaimStatements:
    """The per-event statements of one database: claim an id, mark it published."""

    def __init__(self, dialect: sa.Dialect, upsert: Any) -> None:
        # Placeholders until the row is marked published.
        insert = upsert(accepted_events).values(topic="", partition=-1, offset=-1)
        lapsed = sa.and_(
            accepted_events.c.claim_token.is_not(None),
            accepted_events.c.claim_expires_at < sa.bindparam("now"),
        )
        forgotten = sa.and_(
            accepted_events.c.claim_token.is_(None),
            accepted_events.c.accepted_at < sa.bindparam("window_start"),
        )
        taken_over = (
            "event_type",
            "accepted_at",
            "body_digest",
            "claim_token",
            "claim_expires_at",
            "topic",
            "partition",
            "offset",
        )
        self.claim = DriverStatement(
            insert.on_conflict_do_update(
                index_elements=[accepted_events.c.event_id],
                set_={name: insert.excluded[name] for name in taken_over},
                where=sa.or_(forgotten, lapsed),
            ),
            dialect,
            (
                "event_id",
                "event_type",
                "accepted_at",
                "body_digest",
                "claim_token",
                "claim_expires_at",
            ),
        )
        self.mark_published = DriverStatement(
            sa.update(accepted_events)
            .where(
                accepted_events.c.event_id == sa.bindparam("id"),
                accepted_events.c.claim_token == sa.bindparam("token"),
            )
            .values(
                topic=sa.bindparam("t"),
                partition=sa.bindparam("p"),
                offset=sa.bindparam("o"),
                claim_token=None,
                claim_expires_at=None,
            ),
            dialect,
        )


class EventClaims:
    """The claim transaction of one group of requests: claim ids, look at who holds the others,
    give back the claims that will not be published. It commits when the block ends, before
    anything is published; on an exception nothing of it stays."""

    def __init__(
        self,
        connection: sa.Connection,
        statements: ClaimStatements,
        now: datetime,
        lapse: datetime,
    ) -> None:
        self._connection = connection
        self._statements = statements
        self._now = now.timestamp()
        self._lapse = lapse.timestamp()
        # Names this transaction's claims: the request marks or gives back only its own rows.
        self.token = uuid.uuid4().hex
        # Rows the claim read that are not ours (``prior`` answers from them).
        self._others: dict[str, PriorEvent] = {}

    def claim(self, claims: Sequence[EventClaim], window_start: datetime) -> set[str]:
        """Claim the ids free to publish; the ones now ours.

        Free: never seen, accepted before the window (the row is taken over), or claimed by a
        request whose claim lapsed (it crashed or hung). Rows are claimed in id order, so two
        transactions claiming overlapping ids cannot deadlock.
        """
        ordered = sorted(claims, key=lambda c: c.event_id)
        changed = self._statements.claim.run(
            self._connection,
            [
                {
                    "event_id": c.event_id,
                    "event_type": c.event_type,
                    "accepted_at": self._now,
                    "body_digest": c.digest,
                    "claim_token": self.token,
                    "claim_expires_at": self._lapse,
                    "window_start": window_start.timestamp(),
                    "now": self._now,
                }
                for c in ordered
            ],
        )
        if changed == len(ordered):
            # Every row inserted or taken over (the usual case): no need to read them back.
            return {c.event_id for c in ordered}
        ours: set[str] = set()
        for event_id, token, prior in self._rows([c.event_id for c in ordered]):
            if token == self.token:
                ours.add(event_id)
            else:
                self._others[event_id] = prior
        return ours

    def prior(self, event_ids: Sequence[str]) -> dict[str, PriorEvent]:
        """The rows of ids someone else holds (an id missing here was given back meanwhile)."""
        found = {i: self._others[i] for i in event_ids if i in self._others}
        unread = [i for i in event_ids if i not in found]
        found.update((event_id, prior) for event_id, _, prior in self._rows(unread))
        return found

    def release(self, event_ids: Sequence[str]) -> None:
        """Give back claims of this transaction that will not be published after all."""
        release(self._connection, self.token, event_ids)

    def _rows(self, event_ids: Sequence[str]) -> list[tuple[str, str | None, PriorEvent]]:
        rows: list[tuple[str, str | None, PriorEvent]] = []
        for start in range(0, len(event_ids), CHUNK):
            chunk = list(event_ids[start : start + CHUNK])
            for row in self._connection.execute(_ROWS_OF, {"ids": chunk}):
                event = AcceptedEvent(
                    row.event_id, row.event_type, row.topic, row.partition, row.offset
                )
                pending_until = (
                    datetime.fromtimestamp(row.claim_expires_at, UTC)
                    if row.claim_token is not None
                    else None
                )
                rows.append(
                    (
                        row.event_id,
                        row.claim_token,
                        PriorEvent(event, row.body_digest, pending_until),
                    )
                )
        return rows


def mark_published(
    connection: sa.Connection,
    statements: ClaimStatements,
    token: str,
    events: Sequence[AcceptedEvent],
) -> int:
    """Mark claimed ids published, with where Kafka stored them; how many were still ours."""
    return statements.mark_published.run(
        connection,
        [
            {"id": e.event_id, "token": token, "t": e.topic, "p": e.partition, "o": e.offset}
            for e in sorted(events, key=lambda e: e.event_id)
        ],
    )


def release(connection: sa.Connection, token: str, event_ids: Sequence[str]) -> None:
    """Delete the rows of ``event_ids`` still claimed under ``token``."""
    ordered = sorted(event_ids)
    for start in range(0, len(ordered), CHUNK):
        connection.execute(
            sa.delete(accepted_events).where(
                accepted_events.c.event_id.in_(ordered[start : start + CHUNK]),
                accepted_events.c.claim_token == token,
            )
        )
