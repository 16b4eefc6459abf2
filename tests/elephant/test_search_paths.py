"""The unfiltered search path: exact scoring over the matrix, one liveness check for both sides,
and the warm-up that loads the matrix (fast: in-memory vector index, fake embedder)."""

from __future__ import annotations

import numpy as np
import pytest

import elephant
from elephant.retrieval import search as search_module
from elephant.retrieval.lexical import search_lexical
from elephant.retrieval.vectors.inmemory import MemoryIndex
from elephant.retrieval.vectors.matrix import VectorMatrix


def note(key: str, title: str, **extra: object) -> dict:
    return {"kind": "note", "key": key, "title": title, "body": "", **extra}


def keys(response) -> list[str]:
    return [hit.key for hit in response.results]


def test_top_all_skips_removed_rows_and_agrees_with_top():
    m = VectorMatrix(dim=2)
    m.add(np.array([[1, 0], [0.8, 0.6], [0, 1]], np.float32), [{"key": "a"}, {"key": "b"}, {"key": "c"}])
    query = np.array([1, 0], np.float32)
    assert m.top_all(query, 3) == m.top(query, np.flatnonzero(m.mask()), 3)
    m.remove_keys(["a"])
    assert [k for k, _ in m.top_all(query, 5)] == ["b", "c"]
    assert m.rows == 3 and len(m) == 2
    assert VectorMatrix(dim=2).top_all(query, 5) == []


def _expected(vectors: np.ndarray, keys_: list[str], query: np.ndarray, rows: np.ndarray, n: int) -> list[str]:
    """Brute force: each key's best chunk among ``rows``, best keys first."""
    scores = vectors[rows] @ query
    best: dict[str, float] = {}
    for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
        best[keys_[row]] = max(best.get(keys_[row], -np.inf), score)
    return [k for k, _ in sorted(best.items(), key=lambda kv: -kv[1])[:n]]


@pytest.mark.parametrize("kernel", ["einsum", "blas, per-product limit", "blas, process limit",
                                    "blas without threadpoolctl"])
