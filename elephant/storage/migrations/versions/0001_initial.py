"""Versioned records, current heads, index outbox, ingest file hashes, API keys, idempotency.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.String(32)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "versions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("is_tombstone", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("occurred_at", TS),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.UniqueConstraint("key", "version", name="uq_versions_key_version"),
    )
    op.create_index("ix_versions_key_recorded", "versions", ["key", "recorded_at"])
    op.create_table(
        "heads",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("is_deleted", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("occurred_at", TS),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("source_root", sa.String(1024)),
        sa.Column("source_path", sa.String(1024)),
        sa.Column("envelope", sa.Text, nullable=False),
    )
    op.create_index("ix_heads_model", "heads", ["model"])
    op.create_index("ix_heads_kind", "heads", ["kind"])
    op.create_index("ix_heads_occurred", "heads", ["occurred_at"])
    op.create_index("ix_heads_source", "heads", ["source_root", "source_path"])
    op.create_table(
        "outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "ingested_files",
        sa.Column("root", sa.String(1024), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("parser", sa.String(64), nullable=False),
        sa.Column("keys", sa.Text, nullable=False),
        sa.Column("ingested_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.Column("last_used_at", TS),
    )
    op.create_table(
        "idempotency",
        sa.Column("idem_key", sa.String(200), primary_key=True),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("idempotency", "api_keys", "ingested_files", "outbox", "heads", "versions"):
        op.drop_table(table)
