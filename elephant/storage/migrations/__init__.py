"""Alembic migrations, applied on open (``elephant.storage.db.migrate``)."""
