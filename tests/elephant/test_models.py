"""The library's typed models and their JSON types agree (elephant.models): a key added to a ``to_dict()``
and not to its ``...Out`` TypedDict, or the other way round, fails here, before REST or MCP serialises it."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

import elephant
from elephant import models

# model class -> its JSON type, as elephant/models.py lists them
PAIRS = [
    (models.WriteResult, models.WriteResultOut), (models.PutReport, models.PutReportOut),
    (models.StoredRecord, models.RecordOut), (models.VersionInfo, models.VersionOut),
    (models.Diff, models.DiffOut), (models.FieldChange, models.FieldChangeOut),
    (models.FieldProblem, models.FieldProblemOut), (models.SearchHit, models.SearchHitOut),
    (models.SearchResponse, models.SearchOut), (models.AskResponse, models.AskOut),
    (models.Brief, models.BriefOut), (models.ContextPack, models.ContextOut), (models.Finding, models.FindingOut),
    (models.ApiKey, models.ApiKeyOut), (models.CreatedKey, models.CreatedKeyOut),
]


@pytest.mark.parametrize(("model", "out"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_to_dict_is_declared_with_its_json_type(model: type, out: type) -> None:
    hints = typing.get_type_hints(model.to_dict, vars(models))
    assert hints["return"] is out


def _check(out: type, value: Any) -> None:
    """Every key of ``value`` is declared (the JSON types forbid others) and every required one is there."""
    TypeAdapter(out).validate_python(value)


def test_every_result_of_a_real_memory_matches_its_json_type(tmp_path) -> None:
    bench = {"kind": "benchmark", "model": "ranker", "fields": {"hardware": "c6i", "scenario": "server",
                                                               "throughput_qps": 400}}
    with elephant.open(tmp_path / "home") as db:
        first = db.put({**bench, "key": "ranker/b1", "title": "bench one", "occurred_at": "2026-03-01",
                        "fields": {**bench["fields"], "latency_ms": {"p50": 10, "p99": 40}}})
        db.put({**bench, "key": "ranker/b2", "title": "bench two", "occurred_at": "2026-03-05",
                "fields": {**bench["fields"], "latency_ms": {"p50": 20, "p99": 80}},
                "source": {"path": "bench/b2.json", "root": "runs"}})
        report = db.put_many([{"kind": "note", "key": "ranker/n", "title": "n", "model": "ranker"}, {"kind": "x"}])
        db.put({"kind": "optimization", "key": "ranker/int8", "title": "INT8 quantization of the ranker",
                "model": "ranker", "occurred_at": "2026-03-03",
                "fields": {"technique": "quantization_int8", "status": "rejected"}})
        _check(models.WriteResultOut, first.to_dict())
        _check(models.PutReportOut, report.to_dict())
        assert report.problems  # the refused record is in the report, so FieldProblemOut is exercised
        _check(models.RecordOut, db.get("ranker/b2").to_dict())
        for version in db.history("ranker/b1"):
            _check(models.VersionOut, version.to_dict())
        db.put({"kind": "note", "key": "ranker/n", "title": "n2", "model": "ranker"})
        _check(models.DiffOut, db.diff("ranker/n", 1, 2).to_dict())
        _check(models.SearchOut, db.search("ranker bench", k=5).to_dict())
        answer = db.ask("what did we try to cut ranker p99 with int8 quantization?")
        assert answer.attempts
        _check(models.AskOut, answer.to_dict())
        _check(models.BriefOut, db.brief("ranker").to_dict())
        _check(models.BriefOut, db.brief("ranker", at="2026-03-02").to_dict())
        _check(models.ContextOut, db.context("ranker p99", budget=200).to_dict())
        findings = db.regressions(status="all")
        assert findings
        for finding in findings:
            _check(models.FindingOut, finding.to_dict())


def test_an_undeclared_or_missing_key_fails() -> None:
    written = {"key": "a", "version": 1, "status": "created", "content_hash": "h", "recorded_at": "t", "kind": "note"}
    TypeAdapter(models.WriteResultOut).validate_python(written)
    with pytest.raises(ValidationError, match="extra"):
        TypeAdapter(models.WriteResultOut).validate_python({**written, "extra": 1})
    with pytest.raises(ValidationError, match="kind"):
        TypeAdapter(models.WriteResultOut).validate_python({k: v for k, v in written.items() if k != "kind"})
