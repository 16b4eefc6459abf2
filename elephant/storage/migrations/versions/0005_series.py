"""Benchmarks carry their series (model, hardware, scenario) in an indexed column of ``heads``, so a
regression check finds its baseline by an index range instead of reading every benchmark of the model
(the bulk write path makes one check per benchmark written).

Revision ID: 0005_series
Revises: 0004_parked_jobs
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005_series"
down_revision = "0004_parked_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from elephant.kinds.benchmark import series_key

    with op.batch_alter_table("heads") as batch:
        batch.add_column(sa.Column("series", sa.String(256), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT key, envelope FROM heads WHERE kind = 'benchmark'")).all()
    values = [{"k": key, "s": series_key(json.loads(envelope))} for key, envelope in rows]
    values = [v for v in values if v["s"] is not None]
    if values:
        conn.execute(sa.text("UPDATE heads SET series = :s WHERE key = :k"), values)
    # Newest first within a series: occurred_at, then recorded_at for ties and undated benchmarks.
    op.create_index("ix_heads_series", "heads", ["series", "occurred_at", "recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_heads_series", "heads")
    with op.batch_alter_table("heads") as batch:
        batch.drop_column("series")
