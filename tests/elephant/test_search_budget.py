"""Search work bounded at scale (issue 16): the lexical ranking budget (which FTS5 expression a query
ranks), the per-store cache of a filter's candidate keys, the covering index behind numeric conditions,
and planner statistics after a bulk load on PostgreSQL. Behaviour only: the budgets are made small here
so that a few dozen records exercise the choices a large store makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

import elephant
from elephant.retrieval import lexical
from elephant.retrieval import search as search_module
from elephant.retrieval.lexical import MatchPlan, plan_match, search_lexical
from elephant.storage import store as store_module
from elephant.storage.store import INDEX_TABLES, RECORD_TABLES


def notes(count: int = 40) -> list[dict[str, Any]]:
    """Every note says "common"; every second one "medium", every third "third"; notes 0 and 1 "rare"."""
    out = []
    for i in range(count):
        words = (["common"] + (["medium"] if i % 2 == 0 else []) + (["third"] if i % 3 == 0 else [])
                 + (["rare"] if i < 2 else []))
        out.append({"kind": "note", "key": f"notes/n{i:03d}", "model": "ranker" if i % 4 else "fraud",
                    "title": f"note {i}", "body": " ".join(words) + " observations"})
    return out


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A SQLite store of 40 notes that the lexical planner treats as a large one."""
    monkeypatch.setattr(lexical, "COMMON_MIN_DOCS", 10)
    lexical._DF_CACHE.clear()
    db = elephant.open(tmp_path / "home")
    assert db.put_many(notes()).ok
    db.process_outbox()
    yield db
    db.close()
    lexical._DF_CACHE.clear()


def test_rare_terms_are_or_ed_and_words_no_document_has_are_dropped(small: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexical, "RANK_BUDGET", 100)
    with small.store.read_connection() as conn:
        assert plan_match(conn, ["rare", "zzzunheard"]) == [MatchPlan('("rare")')]
        assert plan_match(conn, ["medium", "rare"]) == [MatchPlan('("rare" OR "medium")')]
        # Unknown words alone rank nothing: no statement, no results.
        assert plan_match(conn, ["zzzunheard", "qqqnever"]) == []
        assert search_lexical(conn, "zzzunheard qqqnever", live_only=False) == []


def test_common_terms_rank_their_conjunction_then_the_rarest_over_the_newest(
        small: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexical, "RANK_BUDGET", 15)
    with small.store.read_connection() as conn:
        plans = plan_match(conn, ["common", "medium"])
        assert [p.match for p in plans] == ['"medium" AND "common"', '"medium"']
        # 20 "medium" notes x 2 phrases is past the budget of 15: only the newest documents are ranked.
        assert plans[0].floor > 0 and plans[1].floor > 0
        found = search_lexical(conn, "common medium", live_only=False, limit=5)
    with_medium = {n["key"] for n in notes() if "medium" in n["body"]}
    assert found and {key for key, _score in found} <= with_medium
    # The window keeps the newest: none of the first notes written.
    assert not {key for key, _score in found} & {"notes/n000", "notes/n002"}


def test_a_conjunction_that_matches_too_little_falls_back_to_the_rarest_term(
        small: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexical, "RANK_BUDGET", 10)
    with small.store.read_connection() as conn:
        plans = plan_match(conn, ["medium", "third"])
        assert [p.match for p in plans] == ['"third" AND "medium"', '"third"']
        # 7 notes have both words; asked for 30, the rarest term alone is ranked too (newest first).
        found = [key for key, _score in search_lexical(conn, "medium third", live_only=False, limit=30)]
    numbers = [int(key.rsplit("n", 1)[1]) for key in found]
    assert numbers[0] % 6 == 0, "the notes with both words come first"
    assert any(n % 2 for n in numbers), "then notes with the rarest word alone"
    assert all(n % 3 == 0 for n in numbers)


def test_a_facet_narrows_the_match_and_widens_what_terms_fit(small: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexical, "RANK_BUDGET", 15)
    facet = lexical.facet_match(None, ["fraud"])  # 10 of 40 notes
    with small.store.read_connection() as conn:
        # "medium" alone is 20 documents x 1 phrase: past the budget unfiltered, within it in a quarter.
        assert plan_match(conn, ["medium"])[0].floor > 0
        assert plan_match(conn, ["medium"], facet) == [MatchPlan(f'("medium") AND {facet}')]
    # The filter holds: SQL checks the model too.
    found = small.search("rare medium common", model="fraud", k=10).results
    assert found and {hit.model for hit in found} == {"fraud"}


