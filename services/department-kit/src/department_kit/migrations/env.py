"""Alembic's entry point for the inbox database: run by :func:`department_kit.store.migrate`.

The caller hands over an open connection (``config.attributes["connection"]``); there is no
alembic.ini. On PostgreSQL a transaction-scoped advisory lock makes replicas that start at the
same moment run the migrations one after the other (the second finds nothing left to do).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

# Any fixed number: it names the lock "inbox migrations" among the database's advisory locks.
MIGRATION_LOCK_KEY = 7_014_001


def run_migrations_online() -> None:
    """Upgrade on the connection the caller opened."""
    connection: Connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


run_migrations_online()