def test_products_are_exact_over_contiguous_and_scattered_rows(monkeypatch, kernel):
    """Whatever the kernel, the matrix scores like a plain product, through growth and row reuse, for
    the whole matrix, a few slices, and rows too scattered for slices; BLAS keeps its threads."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from elephant.retrieval.vectors import matrix as matrix_module

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 384)).astype(np.float32)
    names = [f"k{i // 2}" for i in range(3000)]
    m = VectorMatrix(dim=384)
    for start in range(0, 3000, 700):  # several growths
        m.add(vectors[start:start + 700], [{"key": k} for k in names[start:start + 700]])
    m.replace(["k5"], vectors[10:12], [{"key": "k5"}, {"key": "k5"}])  # reuses the freed rows
    query = rng.standard_normal(384).astype(np.float32)
    before = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    monkeypatch.setattr(matrix_module, "_KERNEL", kernel.split(",")[0].split()[0])
    monkeypatch.setattr(matrix_module, "_SINGLE_THREADED_BLAS", False)
    if kernel == "blas without threadpoolctl":
        monkeypatch.setattr(matrix_module, "_BLAS_CONTROLLER", False)
    try:
        if kernel == "blas, process limit":
            assert matrix_module.use_single_threaded_blas()
        all_rows = np.arange(3000)
        assert [k for k, _ in m.top_all(query, 20)] == _expected(vectors, names, query, all_rows, 20)
        for rows in (all_rows[::3], all_rows[100:900], np.concatenate([all_rows[2500:], all_rows[:40]])):
            assert [k for k, _ in m.top(query, rows, 20)] == _expected(vectors, names, query, np.sort(rows), 20)
        if kernel == "blas, per-product limit":
            assert [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"] == before
    finally:
        if before:
            threadpool_limits(limits=max(before), user_api="blas")


def test_the_product_kernel_is_measured_once_on_a_large_product(monkeypatch):
    from elephant.retrieval.vectors import matrix as matrix_module

    monkeypatch.setattr(matrix_module, "_KERNEL", None)
    rng = np.random.default_rng(3)
    query = rng.standard_normal(384).astype(np.float32)
    small = rng.standard_normal((100, 384)).astype(np.float32)
    assert np.allclose(matrix_module.product(small, query), small @ query, atol=1e-4)
    assert matrix_module.product_kernel() is None  # too small to be worth measuring
    large = rng.standard_normal((matrix_module.CALIBRATE_MIN_ROWS, 384)).astype(np.float32)
    assert np.allclose(matrix_module.product(large, query), large @ query, atol=1e-3)
    chosen = matrix_module.product_kernel()
    assert chosen in ("einsum", "blas")
    matrix_module.product(large, query)
    assert matrix_module.product_kernel() == chosen


def test_a_record_deleted_before_the_index_caught_up_is_not_returned(mem_db):
    mem_db.put_many([note("a", "INT8 ranker attempt"), note("b", "INT8 ranker second attempt")])
    assert set(keys(mem_db.search("INT8 ranker"))) == {"a", "b"}
    # The delete commits but its index job is not applied: the lexical document and the vector stay.
    mem_db.process_outbox = lambda: 0
    mem_db._last_drain = float("inf")
    mem_db.delete("a")
    assert mem_db.indexer.pending() == 1
    if mem_db.store.engine.dialect.name == "sqlite":  # PostgreSQL's lexical side always joins the heads
        with mem_db.store.read_connection() as conn:
            stale = search_lexical(conn, "INT8 ranker", live_only=False)
        assert "a" in [k for k, _ in stale]
    response = mem_db.search("INT8 ranker")
    assert keys(response) == ["b"]
    assert response.results[0].version == 1 and response.results[0].title == "INT8 ranker second attempt"


def test_exact_and_ann_paths_give_the_same_results(mem_db, monkeypatch):
    mem_db.put_many([note(f"n{i}", f"attempt {i} on the ranker: {word}")
                     for i, word in enumerate(["int8", "fp16", "tensorrt", "distillation", "pruning", "batching"])])
    queries = ["int8 ranker", "tensorrt", "distillation of the ranker", "batching attempt"]
    exact = [keys(mem_db.search(q)) for q in queries]
    assert mem_db.indexer.matrix(wait=False) is not None  # the exact path did run
    monkeypatch.setattr(search_module, "EXACT_MAX_ROWS", 0)
    mem_db.search_cache.clear()  # else the second round is answered from the cache
    assert [keys(mem_db.search(q)) for q in queries] == exact


def test_a_small_index_loads_its_matrix_from_sql_without_opening_the_vector_index(tmp_path, monkeypatch):
    from elephant.retrieval import indexer as indexer_module

    shared = MemoryIndex()
    with elephant.open(tmp_path / "h") as writer:
        writer.indexer.vector_index = shared
        writer.put_many([note("a", "INT8 ranker attempt", model="ranker"), note("b", "FP16 fraud attempt")])
    with elephant.open(tmp_path / "h") as reader:
        opened: list[bool] = []
        reader.indexer._index_fn = lambda: opened.append(True) or shared
        reader.warm_up()
        assert keys(reader.search("INT8 ranker"))[0] == "a"
        assert keys(reader.search("attempt", model="ranker")) == ["a"]
        assert opened == []  # every vector came from SQL
        assert len(reader.indexer.matrix()) == 2
    monkeypatch.setattr(indexer_module, "SYNC_LOAD_MAX_ROWS", 0)
    with elephant.open(tmp_path / "h") as mapped:
        assert len(mapped.indexer.matrix(wait=False)) == 2  # the shared vector files are mapped at once
    import shutil

    shutil.rmtree(tmp_path / "h" / "vectors")
    with elephant.open(tmp_path / "h") as large:
        large.indexer._index_fn = lambda: shared
        assert large.indexer.matrix(wait=False) is None  # without them a large index loads in the background
        large.indexer._loader.join()
        assert len(large.indexer.matrix(wait=False)) == 2


def test_vectors_of_another_embedder_are_refused_without_the_vector_index(tmp_path):
    from elephant.errors import FingerprintMismatch
    from elephant.retrieval.embedding import HashEmbedder

    class Other(HashEmbedder):
        fingerprint = "other-embedder:v1"

    with elephant.open(tmp_path / "h") as db:
        db.indexer.vector_index = MemoryIndex()
        db.put(note("a", "INT8 ranker attempt"))
    with elephant.open(tmp_path / "h") as db:
        db._embedder = Other()
        db.indexer._index_fn = lambda: pytest.fail("the vector index was opened")
        with pytest.raises(FingerprintMismatch, match="reindex"):
            db.search("INT8 ranker")


def test_rows_indexed_before_vectors_were_kept_in_sql_load_from_the_vector_index(mem_db):
    from sqlalchemy import update

    from elephant.retrieval.indexer import index_chunks

    mem_db.put_many([note("a", "INT8 ranker attempt"), note("b", "FP16 fraud attempt")])
    with mem_db.store.write_transaction() as conn:  # as a store migrated from 0002 has them
        conn.execute(update(index_chunks).values(vectors=None, fingerprint=None))
    mem_db.indexer._matrix = None
    assert len(mem_db.indexer.matrix()) == 2
    assert keys(mem_db.search("INT8 ranker"))[0] == "a"


# ---------------------------------------------------------------- the result cache
def test_a_repeated_search_is_answered_from_the_cache_until_the_store_changes(mem_db):
    mem_db.put_many([note("a", "INT8 ranker attempt"), note("b", "FP16 fraud attempt")])
    cache = mem_db.search_cache
    first = mem_db.search("INT8 ranker")
    again = mem_db.search("INT8 ranker")
    assert cache.hits == 1 and again.to_dict() == first.to_dict()
    again.results.clear()  # a caller's changes never reach the cache
    assert keys(mem_db.search("INT8 ranker")) == keys(first)
    # Filters and k are part of the question.
    assert keys(mem_db.search("INT8 ranker", k=1)) == keys(first)[:1]
    assert keys(mem_db.search("attempt", kind="note", model="nobody")) == []
    hits = cache.hits
    mem_db.put(note("c", "INT8 ranker second attempt"))  # a write moves the stamp
    assert "c" in keys(mem_db.search("INT8 ranker")) and cache.hits == hits
    mem_db.delete("c")
    assert "c" not in keys(mem_db.search("INT8 ranker"))
    mem_db.put(note("a", "INT8 ranker attempt, rolled back"))
    assert mem_db.search("INT8 ranker").results[0].version == 2


def test_a_write_by_another_process_invalidates_the_cache(tmp_path):
    from elephant.retrieval.vectors.inmemory import MemoryIndex

    shared = MemoryIndex()
    with elephant.open(tmp_path / "h") as reader, elephant.open(tmp_path / "h") as writer:
        for handle in (reader, writer):
            handle.indexer.vector_index = shared
        writer.put(note("a", "INT8 ranker attempt"))
        assert keys(reader.search("INT8 ranker")) == ["a"]
        writer.put(note("b", "INT8 ranker second attempt"))
        assert sorted(keys(reader.search("INT8 ranker"))) == ["a", "b"]
        writer.delete("a")
        assert keys(reader.search("INT8 ranker")) == ["b"]


def test_degraded_answers_are_not_kept(mem_db):
    from elephant.errors import ModelError

    mem_db.put(note("a", "INT8 ranker attempt"))
    healthy = mem_db.embedder

    class Broken:
        fingerprint = healthy.fingerprint
        dim = healthy.dim

        def embed_query(self, text):
            raise ModelError("model file unreadable")

    mem_db._embedder = Broken()
    assert mem_db.search("INT8 ranker").degraded
    assert len(mem_db.search_cache) == 0
    mem_db._embedder = healthy
    assert not mem_db.search("INT8 ranker").degraded


def test_the_cache_can_be_turned_off(tmp_path):
    with elephant.open(tmp_path / "h", search_cache=0) as db:
        db.indexer.vector_index = MemoryIndex()
        db.put(note("a", "INT8 ranker attempt"))
        assert db.search_cache is None
        assert keys(db.search("INT8 ranker")) == keys(db.search("INT8 ranker")) == ["a"]
