"""Elephant: the memory of an ML engineering team — typed, versioned records you can search and ask.

    import elephant
    with elephant.open() as db:
        db.put({"kind": "note", "key": "ranker/hello", "title": "Hello"})

This package imports no web, CLI or torch code.
"""

from elephant.errors import (
    Conflict,
    ElephantError,
    ImportConflict,
    InvalidRecord,
    ModelError,
    NotFound,
    UsageError,
)
from elephant.memory import Elephant, PutReport, open
from elephant.records import KINDS, Record, validate_record
from elephant.store import StoredRecord, VersionInfo, WriteResult

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "Conflict",
    "Elephant",
    "ElephantError",
    "ImportConflict",
    "InvalidRecord",
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


def __getattr__(name: str) -> object:
    # The HTTP client needs httpx: load it on first use so `import elephant` stays light.
    if name == "Client":
        from elephant.client import Client

        return Client
    raise AttributeError(f"module 'elephant' has no attribute {name!r}")
