"""Filtered nearest neighbours by selectivity (issue 16): numeric conditions from the indexed
``head_numbers`` side table, and the dense side's plan per filter shape."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from elephant.retrieval.search import Filters, HybridSearch, plan_dense
from elephant.storage.schema import head_numbers


def records(count: int = 40) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(count):
        model = ["ranker", "fraud"][i % 2]
        out.append({"kind": "benchmark", "key": f"{model}/b{i:03d}", "model": model,
                    "title": f"{model} latency benchmark {i}", "occurred_at": f"2025-{1 + i % 12:02d}-10",
                    "tags": ["gpu"] if i % 4 == 0 else ["cpu"],
                    "fields": {"hardware": "t4", "scenario": "server", "batch_size": 1 + i % 3,
                               "latency_ms": {"p50": i / 2, "p99": float(i)}, "throughput_qps": 1000 - i}})
    out.append({"kind": "note", "key": "ranker/note", "model": "ranker", "title": "a latency note",
                "body": "p99 went down"})
    return out


def numbers_of(db: Any, key: str) -> dict[str, float]:
    with db.store.read_connection() as conn:
        return {r.path: r.value for r in conn.execute(select(head_numbers.c.path, head_numbers.c.value)
                                                      .where(head_numbers.c.key == key))}


@pytest.mark.parametrize(("shape", "candidates", "expected"), [
    ({}, None, "exact-all"),
    ({"kind": "benchmark", "since": "2025-03-01", "until": "2025-09-30"}, None, "mask"),
    ({"model": "ranker"}, None, "mask"),
    ({"where": "latency_ms.p99<5"}, 5, "exact-candidates"),
    ({"where": "latency_ms.p99<40"}, 41, "overfetch"),
    ({"tags": "gpu"}, 10, "exact-candidates"),
])
def test_plan_per_filter_shape(shape: dict[str, Any], candidates: int | None, expected: str) -> None:
    filters = Filters.of(**shape)
    assert plan_dense(filters, matrix_rows=100, candidates=candidates, exact_max_candidates=20) == expected


def test_plan_for_a_large_or_loading_matrix() -> None:
    assert plan_dense(Filters(), matrix_rows=100, exact_max_rows=50) == "ann"
    assert plan_dense(Filters.of(model="ranker"), matrix_rows=None) == "ann-overfetch"


def test_both_plans_give_what_the_filter_admits(db: Any) -> None:
    assert db.put_many(records()).ok
    db.process_outbox()
    search = HybridSearch(db.store, db.indexer)
    expected = {f"{['ranker', 'fraud'][i % 2]}/b{i:03d}" for i in range(40) if i < 12}
    seen = {}
    for limit, plan in ((1000, "exact-candidates"), (3, "overfetch")):
        search.exact_max_candidates = limit
        hits = search.dense("latency benchmark", Filters.of(where="latency_ms.p99<12"), n=50)
        assert search.plan == plan
        seen[plan] = {key for key, _score in hits}
    assert seen["exact-candidates"] == seen["overfetch"] == expected
    # The fused search agrees: every hit passes the condition, on both sides.
    found = db.search("latency", where=["latency_ms.p99>=30", "throughput_qps>965"], k=50).results
    assert sorted(h.key for h in found) == sorted(f"{['ranker', 'fraud'][i % 2]}/b{i:03d}" for i in range(30, 35))


def test_numbers_follow_the_head(db: Any) -> None:
    base = records(1)[0]
    db.put(base)
    assert numbers_of(db, base["key"]) == {"fields.batch_size": 1.0, "fields.latency_ms.p50": 0.0,
                                           "fields.latency_ms.p99": 0.0, "fields.throughput_qps": 1000.0}
    db.put({**base, "fields": {"latency_ms": {"p99": 7}, "valid": True, "hardware": "t4",
                               "accuracy": {"top1": 0.5}}})
    assert numbers_of(db, base["key"]) == {"fields.latency_ms.p99": 7.0, "fields.accuracy.top1": 0.5}
    db.delete(base["key"])
    assert numbers_of(db, base["key"]) == {}
    db.revert(base["key"], 2)
    assert numbers_of(db, base["key"]) == {"fields.latency_ms.p99": 7.0, "fields.accuracy.top1": 0.5}


def test_numeric_conditions_keep_their_json_semantics(db: Any) -> None:
    # A number inside an array, a boolean and a string are never compared as numbers.
    db.put_many([
        {"kind": "note", "key": "n/array", "title": "array", "fields": {"x": [1, 50]}},
        {"kind": "note", "key": "n/bool", "title": "bool", "fields": {"x": True}},
        {"kind": "note", "key": "n/text", "title": "text", "fields": {"x": "3"}},
        {"kind": "note", "key": "n/num", "title": "num", "fields": {"x": 3}},
        {"kind": "note", "key": "n/other", "title": "other", "fields": {"x": 9}},
    ])
    db.process_outbox()

    def keys(condition: str) -> list[str]:
        return sorted(h.key for h in db.search("note array bool text num other", where=condition, k=20).results)

    assert keys("x<40") == ["n/num", "n/other"]
    assert keys("x!=3") == ["n/other"]
    assert keys("x=3") == ["n/num"]
    assert keys("x=fast") == []


def test_import_fills_the_numbers(db: Any, make_db: Any) -> None:
    db.put_many(records(5))
    out = io.StringIO()
    db.export(out)
    target = make_db("target")
    target.import_(out.getvalue().splitlines())
    key = records(5)[3]["key"]
    assert numbers_of(target, key) == numbers_of(db, key) != {}


def test_candidates_few_next_to_the_matrix_are_ranked_exactly(db: Any) -> None:
    """The exact plan's limit grows with the matrix (one row in CANDIDATE_SHARE): at 1M records a numeric
    condition admitting 55k keys is a small share of the rows, cheaper ranked exactly than over-fetched."""
    from elephant.retrieval.search import CANDIDATE_SHARE

    assert db.put_many(records()).ok
    db.process_outbox()
    search = HybridSearch(db.store, db.indexer)
    search.exact_max_candidates = 1
    rows = db.indexer.matrix().rows
    admitted = rows // CANDIDATE_SHARE  # just within the share
    assert admitted > 1
    hits = search.dense("latency benchmark", Filters.of(where=f"latency_ms.p99<{admitted}"), n=50)
    assert search.plan == "exact-candidates"
    assert {key for key, _s in hits} == {f"{['ranker', 'fraud'][i % 2]}/b{i:03d}" for i in range(admitted)}
    search.dense("latency benchmark", Filters.of(where=f"latency_ms.p99<{admitted + 1}"), n=50)
    assert search.plan == "overfetch"
