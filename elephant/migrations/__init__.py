"""Alembic migrations, applied on open (``elephant.db.open_engine``)."""
