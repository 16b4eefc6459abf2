"""The library's models read back from their JSON: the inverse of each ``to_dict()``, for ``Client``.

Every body is first checked against the model's JSON type (``elephant.models``), so a server that
answers in another shape fails here with a ``StoreError`` naming the model, never later with a
``KeyError`` in the caller's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from elephant.answers.ask import AskOut, AskResponse
from elephant.answers.attempts import AttemptOut
from elephant.answers.brief import Brief, BriefItem, BriefOut, ModelBrief, brief_places
from elephant.answers.context import ContextOut, ContextPack
from elephant.answers.regressions import Finding, FindingOut
from elephant.answers.validtime import BriefAt
from elephant.answers.write_notes import WriteNotesOut
from elephant.errors import FieldProblem, FieldProblemOut, StoreError
from elephant.facade import Diff, DiffOut, PutReport, PutReportOut
from elephant.records.diff import FieldChange
from elephant.retrieval.search import SearchHit, SearchOut, SearchResponse
from elephant.storage.store import (
    RecordOut,
    StoredRecord,
    VersionInfo,
    VersionOut,
    WriteResult,
    WriteResultOut,
)

T = TypeVar("T")
_STORE_FIELDS = ("version", "recorded_at", "content_hash", "author", "message", "deleted")
_BRIEF_ITEM_FIELDS = ("key", "version", "citation", "kind", "title", "occurred_at", "summary")


def checked(json_type: type[T], data: Any) -> T:
    """``data`` as ``json_type`` (a TypedDict of elephant.models); StoreError when the shape differs."""
    try:
        return TypeAdapter(json_type).validate_python(data)
    except ValidationError as exc:
        raise StoreError(f"the server's answer is not a {json_type.__name__}: {exc}") from None


def _without_notes(data: Any) -> Any:
    """A write's JSON without the notes REST adds beside it (``elephant.answers.write_notes``), which the
    library's ``put`` does not return either."""
    if isinstance(data, Mapping):
        return {k: v for k, v in data.items() if k not in WriteNotesOut.__annotations__}
    return data


def write_result(data: Any) -> WriteResult:
    body = checked(WriteResultOut, _without_notes(data))
    return WriteResult(key=body["key"], version=body["version"], status=body["status"],
                       content_hash=body["content_hash"], recorded_at=body["recorded_at"], kind=body["kind"])


def field_problem(body: FieldProblemOut) -> FieldProblem:
    return FieldProblem(field=body["field"], message=body["message"], file=body["file"], key=body["key"],
                        line=body["line"])


def put_report(data: Any) -> PutReport:
    body = checked(PutReportOut, _without_notes(data))
    return PutReport(results=[write_result(r) for r in body["results"]],
                     problems=[field_problem(p) for p in body["problems"]])


def stored_record(data: Any) -> StoredRecord:
    body = checked(RecordOut, data)
    envelope = {k: v for k, v in body.items() if k not in _STORE_FIELDS}
    return StoredRecord(envelope=envelope, version=body["version"], recorded_at=body["recorded_at"],
                        content_hash=body["content_hash"], author=body["author"], message=body["message"],
                        is_deleted=body["deleted"])


def version_info(body: VersionOut) -> VersionInfo:
    return VersionInfo(key=body["key"], version=body["version"], content_hash=body["content_hash"],
                       recorded_at=body["recorded_at"], author=body["author"], message=body["message"],
                       is_deleted=body["deleted"], kind=body["kind"], title=body["title"],
                       occurred_at=body["occurred_at"])


def versions(data: Any) -> list[VersionInfo]:
    return [version_info(v) for v in checked(list[VersionOut], data)]


def diff(data: Any) -> Diff:
    body = checked(DiffOut, data)
    changes = [FieldChange(path=c["path"], change=c["change"], before=c["from"], after=c["to"])
               for c in body["changes"]]
    return Diff(body["key"], body["from"], body["to"], changes, body["from_deleted"], body["to_deleted"])


