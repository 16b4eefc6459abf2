"""The HTTP-only response shapes: pages, problems and probes, built from the library's own JSON types.

Every record, result and answer a route returns is a library model's ``to_dict()``, declared with its
TypedDict from ``elephant.models``; this module holds only what exists because of HTTP (a page of a
list, an error body, a probe) and composes those TypedDicts, so the library stays the one definition.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from elephant.models import ApiKeyOut, FindingOut, SourceOut, VersionOut


class _Page(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """``application/problem+json`` (RFC 9457) plus ``error``, the library's error class."""

    model_config = ConfigDict(extra="allow")  # an error's details travel as extra members

    type: str
    title: str
    status: int
    detail: str
    error: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="bad fields: {field, message, ...}")


class VersionsPage(_Page):
    key: str
    versions: list[VersionOut]
    total: int
    limit: int
    offset: int


class RecordSummary(_Page):
    key: str
    version: int
    kind: str
    title: str
    model: str | None = None
    occurred_at: str | None = None
    recorded_at: str
    tags: list[str] = Field(default_factory=list)
    source: SourceOut | None = None


class RecordsPage(_Page):
    records: list[RecordSummary]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")
    limit: int


class RegressionsOut(_Page):
    """Regression findings, each with both sets of numbers."""

    regressions: list[FindingOut]


class KeysOut(_Page):
    keys: list[ApiKeyOut]


class IngestOut(BaseModel):
    """The ingest report, as ``elephant ingest --json`` prints it."""

    model_config = ConfigDict(extra="allow")  # the installed ingestor's report (elephant.facade.IngestResult)


class Health(_Page):
    status: Literal["ok"]


class Readiness(_Page):
    status: Literal["ready", "degraded", "unavailable"]
    checks: dict[str, str]
