"""Response and request models: the JSON the routes return, which is the library's ``to_dict()`` form
(the same the CLI prints with ``--json``). They document the OpenAPI schema; the routes build their
bodies from ``to_dict()`` and the schemathesis suite checks the two agree."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Problem(_Out):
    """``application/problem+json`` (RFC 9457) plus ``error``, the library's error class."""

    type: str
    title: str
    status: int
    detail: str
    error: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="bad fields: {field, message, ...}")


class FieldProblemOut(_Out):
    field: str
    message: str
    file: str | None = None
    key: str | None = None


class WriteResultOut(_Out):
    key: str
    version: int
    status: Literal["created", "updated", "unchanged", "deleted", "reverted"]
    content_hash: str
    recorded_at: str
    kind: str


class PutReportOut(_Out):
    ok: bool
    counts: dict[str, int]
    results: list[WriteResultOut]
    problems: list[FieldProblemOut]


class SourceOut(_Out):
    path: str | None = None
    anchor: str | None = None
    root: str | None = None


class RecordOut(_Out):
    """The envelope plus what the store knows about this version."""

    kind: str
    key: str
    title: str
    model: str | None = None
    model_version: str | None = None
    occurred_at: str | None = None
    tags: list[str] | None = None
    links: list[dict[str, Any]] | None = None
    body: str | None = None
    fields: dict[str, Any] | None = None
    source: SourceOut | None = None
    version: int
    recorded_at: str
    content_hash: str
    author: str
    message: str
    deleted: bool


class VersionOut(_Out):
    key: str
    version: int
    content_hash: str
    recorded_at: str
    author: str
    message: str
    deleted: bool
    kind: str
    title: str
    occurred_at: str | None = None


class VersionsPage(_Out):
    key: str
    versions: list[VersionOut]
    total: int
    limit: int
    offset: int


class FieldChangeOut(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    path: str
    change: Literal["added", "removed", "changed"]
    from_: Any = Field(default=None, alias="from")
    to: Any = None


class DiffOut(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    key: str
    from_: int = Field(alias="from")
    to: int
    from_deleted: bool
    to_deleted: bool
    changes: list[FieldChangeOut]


class RecordSummary(_Out):
    key: str
    version: int
    kind: str
    title: str
    model: str | None = None
    occurred_at: str | None = None
    recorded_at: str
    tags: list[str] = Field(default_factory=list)
    source: SourceOut | None = None


class RecordsPage(_Out):
    records: list[RecordSummary]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")
    limit: int


class RevertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1, description="the version whose content becomes the new current version")
    message: str = Field(default="", max_length=2000)


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    kind: str | None = None
    model: str | None = None
    tags: list[str] | None = None
    since: str | None = None
    until: str | None = None
    where: list[str] | None = Field(default=None, description="numeric filters, e.g. 'latency_ms.p99 < 40'")
    k: int = Field(default=10, ge=1, le=200)


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000)
    model: str | None = None
    k: int = Field(default=10, ge=1, le=100, description="search hits considered besides the model's attempts")


class ContextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    budget: int = Field(default=500, ge=1, le=100_000, description="token budget of the block")
    model: str | None = None


class SearchHit(_Out):
    key: str
    version: int
    kind: str
    title: str
    model: str | None = None
    occurred_at: str | None = None
    score: float
    source: SourceOut | None = None


class SearchOut(_Out):
    results: list[SearchHit]
    degraded: bool


class Attempt(SearchHit):
    outcome: str | None = None


class AskOut(_Out):
    question: str
    answer: str
    attempts: list[Attempt]
    citations: list[str]
    degraded: bool
    reason: str | None = Field(default=None, description="why the answer is degraded; null when it is not")
    found: bool = Field(default=True, description="false when nothing answers: never tried, none open, unknown model")
    plan: dict[str, Any] = Field(default_factory=dict, description="the typed query plan the answer came from")


class ContextOut(_Out):
    """The Markdown block for an agent's prompt, with its citations and token count."""

    context: str
    tokens: int
    budget: int
    citations: list[str]
    degraded: bool
    reason: str | None = Field(default=None, description="why the pack is degraded; null when it is not")


class BriefOut(_Out):
    """Per model: latest serving config and benchmark, open regressions and incidents, features in drift."""

    models: list[dict[str, Any]]
    citations: list[str]
    quiet_models: int = 0  # models with nothing needing attention, left out unless ?all=true
    left_out_models: list[str] = []  # models needing attention that did not fit the budget
    budget: int | None = None
    tokens: int | None = None
    truncated: bool = False


class RegressionsOut(_Out):
    """Regression findings, each with both sets of numbers."""

    regressions: list[dict[str, Any]]


class IngestOut(_Out):
    """The ingest report, as ``elephant ingest --json`` prints it."""


class Health(_Out):
    status: Literal["ok"]


class Readiness(_Out):
    status: Literal["ready", "degraded", "unavailable"]
    checks: dict[str, str]


class ApiKeyOut(_Out):
    id: str
    name: str
    scope: Literal["read", "write", "admin"]
    created_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None
    active: bool


class CreatedKeyOut(ApiKeyOut):
    key: str = Field(description="the secret; shown only in this response")


class KeysOut(_Out):
    keys: list[ApiKeyOut]


class KeyCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["read", "write", "admin"]
    name: str = Field(default="", max_length=200)
