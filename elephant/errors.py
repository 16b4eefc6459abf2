"""Elephant's domain errors, in one place.

The library raises these; adapters map them to exit codes (CLI) and HTTP statuses (REST).

    ElephantError                  base; ``exit_code`` 1, ``http_status`` 500
    ├── UsageError                 the caller asked for something malformed (exit 2, HTTP 400)
    ├── InvalidRecord              a record failed validation: file, key and field path (HTTP 422)
    │   ├── BatchInvalid           several records of one call failed validation
    │   └── UnknownKind            a kind the registry (elephant.kinds) does not hold
    ├── InvalidInput               a parameter no record holds (a query, a key to read) is unusable (HTTP 422)
    ├── NotFound                   no such key or version (HTTP 404)
    ├── Conflict                   a write named a version that is no longer current (HTTP 412)
    ├── ImportConflict             import would overwrite existing keys (HTTP 409)
    ├── AuthError                  missing or unknown API key (HTTP 401)
    │   └── Forbidden              the key's scope does not allow this (HTTP 403)
    ├── ModelError                 the embedding model is missing, corrupt or mismatched (HTTP 503)
    ├── IndexUnavailable           the vector index cannot be used (HTTP 503)
    │   └── FingerprintMismatch    the index was built with another embedder: reindex
    └── StoreError                 the database refused or failed (HTTP 503)
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from typing_extensions import TypedDict


class ElephantError(Exception):
    """Base of every error Elephant raises on purpose."""

    exit_code = 1
    http_status = 500
    title = "Elephant error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **self.details}


class UsageError(ElephantError):
    exit_code = 2
    http_status = 400
    title = "Bad request"


class FieldProblemOut(TypedDict):
    """A ``FieldProblem`` as JSON."""

    file: str | None
    line: int | None
    key: str | None
    field: str
    message: str


# What pydantic's ``with_config(ConfigDict(extra="forbid"))`` sets, written out: `import elephant` loads
# this module, and importing pydantic here would triple its time (0.07 → 0.35 s measured).
FieldProblemOut.__pydantic_config__ = {"extra": "forbid"}  # type: ignore[attr-defined]


@dataclass
class FieldProblem:
    """One validation failure: where (file, key, field path) and what."""

    field: str
    message: str
    file: str | None = None
    key: str | None = None
    extra: dict[str, Any] = dataclass_field(default_factory=dict)
    line: int | None = None  # in ``file``, where the record file's YAML holds the field (or the record)

    def describe(self) -> str:
        """``file:line: record KEY: field PATH: message``, leaving out the parts that are not known."""
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        parts = [where, f"record {self.key}" if self.key else None, f"field {self.field}" if self.field else None]
        return ": ".join([*(p for p in parts if p), self.message])

    def to_dict(self) -> FieldProblemOut:
        return {"file": self.file, "line": self.line, "key": self.key, "field": self.field, "message": self.message}


class InvalidRecord(ElephantError):
    http_status = 422
    title = "Invalid record"

    def __init__(self, problems: list[FieldProblem] | FieldProblem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(p.describe() for p in self.problems))

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message,
                "problems": [p.to_dict() for p in self.problems]}


class BatchInvalid(InvalidRecord):
    title = "Invalid records"


class UnknownKind(InvalidRecord):
    """A record kind that ``elephant.kinds`` does not hold: every kind-specific part is looked up, never guessed."""

    def __init__(self, kind: object, known: tuple[str, ...]) -> None:
        self.kind = kind
        super().__init__(FieldProblem(field="kind", message=f"unknown kind {kind!r}; expected one of {', '.join(known)}"))


class InvalidInput(ElephantError):
    """A parameter (search text, a key to read, a message) that cannot be used: NUL, a lone surrogate,
    too long. Exit 1 and HTTP 422, like an invalid record, with the parameter's name."""

    http_status = 422
    title = "Invalid input"

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}", parameter=parameter)


class NotFound(ElephantError):
    http_status = 404
    title = "Not found"


class Conflict(ElephantError):
    http_status = 412
    title = "Version conflict"


class ImportConflict(ElephantError):
    http_status = 409
    title = "Import conflict"


class AuthError(ElephantError):
    http_status = 401
    title = "Unauthorized"


class Forbidden(AuthError):
    http_status = 403
    title = "Forbidden"


class ModelError(ElephantError):
    http_status = 503
    title = "Embedding model unavailable"


class IndexUnavailable(ElephantError):
    http_status = 503
    title = "Vector index unavailable"


class FingerprintMismatch(IndexUnavailable):
    title = "Embedding model does not match the index"


class StoreError(ElephantError):
    http_status = 503
    title = "Store unavailable"
