"""Index jobs that keep failing are retried with backoff, then parked with their reason; outbox ids
are never reused on SQLite.

Revision ID: 0004_parked_jobs
Revises: 0003_vectors
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_parked_jobs"
down_revision = "0003_vectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Attempts so far, when the next may run, and why the last failed. A failing job waits out its
    # backoff while the jobs behind it proceed (one bad record used to block the whole index).
    # On SQLite the table is rebuilt with AUTOINCREMENT: a plain INTEGER PRIMARY KEY reuses the
    # highest id once the outbox empties, and a drain that read the old job then deleted the new one.
    with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.String(32), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text, nullable=True))
    # Dead letters: jobs that failed every attempt, kept with the reason until the key is written
    # again and indexes, or `elephant reindex` queues every key afresh.
    op.create_table(
        "outbox_parked",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("parked_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_outbox_parked_key", "outbox_parked", ["key"])


def downgrade() -> None:
    op.drop_index("ix_outbox_parked_key", "outbox_parked")
    op.drop_table("outbox_parked")
    with op.batch_alter_table("outbox", recreate="always") as batch:
        batch.drop_column("last_error")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
