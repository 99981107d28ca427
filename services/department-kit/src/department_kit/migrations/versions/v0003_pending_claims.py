"""Event ids claimed before they are published: a claim token and its expiry.

An ingest request claims its event ids in a short transaction of their own (the row says who
holds it, ``claim_token``, and until when, ``claim_expires_at``), publishes with no
transaction open, then marks the rows published (both columns back to NULL). Before, the claim
was a row inserted in a transaction held open until Kafka acknowledged: on SQLite that held
the database's write lock across every publish. Rows written before this revision have no
token: they are published ones, as they were.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the claim's holder and expiry (NULL: published)."""
    op.add_column("accepted_events", sa.Column("claim_token", sa.Text(), nullable=True))
    op.add_column("accepted_events", sa.Column("claim_expires_at", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop the claim columns (pending claims then look published: only downgrade when idle)."""
    with op.batch_alter_table("accepted_events") as batch:
        batch.drop_column("claim_expires_at")
        batch.drop_column("claim_token")
