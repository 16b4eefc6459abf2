"""Alembic environment: runs on the connection Elephant hands over in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from elephant.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - Elephant always passes its own connection
    raise RuntimeError("Elephant migrations run through elephant.storage.db.migrate(), not the alembic CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