def search_response(data: Any) -> SearchResponse:
    body = checked(SearchOut, data)
    hits = [SearchHit(key=h["key"], version=h["version"], kind=h["kind"], title=h["title"], model=h["model"],
                      occurred_at=h["occurred_at"], score=h["score"], source_path=h["source"].get("path"),
                      source_anchor=h["source"].get("anchor")) for h in body["results"]]
    return SearchResponse(query=body["query"], results=hits, degraded=body["degraded"], reason=body["reason"])


def _attempt(item: AttemptOut) -> AttemptOut:
    # REST fills a source's missing parts with null (SourceOut's defaults); an attempt names path and anchor.
    source = item["source"]
    if source is None:
        return item
    return {**item, "source": {"path": source.get("path"), "anchor": source.get("anchor")}}


def ask_response(data: Any) -> AskResponse:
    body = checked(AskOut, data)
    return AskResponse(question=body["question"], answer=body["answer"],
                       attempts=[_attempt(a) for a in body["attempts"]],
                       citations=list(body["citations"]), degraded=body["degraded"], reason=body["reason"],
                       found=body["found"], plan=dict(body["plan"]))


def context_pack(data: Any) -> ContextPack:
    body = checked(ContextOut, data)
    return ContextPack(query=body["query"], budget=body["budget"], context=body["context"], tokens=body["tokens"],
                       citations=list(body["citations"]), truncated=body["truncated"], degraded=body["degraded"],
                       tokenizer=body["tokenizer"], model=body["model"], reason=body["reason"])


def _brief_item(data: Mapping[str, Any]) -> BriefItem:
    return BriefItem(key=str(data["key"]), version=int(data["version"]), kind=str(data["kind"]),
                     title=str(data["title"]), occurred_at=data.get("occurred_at"), summary=str(data["summary"]),
                     details={k: v for k, v in data.items() if k not in _BRIEF_ITEM_FIELDS})


def _model_brief(data: Mapping[str, Any]) -> ModelBrief:
    out = ModelBrief(model=str(data["model"]), more_open=int(data.get("more_open") or 0))
    for _kind, place in brief_places():
        value = data.get(place.slot)
        if place.latest:
            if isinstance(value, Mapping):
                item = _brief_item(value)
                out.latest[place.slot] = item
                if place.alarm(item.details):
                    out.alarms.append(place.slot)
        else:
            out.open[place.slot] = [_brief_item(i) for i in value or [] if isinstance(i, Mapping)]
    if data.get("needs_attention") and not out.needs_attention:
        # The JSON says so but carries no open item: a latest record raised the alarm (the slots that have one).
        out.alarms.extend(out.latest)
    return out


def brief(data: Any) -> Brief:
    body = checked(BriefOut, data)
    fields: dict[str, Any] = {"models": [_model_brief(m) for m in body["models"]],
                              "quiet_models": body["quiet_models"], "left_out_models": list(body["left_out_models"]),
                              "budget": body["budget"], "tokens": body["tokens"],
                              # A brief whose Markdown was empty: its budget held not even the line about
                              # what was left out (fit_brief), so it renders empty here too.
                              "fits_nothing": body["tokens"] == 0 and not body["models"]}
    if "at" in body:
        return BriefAt(**fields, at=body["at"])
    return Brief(**fields)


def finding(body: FindingOut) -> Finding:
    """A finding as the server listed it; its record holds what the listing carries (not its hash or time)."""
    listed: dict[str, Any] = {"status": body["status"], "baseline": body["baseline"], "candidate": body["candidate"],
                              "hardware": body["hardware"], "scenario": body["scenario"],
                              "threshold_pct": body["threshold_pct"], "metrics": body["metrics"],
                              "resolution": body["resolution"]}
    fields = {name: value for name, value in listed.items() if value is not None}
    envelope: dict[str, Any] = {"kind": "regression", "key": body["key"], "title": body["title"],
                                "model": body["model"], "occurred_at": body["occurred_at"], "fields": fields}
    return Finding(StoredRecord(envelope={k: v for k, v in envelope.items() if v is not None},
                                version=body["version"], recorded_at="", content_hash=""))


def findings(data: Any) -> list[Finding]:
    return [finding(f) for f in checked(list[FindingOut], data)]
