"""``/v1/records``: write, read, version, diff, revert and delete records.

Keys contain slashes (``ranker/int8-dynamic-2026-03``), so every route takes ``{key:path}`` and the
sub-resources are the last path segment: ``/records/{key}/versions``, ``/records/{key}/diff`` and
``/records/{key}/revert`` are matched before the plain record route. The one price: a record
whose key itself ends in ``/versions`` or ``/diff`` cannot be read with ``GET /records/{key}``
(use the CLI or the library); keys from ingest never do.

Concurrency: reads carry ``ETag: "<version>"``; ``PUT``/``DELETE``/revert honour ``If-Match``
(a stale version → 412) and ``PUT`` honours ``If-None-Match: *`` (create only).
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Annotated, Any, NotRequired

from fastapi import APIRouter, Body, Depends, Header, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, with_config

from elephant.answers.write_notes import LinkWarningOut, RaisedRegressionOut, WriteNotesOut, write_notes
from elephant.api.deps import author_for, get_db, get_principal, get_settings_dep
from elephant.api.responses import RecordsPage, VersionsPage
from elephant.api.schemas import RevertIn
from elephant.errors import FieldProblem, InvalidRecord, UsageError
from elephant.facade import DiffOut, Elephant, PutReportOut
from elephant.kinds import KindName
from elephant.records.envelope import validate_record
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKey
from elephant.storage.store import RecordOut, StoredRecord, WriteResult, WriteResultOut


@with_config(ConfigDict(extra="forbid"))
class NotedWriteOut(WriteResultOut):
    """A write's result with its notes, as REST's POST/PUT of one record return it."""

    warnings: NotRequired[list[LinkWarningOut]]
    regressions: NotRequired[list[RaisedRegressionOut]]


@with_config(ConfigDict(extra="forbid"))
class NotedPutReportOut(PutReportOut):
    """A batch write's report with its notes, as ``put --json`` and REST's batch POST return it."""

    warnings: NotRequired[list[LinkWarningOut]]
    regressions: NotRequired[list[RaisedRegressionOut]]


router = APIRouter(prefix="/records", tags=["records"])

KeyPath = Annotated[str, Path(description="the record key; may contain '/'", min_length=1, max_length=512)]
Db = Annotated[Elephant, Depends(get_db)]
Principal = Annotated[ApiKey | None, Depends(get_principal)]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
IfMatch = Annotated[str | None, Header(description='the version you read, as its ETag ("3") or *')]
Message = Annotated[str, Query(max_length=2000, description="why, kept with the new version")]

# Versions are a 32-bit INTEGER column on both backends; a larger number is a 422, not a driver error.
MAX_VERSION = 2**31 - 1
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(db: Elephant, key: str, if_match: str | None) -> int | None:
    """The version ``If-Match`` names: None without the header; ``*`` means the current one."""
    if if_match is None:
        return None
    value = if_match.strip()
    if value == "*":
        return db.get(key).version
    found = _ETAG.match(value)
    if not found:
        raise UsageError(f'If-Match must be a version ETag such as "3" or *, got {value[:40]!r}')
    return int(found.group(1))


def write_response(result: WriteResult, *, location: str | None = None,
                   notes: WriteNotesOut | None = None) -> JSONResponse:
    """The write's result; ``notes`` (``warnings`` on links to missing keys, ``regressions`` raised) beside it."""
    status = 201 if result.status == "created" else 200
    headers = {"ETag": etag(result.version)}
    if location and status == 201:
        headers["Location"] = location
    return JSONResponse({**result.to_dict(), **(notes or {})}, status_code=status, headers=headers)


def summary(rec: StoredRecord) -> dict[str, Any]:
    env = rec.envelope
    source = env.get("source")
    return {"key": rec.key, "version": rec.version, "kind": rec.kind, "title": env.get("title", ""),
            "model": env.get("model"), "occurred_at": env.get("occurred_at"), "recorded_at": rec.recorded_at,
            "tags": env.get("tags", []), "source": source}


# ---------------------------------------------------------------- collection
@router.post("", status_code=201, response_model=NotedWriteOut | NotedPutReportOut,
             responses={200: {"model": NotedWriteOut | NotedPutReportOut,
                              "description": "updated, unchanged, or a batch report"}})
def create_records(
    db: Db, principal: Principal, settings: AppSettings,
    payload: Annotated[dict[str, Any], Body(description="one record envelope, or {\"records\": [...]}")],
    message: Message = "",
) -> Response:
    """Write one record (201 when new, 200 otherwise) or a batch: valid records commit in transactions
    of 500 records and the invalid ones are reported (422 when none is valid)."""
    author = author_for(principal, settings)
    if "records" in payload and "kind" not in payload:
        items = payload["records"]
        if not isinstance(items, list):
            raise InvalidRecord(FieldProblem(field="records", message="must be a list of record envelopes"))
        report = db.put_many(items, author=author, message=message)
        if report.problems and not report.results:
            raise InvalidRecord(report.problems)
        return JSONResponse({**report.to_dict(), **write_notes(db.store, report.results).to_dict()},
                            status_code=200)
    record = validate_record(payload)
    result = db.put(record, author=author, message=message)
    return write_response(result, location=f"/v1/records/{result.key}",
                          notes=write_notes(db.store, [result]).to_dict())


