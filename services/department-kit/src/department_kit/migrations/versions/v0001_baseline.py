"""The inbox as it was before versioned migrations: actions, accepted events, checkpoints.

``if_not_exists`` everywhere: a SQLite inbox made by an earlier release already has these
tables and is adopted as revision 0001 as it is.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

# SQLite: INTEGER PRIMARY KEY is the rowid; elsewhere a 64-bit key.
SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the three tables and their indexes when missing."""
    op.create_table(
        "actions",
        sa.Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
        sa.Column("action_id", sa.Text(), nullable=False, unique=True),
        sa.Column("action_type", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("outcome_record", sa.Text()),
        sa.Column("outcome_at", sa.Float()),
        sa.Column("webhook_state", sa.Text(), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("webhook_next_at", sa.Float(), nullable=False, server_default="0"),
        sqlite_autoincrement=True,
        if_not_exists=True,
    )
    op.create_index("actions_by_status", "actions", ["status", "seq"], if_not_exists=True)
    op.create_index(
        "actions_by_webhook", "actions", ["webhook_state", "webhook_next_at"], if_not_exists=True
    )
    op.create_table(
        "accepted_events",
        sa.Column("event_id", sa.Text(), primary_key=True),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("accepted_at", sa.Float(), nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "accepted_events_by_time", "accepted_events", ["accepted_at"], if_not_exists=True
    )
    op.create_table(
        "import_checkpoints",
        sa.Column("file_key", sa.Text(), primary_key=True),
        sa.Column("line", sa.Integer(), nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    """Drop everything (the inbox is lost)."""
    op.drop_table("import_checkpoints")
    op.drop_table("accepted_events")
    op.drop_table("actions")
