"""Lexical index (SQLite FTS5 / PostgreSQL tsvector) and the vector index's chunk bookkeeping.

Revision ID: 0002_index
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_index"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Which version of each key the vector index holds and in how many chunks, so an upsert can drop
    # the chunks a shorter new version no longer has, and a drain can tell what is already indexed.
    op.create_table(
        "index_chunks",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # porter stemming for prose; unicode61 keeps "int8", "p99", "fp16" as single tokens.
        op.execute("CREATE VIRTUAL TABLE lexical_fts USING fts5("
                   "key UNINDEXED, title, text, tokenize = 'porter unicode61')")
    else:
        op.create_table(
            "lexical_docs",
            sa.Column("key", sa.String(512), primary_key=True),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
        )
        op.execute("ALTER TABLE lexical_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
                   "setweight(to_tsvector('english', title), 'A') || to_tsvector('english', text)) STORED")
        op.execute("CREATE INDEX ix_lexical_docs_tsv ON lexical_docs USING gin (tsv)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE lexical_fts")
    else:
        op.drop_table("lexical_docs")
    op.drop_table("index_chunks")
