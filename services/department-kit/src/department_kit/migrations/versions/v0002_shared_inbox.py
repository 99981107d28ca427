"""Replicas on one database: a digest beside each accepted event id, a commit-ordered cursor.

* ``accepted_events.body_digest``: SHA-256 of the event's canonical record, so that an id sent
  again with another body is refused (409 ``id_reused``) instead of being answered as a replay.
  Rows from before this revision have none and are answered as replays, as they were.
* ``inbox_sequence``: one row holding the last action cursor handed out. Each new action takes
  the next value under that row's lock, so cursors become visible in the order they were
  committed, even when two replicas store actions at the same time (a reader paging by cursor
  would otherwise skip one committed late with a smaller number).

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the digest column and the cursor row (starting after the actions already stored)."""
    op.add_column("accepted_events", sa.Column("body_digest", sa.Text(), nullable=True))
    op.create_table(
        "inbox_sequence",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO inbox_sequence (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM actions"
    )


def downgrade() -> None:
    """Drop the cursor row and the digests."""
    op.drop_table("inbox_sequence")
    with op.batch_alter_table("accepted_events") as batch:
        batch.drop_column("body_digest")