@router.get("", response_model=RecordsPage)
def list_records(
    db: Db,
    kind: Annotated[KindName | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[str | None, Query(max_length=512, description="the `next` cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Current records in key order, filtered by kind and model, a page at a time."""
    rows = db.store.iter_current(kind=kind, model=model)
    if after is not None:
        rows = (r for r in rows if r.key > after)
    page = list(islice(rows, limit + 1))
    more = len(page) > limit
    page = page[:limit]
    return {"records": [summary(r) for r in page], "next": page[-1].key if more else None, "limit": limit}


# ---------------------------------------------------------------- sub-resources (before the plain key route)
@router.get("/{key:path}/versions", response_model=VersionsPage)
def record_versions(
    db: Db, key: KeyPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_VERSION)] = 0,
) -> dict[str, Any]:
    """Every version of a record, oldest first, a page at a time (deletions included)."""
    history = db.history(key)
    return {"key": key, "versions": [v.to_dict() for v in history[offset:offset + limit]],
            "total": len(history), "limit": limit, "offset": offset}


@router.get("/{key:path}/diff", response_model=DiffOut, response_model_by_alias=True)
def record_diff(
    db: Db, key: KeyPath,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=MAX_VERSION,
                                            description="default: the current version")] = None,
) -> JSONResponse:
    """Field-level changes from version ``from`` to version ``to``."""
    if to_version is None:
        to_version = db.history(key)[-1].version
    return JSONResponse(db.diff(key, from_version, to_version).to_dict())


@router.post("/{key:path}/revert", response_model=WriteResultOut)
def revert_record(db: Db, principal: Principal, settings: AppSettings, key: KeyPath, body: RevertIn,
                  if_match: IfMatch = None) -> JSONResponse:
    """Write a new version equal to version ``version`` (reverting to a deletion deletes)."""
    result = db.revert(key, body.version, expected_version=expected_version(db, key, if_match),
                       author=author_for(principal, settings), message=body.message)
    return write_response(result)


# ---------------------------------------------------------------- one record
@router.get("/{key:path}", response_model=RecordOut, responses={304: {"description": "not modified"}})
def get_record(
    db: Db, key: KeyPath,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    as_of: Annotated[str | None, Query(max_length=64, description="ISO-8601: what Elephant knew then")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The current version, version ``version``, or the version current at ``as_of``; ETag is its version."""
    rec = db.get(key, version=version, as_of=as_of)
    tag = etag(rec.version)
    if if_none_match is not None and if_none_match.strip() in (tag, f"W/{tag}", "*"):
        return Response(status_code=304, headers={"ETag": tag})
    return JSONResponse(rec.to_dict(), headers={"ETag": tag})


@router.put("/{key:path}", response_model=NotedWriteOut, status_code=200,
            responses={201: {"model": NotedWriteOut, "description": "created"}})
def put_record(
    db: Db, principal: Principal, settings: AppSettings, key: KeyPath,
    payload: Annotated[dict[str, Any], Body(description="the record envelope; `key` may be left out")],
    if_match: IfMatch = None,
    if_none_match: Annotated[str | None, Header(description="* : create only, 412 if the key exists")] = None,
    message: Message = "",
) -> JSONResponse:
    """Create or update the record at ``key``; with If-Match, only if ``key`` is still at that version."""
    body_key = payload.get("key")
    if body_key is not None and body_key != key:
        raise InvalidRecord(FieldProblem(field="key", key=key,
                                         message=f"the body's key {str(body_key)[:80]!r} differs from the URL's"))
    record = validate_record({**payload, "key": key})
    expected = expected_version(db, key, if_match)
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise UsageError("If-None-Match on PUT accepts only *")
        if expected is not None:
            raise UsageError("send If-Match or If-None-Match, not both")
        expected = 0
    result = db.put(record, expected_version=expected, author=author_for(principal, settings), message=message)
    return write_response(result, location=f"/v1/records/{result.key}",
                          notes=write_notes(db.store, [result]).to_dict())


@router.delete("/{key:path}", response_model=WriteResultOut)
def delete_record(db: Db, principal: Principal, settings: AppSettings, key: KeyPath,
                  if_match: IfMatch = None, message: Message = "") -> JSONResponse:
    """Write a tombstone version; the history stays readable and a later write revives the key."""
    result = db.delete(key, expected_version=expected_version(db, key, if_match),
                       author=author_for(principal, settings), message=message)
    return write_response(result)