def test_a_filter_s_candidates_are_read_once_until_the_store_changes(small: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for i, record in enumerate(notes(6)):
        record.update(key=f"bench/b{i}", fields={"latency_ms": {"p99": float(10 * i)}})
        small.put(record)
    reads: list[int] = []
    inner = search_module.HybridSearch._number_keys

    def counted(conn: Any, condition: Any) -> list[str]:
        reads.append(1)
        return inner(conn, condition)

    monkeypatch.setattr(search_module.HybridSearch, "_number_keys", staticmethod(counted))
    first = {hit.key for hit in small.search("observations", where="latency_ms.p99<25", k=10).results}
    again = {hit.key for hit in small.search("common", where="latency_ms.p99<25", k=10).results}
    assert first == again == {"bench/b0", "bench/b1", "bench/b2"} and len(reads) == 1
    # A write changes the store's stamp: the set is read again and holds the new record.
    small.put({**notes(1)[0], "key": "bench/new", "fields": {"latency_ms": {"p99": 1.0}}})
    found = {hit.key for hit in small.search("observations", where="latency_ms.p99<25", k=10).results}
    assert "bench/new" in found and len(reads) == 2


def test_numeric_conditions_read_keys_from_a_covering_index(small: Any) -> None:
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(small.store.engine).get_indexes("head_numbers")}
    assert indexes["ix_head_numbers_path_value_key"] == ["path", "value", "key"]


def test_a_bulk_load_leaves_planner_statistics(db: Any, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "ANALYZE_MIN_ROWS", 20)
    assert db.put_many([{**n, "fields": {"latency_ms": {"p99": float(i)}}} for i, n in enumerate(notes(30))]).ok
    if backend == "sqlite":  # plans chosen without statistics; none are made
        assert db.store.refresh_statistics(RECORD_TABLES, 10**6) == []
        return
    with db.store.read_connection() as conn:
        for table in (*RECORD_TABLES, *INDEX_TABLES):
            columns = conn.exec_driver_sql("SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() "
                                           "AND tablename = %s", (table,)).scalar()
            assert columns, f"{table}: no planner statistics after a bulk load"
    # A write of fewer rows than a tenth of what the statistics counted leaves them be.
    monkeypatch.setattr(store_module, "ANALYZE_MIN_ROWS", 1)
    assert db.store.refresh_statistics(("heads", "versions"), 2) == []


@pytest.mark.postgres
def test_postgresql_ranks_the_rarest_terms_within_the_budget(pg_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's full-text side keeps the same budgets: rare terms OR-ed, common ones AND-ed, a bounded
    share ranked when even that matches too much, and the filters still hold."""
    monkeypatch.setattr(lexical, "COMMON_MIN_DOCS", 10)
    lexical._DF_CACHE.clear()
    db = elephant.open(tmp_path / "pg", database_url=pg_url)
    try:
        assert db.put_many(notes()).ok
        db.process_outbox()
        with db.store.read_connection() as conn:
            monkeypatch.setattr(lexical, "RANK_BUDGET", 100)
            assert lexical._pg_query(conn, ["rare", "zzzunheard"]) == ("'rare'", None)
            assert lexical._pg_query(conn, ["medium", "rare"]) == ("'rare' | 'medium'", None)
            assert lexical._pg_query(conn, ["zzzunheard"]) == ("", None)
            assert search_lexical(conn, "zzzunheard qqqnever") == []
            monkeypatch.setattr(lexical, "RANK_BUDGET", 15)
            # "medium" (20) and "common" (40) are past the budget alone: both together, 20 matches x 2 terms,
            # still past it, so a bounded share of them is ranked.
            assert lexical._pg_query(conn, ["common", "medium"]) == ("'medium' & 'common'", 15)
            found = {key for key, _score in search_lexical(conn, "common medium", limit=50)}
            assert found and len(found) <= 15 and found <= {n["key"] for n in notes() if "medium" in n["body"]}
        # A filter is applied by SQL on every match, not on a capped share.
        hits = db.search("common medium", model="fraud", k=20).results
        assert hits and {hit.model for hit in hits} == {"fraud"}
    finally:
        db.close()
        lexical._DF_CACHE.clear()
