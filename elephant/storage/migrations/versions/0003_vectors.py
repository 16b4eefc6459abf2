"""Chunk vectors in SQL beside their bookkeeping, so the in-process matrix loads without Chroma.

Revision ID: 0003_vectors
Revises: 0002_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_vectors"
down_revision = "0002_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A key's chunk vectors as little-endian float32, chunk after chunk, and the fingerprint of the
    # embedder that made them. A small store then serves every search from SQL and the matrix
    # (Chroma, ~75 MB and 0.4 s to open, is only needed for writes and ANN at scale). Rows written
    # before this revision have NULL here and the matrix loads them from Chroma as before; a
    # `elephant reindex` fills them.
    with op.batch_alter_table("index_chunks") as batch:
        batch.add_column(sa.Column("vectors", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("fingerprint", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("index_chunks") as batch:
        batch.drop_column("fingerprint")
        batch.drop_column("vectors")
