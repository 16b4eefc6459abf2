"""Elephant: the memory of an ML engineering team — typed, versioned records you can search and ask.

    import elephant
    with elephant.open() as db:
        db.put({"kind": "note", "key": "ranker/hello", "title": "Hello"})

This package imports no web, CLI or torch code.
"""

from typing import TYPE_CHECKING, Any

from elephant.errors import (
    Conflict,
    ElephantError,
    ImportConflict,
    InvalidRecord,
    ModelError,
    NotFound,
    UsageError,
)

if TYPE_CHECKING:
    from elephant.client import Client
    from elephant.facade import Elephant, PutReport, open
    from elephant.kinds import KINDS
    from elephant.memory import Memory
    from elephant.records.envelope import Record, validate_record
    from elephant.storage.store import StoredRecord, VersionInfo, WriteResult

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "Client",
    "Conflict",
    "Elephant",
    "ElephantError",
    "ImportConflict",
    "InvalidRecord",
    "Memory",
    "ModelError",
    "NotFound",
    "PutReport",
    "Record",
    "StoredRecord",
    "UsageError",
    "VersionInfo",
    "WriteResult",
    "__version__",
    "open",
    "validate_record",
]

# Loaded on first use, so that importing a light part (``elephant.errors``, ``elephant.settings``) or
# running a CLI command that never opens a store does not pay for SQLAlchemy, pydantic models and
# the store (0.5 s on a 2-core Xeon): `elephant serve` with two workers started 0.45 s sooner.
_LAZY = {"Elephant": "elephant.facade", "PutReport": "elephant.facade", "open": "elephant.facade",
         "KINDS": "elephant.kinds", "Record": "elephant.records.envelope", "validate_record": "elephant.records.envelope",
         "StoredRecord": "elephant.storage.store", "VersionInfo": "elephant.storage.store", "WriteResult": "elephant.storage.store",
         "Client": "elephant.client", "Memory": "elephant.memory"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'elephant' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
