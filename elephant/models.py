"""The typed results of the library, in one place: what ``Elephant`` and ``Client`` return, and their JSON.

Each model is a dataclass in the layer that makes it; ``to_dict()`` returns its JSON form, a ``TypedDict``
named ``<Model>Out``. The REST API declares those same TypedDicts as its response models (and forbids
keys they lack), the CLI prints ``to_dict()`` with ``--json``, and MCP returns it as structured content,
so a field added to a model and not to its JSON type fails the type check and the API tests instead of
reaching users unnoticed (docs/design.md §2).

    model            made by                          JSON
    WriteResult      put, delete, revert              WriteResultOut
    PutReport        put_many, put_files              PutReportOut
    StoredRecord     get                              RecordOut
    VersionInfo      history                          VersionOut
    Diff             diff                             DiffOut
    SearchResponse   search                           SearchOut (SearchHitOut per hit)
    AskResponse      ask                              AskOut (AttemptOut per attempt)
    Brief            brief                            BriefOut
    ContextPack      context                          ContextOut
    Finding          regressions                      FindingOut
    IndexStatus      index_status                     (a TypedDict itself)
    ImportReport     import_                          (a TypedDict itself)
"""

from __future__ import annotations

from elephant.answers.ask import AskOut, AskResponse
from elephant.answers.attempts import AttemptOut
from elephant.answers.brief import Brief, BriefItem, BriefOut, ModelBrief
from elephant.answers.context import ContextOut, ContextPack
from elephant.answers.regressions import Finding, FindingOut
from elephant.errors import FieldProblem, FieldProblemOut
from elephant.facade import Diff, DiffOut, IndexStatus, IngestResult, PutReport, PutReportOut
from elephant.records.diff import FieldChange, FieldChangeOut
from elephant.records.envelope import SourceOut
from elephant.retrieval.indexer import DrainReport, ParkedJob
from elephant.retrieval.search import SearchHit, SearchHitOut, SearchOut, SearchResponse
from elephant.storage.apikeys import ApiKey, ApiKeyOut, CreatedKey, CreatedKeyOut
from elephant.storage.archive import ImportReport
from elephant.storage.store import (
    RecordOut,
    StoredRecord,
    VersionInfo,
    VersionOut,
    WriteResult,
    WriteResultOut,
)

__all__ = [
    "ApiKey",
    "ApiKeyOut",
    "AskOut",
    "AskResponse",
    "AttemptOut",
    "Brief",
    "BriefItem",
    "BriefOut",
    "ContextOut",
    "ContextPack",
    "CreatedKey",
    "CreatedKeyOut",
    "Diff",
    "DiffOut",
    "DrainReport",
    "FieldChange",
    "FieldChangeOut",
    "FieldProblem",
    "FieldProblemOut",
    "Finding",
    "FindingOut",
    "ImportReport",
    "IndexStatus",
    "IngestResult",
    "ModelBrief",
    "ParkedJob",
    "PutReport",
    "PutReportOut",
    "RecordOut",
    "SearchHit",
    "SearchHitOut",
    "SearchOut",
    "SearchResponse",
    "SourceOut",
    "StoredRecord",
    "VersionInfo",
    "VersionOut",
    "WriteResult",
    "WriteResultOut",
]
