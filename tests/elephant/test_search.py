"""Hybrid search over the eval history on SQLite and PostgreSQL: filters, current versions, JSON shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elephant.errors import UsageError
from elephant.retrieval.search import Condition, Filters, fuse

EVAL = Path(__file__).resolve().parents[2] / "fixtures" / "eval"


@pytest.fixture
def history(db):
    """The eval history written through the facade (which indexes after each write)."""
    for name in ("history.yaml", "history_updates.yaml"):
        report = db.put_files([EVAL / name])
        assert report.ok, report.problems
    assert db.indexer.pending() == 0
    return db


def keys(response) -> list[str]:
    return [h.key for h in response.results]


def test_json_shape_is_the_design_contract(history):
    data = history.search("INT8 quantization of the ranker", k=3).to_dict()
    assert data["degraded"] is False
    assert len(data["results"]) == 3
    for item in data["results"]:
        assert set(item) == {"key", "version", "kind", "title", "model", "occurred_at", "score", "source"}
        assert set(item["source"]) == {"path", "anchor"}
    assert data["results"][0]["score"] >= data["results"][-1]["score"]


def test_finds_exact_error_strings_and_paraphrases(history):
    assert keys(history.search("INVALID_ARGUMENT unexpected shape input_ids", k=3))[0] == \
        "ranker/incident/v4-error-spike-2026-01"
    assert "search-embedder/incident/tokenizer-padding-2025-12" in \
        keys(history.search("search latency spike after tokenizer upgrade", k=3))


def test_model_and_kind_filters(history):
    response = history.search("quantization", model="ranker", kind="optimization", k=20)
    assert response.results
    assert {(h.model, h.kind) for h in response.results} == {("ranker", "optimization")}
    several = history.search("latency", model=["ranker", "fraud-detector"], k=50)
    assert {h.model for h in several.results} <= {"ranker", "fraud-detector"}


def test_time_range_filter_includes_whole_until_day(history):
    response = history.search("deployment", kind="deployment", since="2026-01-01", until="2026-01-21", k=20)
    assert set(keys(response)) == {"ranker/deploy/v4-canary-rollback-2026-01", "churn-model/deploy/lgbm-v4-full-2026-01"}
    for hit in response.results:
        assert "2026-01-01" <= hit.occurred_at[:10] <= "2026-01-21"


def test_numeric_where_conditions(history):
    response = history.search("latency", where="latency_ms.p99<15", k=50)
    found = set(keys(response))
    assert found == {"ranker/bench/v4-trt-fp16-2026-02", "fraud-detector/bench/v7-2025-04"}
    improved = history.search("quantization", where=["result.latency_ms_p99<=18", "fields.outcome=rolled_back"],
                              k=50)
    assert keys(improved) == ["recsys-two-tower/opt/int8-2026-04"]
    not_adopted = history.search("quantization", kind="optimization", where="outcome!=adopted", k=50)
    assert {"ranker/opt/int8-dynamic-2025-03", "fraud-detector/opt/batching-2025-07",
            "recsys-two-tower/opt/int8-2026-04"} == set(keys(not_adopted))


def test_tag_filter_requires_every_tag(history):
    response = history.search("feature", tags=["parity", "drift"], k=50)
    assert set(keys(response)) == {"churn-model/feature/support-tickets-30d"}


def test_only_current_versions_and_no_deleted_records(history):
    hits = history.search("txn_velocity_1h parity", k=5).results
    velocity = [h for h in hits if h.key == "fraud-detector/feature/txn-velocity-1h"]
    assert len(velocity) == 1 and velocity[0].version == 2
    assert "parity fixed" in velocity[0].title
    history.delete("fraud-detector/feature/txn-velocity-1h")
    assert "fraud-detector/feature/txn-velocity-1h" not in keys(history.search("txn_velocity_1h", k=10))
    history.revert("fraud-detector/feature/txn-velocity-1h", 1)
    revived = [h for h in history.search("txn_velocity_1h", k=10).results
               if h.key == "fraud-detector/feature/txn-velocity-1h"]
    assert [h.version for h in revived] == [4]


def test_filters_that_match_nothing_return_nothing(history):
    assert history.search("anything", model="no-such-model").results == []
    assert history.search("int8", kind="incident", model="churn-model").results == []
    # A query with no words still answers (dense side only), never an error.
    assert history.search("?!", k=5).degraded is False


def test_bad_conditions_are_usage_errors(history):
    for bad in ("p99", "latency_ms.p99 < fast", "fields=3", "<3"):
        with pytest.raises(UsageError):
            history.search("x", where=bad)
    with pytest.raises(UsageError):
        history.search("x", since="last tuesday")
    with pytest.raises(UsageError):
        history.search("x", k=0)


def test_condition_parsing():
    assert Condition.parse("latency_ms.p99<40") == Condition(("fields", "latency_ms", "p99"), "<", 40.0)
    assert Condition.parse("fields.outcome == rolled_back") == Condition(("fields", "outcome"), "=", "rolled_back")
    assert Condition.parse("model_version='v3'") == Condition(("model_version",), "=", "v3")
    assert Filters.of().is_empty
    assert Filters.of(until="2026-03").until == "2026-04-01T00:00:00.000000Z"


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8), min_size=1, max_size=4))
def test_fusion_is_a_ranking_of_the_union(rankings):
    fused = fuse([[(k, 0.0) for k in r] for r in rankings])
    assert {k for k, _s in fused} == {k for r in rankings for k in r}
    scores = [s for _k, s in fused]
    assert scores == sorted(scores, reverse=True)
    # A key first in every list beats any key that is never first.
    if rankings[0] and all(r[0] == rankings[0][0] for r in rankings if r):
        assert fused[0][0] == rankings[0][0]
