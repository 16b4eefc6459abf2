"""SQL tables (SQLAlchemy Core). The migrations in ``elephant/storage/migrations`` create them; this module
describes them for queries. Timestamps are fixed-width UTC text (see ``timeutil``) so that ordering
and as-of reads behave identically on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

TS = String(32)

# Every version of every record; rows are never updated or deleted.
versions = Table(
    "versions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("recorded_at", TS, nullable=False),
    Column("author", String(200), nullable=False, default=""),
    Column("message", Text, nullable=False, default=""),
    Column("is_tombstone", Boolean, nullable=False, default=False),
    Column("kind", String(40), nullable=False),
    Column("model", String(200)),
    Column("title", Text, nullable=False),
    Column("occurred_at", TS),
    Column("envelope", Text, nullable=False),
    UniqueConstraint("key", "version", name="uq_versions_key_version"),
    Index("ix_versions_key_recorded", "key", "recorded_at"),
)

# The current version of each key, denormalised for filtering and fast reads.
heads = Table(
    "heads",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("is_deleted", Boolean, nullable=False, default=False),
    Column("kind", String(40), nullable=False),
    Column("model", String(200)),
    Column("title", Text, nullable=False),
    Column("occurred_at", TS),
    Column("recorded_at", TS, nullable=False),
    Column("tags", Text, nullable=False, default="[]"),
    Column("source_root", String(1024)),
    Column("source_path", String(1024)),
    Column("envelope", Text, nullable=False),
    # Since 0005_series: a benchmark's (model, hardware, scenario), for its regression check's baseline.
    Column("series", String(256)),
    Index("ix_heads_model", "model"),
    Index("ix_heads_kind", "kind"),
    Index("ix_heads_occurred", "occurred_at"),
    Index("ix_heads_source", "source_root", "source_path"),
    Index("ix_heads_series", "series", "occurred_at", "recorded_at"),
)

# Index jobs, written in the same transaction as the version they describe (docs/design.md §5).
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False),
    Column("version", Integer, nullable=False),
    Column("op", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    # Since 0004_parked_jobs: failed attempts, the earliest time of the next one, the last failure.
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS),
    Column("last_error", Text),
    sqlite_autoincrement=True,  # ids are never reused (a drain deletes the jobs it read by id)
)

# Jobs that failed every attempt (a dead letter each), with the reason; see 0004_parked_jobs.
outbox_parked = Table(
    "outbox_parked",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False),
    Column("key", String(512), nullable=False),
    Column("version", Integer, nullable=False),
    Column("op", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("parked_at", TS, nullable=False),
    Index("ix_outbox_parked_key", "key"),
)

# What `ingest` saw last time per source file, so an unchanged file is skipped before parsing.
ingested_files = Table(
    "ingested_files",
    metadata,
    Column("root", String(1024), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("parser", String(64), nullable=False, default=""),
    Column("keys", Text, nullable=False, default="[]"),
    Column("ingested_at", TS, nullable=False),
)

# API keys for the REST server: only a hash of each secret is stored.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("scope", String(16), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("last_used_at", TS),
)

# Responses remembered per Idempotency-Key so a retried POST does not write twice.
idempotency = Table(
    "idempotency",
    metadata,
    Column("idem_key", String(200), primary_key=True),
    Column("principal", String(64), nullable=False, default=""),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", TS, nullable=False),
)

# Created by migration 0002_index: how many chunks of which version each key has in the vector index.
index_chunks = Table(
    "index_chunks", metadata,
    Column("key", String(512), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("generation", BigInteger, nullable=False),
    # Since 0003_vectors: the chunk vectors (float32, chunk after chunk) and the embedder that made them.
    Column("vectors", LargeBinary, nullable=True),
    Column("fingerprint", String(200), nullable=True),
)
index_state = Table(
    "index_state", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Since 0006_head_numbers: every finite number under a live head's ``fields`` (path "fields.latency_ms.p99"),
# so that search's numeric conditions are index ranges, not JSON scans of every head.
head_numbers = Table(
    "head_numbers", metadata,
    Column("key", String(512), nullable=False),
    Column("path", String(512), nullable=False),
    Column("value", Float, nullable=False),
    # Covering (since 0007): a condition's keys are read from the index alone.
    Index("ix_head_numbers_path_value_key", "path", "value", "key"),
    Index("ix_head_numbers_key", "key"),
)
