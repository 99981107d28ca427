"""The inbox database: which URLs are accepted, the engine for one, its tables and migrations.

SQLite (``sqlite:///<path>``, the embedded default) and PostgreSQL (``postgresql://...``,
shared by replicas of one department) are reached through SQLAlchemy Core: the store's queries
are written once for both. What differs lives here: SQLite's connection pragmas and how a
transaction begins, and which ``INSERT ... ON CONFLICT`` construct the dialect has.
The schema is versioned by Alembic (``department_kit/migrations``) and brought to the latest
revision when the store opens.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in MIGRATIONS (a unit test holds them equal): a schema already there is
# not handed to Alembic, whose import is a good part of a service's start.
HEAD_REVISION = "0003"
# The driver used for postgresql:// URLs (psycopg 3).
POSTGRESQL_DRIVER = "postgresql+psycopg"
# How long a SQLite writer waits for another connection's transaction before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# How often a connection asks again to switch a SQLite file to WAL while another holds it.
SQLITE_WAL_RETRY_S = 0.01
# Execution options the store sets on a connection (read by the SQLite begin hook).
WRITING = "lifecycle_writing"
DURABILITY = "lifecycle_durability"

_MIGRATING = threading.Lock()

metadata = sa.MetaData()
actions = sa.Table(
    "actions",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("action_id", sa.Text, nullable=False, unique=True),
    sa.Column("action_type", sa.Text, nullable=False),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("priority", sa.Text, nullable=False),
    sa.Column("deadline", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("outcome_record", sa.Text),
    sa.Column("outcome_at", sa.Float),
    sa.Column("webhook_state", sa.Text, nullable=False),
    sa.Column("webhook_attempts", sa.Integer, nullable=False),
    sa.Column("webhook_next_at", sa.Float, nullable=False),
)
accepted_events = sa.Table(
    "accepted_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("accepted_at", sa.Float, nullable=False),
    sa.Column("body_digest", sa.Text),
    # Set while the id is claimed and not yet published (revision 0003): who holds it, until when.
    sa.Column("claim_token", sa.Text),
    sa.Column("claim_expires_at", sa.Float),
)
import_checkpoints = sa.Table(
    "import_checkpoints",
    metadata,
    sa.Column("file_key", sa.Text, primary_key=True),
    sa.Column("line", sa.Integer, nullable=False),
)
inbox_sequence = sa.Table(
    "inbox_sequence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)


class InboxUrlError(ValueError):
    """``DEPARTMENT_INBOX_URL`` is not a database URL the service can use."""


def parse_inbox_url(url: str) -> URL:
    """The SQLAlchemy URL of ``sqlite:///<path>`` or ``postgresql://...``; raises
    :class:`InboxUrlError` (naming no password) for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InboxUrlError(
            "not a database URL: use sqlite:///<path> or postgresql://user:password@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername != "sqlite" or not parsed.database or parsed.database == ":memory:":
            raise InboxUrlError("a SQLite inbox is sqlite:///<path of a file>")
        return parsed
    if backend == "postgresql":
        if parsed.drivername not in ("postgresql", POSTGRESQL_DRIVER):
            raise InboxUrlError(f"PostgreSQL is reached with psycopg: use {POSTGRESQL_DRIVER}://")
        if not parsed.database:
            raise InboxUrlError("a PostgreSQL inbox URL names its database: .../<database>")
        return parsed.set(drivername=POSTGRESQL_DRIVER)
    raise InboxUrlError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def create_inbox_engine(url: str) -> sa.Engine:
    """An engine for the inbox at ``url`` (pooled; safe to share between threads)."""
    parsed = parse_inbox_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # pool_pre_ping: a connection the server closed (a restart, a failover) is replaced
    # instead of failing the next request.
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _configure_sqlite(engine: sa.Engine) -> None:
    """WAL, a busy timeout, and transactions begun by us (pysqlite's own begin is deferred
    and late): a write transaction takes the write lock at once (``BEGIN IMMEDIATE``), so two
    writers queue instead of failing on a lock upgrade."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        options = connection.get_execution_options()
        # FULL unless the store asks for less (a Literal of the store, never input).
        durability = "NORMAL" if options.get(DURABILITY) == "NORMAL" else "FULL"
        # The setting stays with the database connection: set only when it changes (a
        # statement less on every ingest transaction).
        if connection.info.get(DURABILITY) != durability:
            connection.exec_driver_sql(f"PRAGMA synchronous={durability}")
            connection.info[DURABILITY] = durability
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITING) else "BEGIN")


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode (kept in the file: later connections find it so).

    The switch takes the file's exclusive lock and SQLite does not wait for it (no busy
    handler): two connections opening a new file at once, two replicas starting or a pool's
    first connections, had one fail at once with "database is locked". It waits here as long
    as a writer would, until the other has switched the file.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(SQLITE_WAL_RETRY_S)


def upsert_of(engine: sa.Engine) -> Callable[[sa.Table], Any]:
    """The dialect's ``INSERT ... ON CONFLICT`` builder (the same API for both databases)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the latest revision (a no-op when it is there)."""
    if current_revision(engine) == HEAD_REVISION:
        return
    # Imported here: only a schema behind the code needs Alembic.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # On SQLite the write lock is taken first: two processes starting at once migrate in turn.
    # Within a process, Alembic's `context` is a module global: one migration at a time.
    with _MIGRATING, engine.connect().execution_options(**{WRITING: True}) as connection:
        connection.begin()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


def current_revision(engine: sa.Engine) -> str | None:
    """The schema's revision (None before the first migration)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        return str(revision) if revision is not None else None
