"""The outbox consumer and the rendering of records to text (fast: in-memory vector index, fake embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import elephant
from elephant.errors import ModelError
from elephant.retrieval.documents import CHUNK_CHARS, MAX_CHUNKS, render_chunks, render_header, split_body
from elephant.retrieval.embedding import HashEmbedder
from elephant.retrieval.vectors import chunk_id
from elephant.retrieval.vectors.inmemory import MemoryIndex

EVAL = Path(__file__).resolve().parents[2] / "fixtures" / "eval"
HISTORY = yaml.safe_load((EVAL / "history.yaml").read_text())["records"]


def by_key(key: str) -> dict:
    return next(r for r in HISTORY if r["key"] == key)


# ---------------------------------------------------------------- rendering
def test_optimization_fields_become_words_and_numbers():
    header = render_header(by_key("ranker/opt/int8-dynamic-2025-03"))
    assert "p99 45 ms → 18 ms" in header
    assert "outcome: rejected" in header
    assert "technique: INT8 quantization" in header
    assert "ndcg at 10 0.412 → 0.393" in header
    assert "optimization attempt for ranker v2 on 2025-03-12" in header


def test_other_kinds_render_their_important_fields():
    assert "status: rolled back" in render_header(by_key("ranker/deploy/v4-canary-rollback-2026-01"))
    assert "latency p50 21 ms, p90 34 ms, p95 39 ms, p99 45 ms" in render_header(
        by_key("ranker/bench/fp32-baseline-2025-02"))
    feature = render_header(by_key("fraud-detector/feature/txn-velocity-1h"))
    assert "parity: drift" in feature and "skew metric psi 0.31" in feature
    assert "dynamic batching max batch size 16" in render_header(by_key("ranker/serving/triton-cpu-2025-02"))


def test_long_bodies_are_chunked_with_the_title():
    record = {"kind": "note", "key": "n", "title": "Long postmortem",
              "body": "\n\n".join(f"Paragraph {i}. " + "word " * 120 for i in range(10))}
    chunks = render_chunks(record)
    assert 2 < len(chunks) <= MAX_CHUNKS
    assert all(c.startswith("Long postmortem") for c in chunks)
    assert all(len(c) <= CHUNK_CHARS + len("Long postmortem: ") for c in chunks[1:])


@given(st.text(max_size=5000))
@settings(max_examples=60, deadline=None)
def test_split_body_keeps_every_word(body):
    pieces = split_body(body, size=200)
    assert " ".join(pieces).split() == body.split()
    assert all(len(p) <= 200 for p in pieces)


# ---------------------------------------------------------------- outbox
def record(key: str, title: str, body: str = "", **extra: object) -> dict:
    return {"kind": "note", "key": key, "title": title, "body": body, **extra}


def test_writes_are_indexed_once_and_deletes_remove_chunks(mem_db):
    index = mem_db.indexer.vector_index
    mem_db.put(record("a", "INT8 ranker attempt"))
    mem_db.put(record("b", "FP16 detector", "\n\n".join("x " * 300 for _ in range(4))))
    assert mem_db.indexer.pending() == 0
    state = mem_db.indexer.indexed_state()
    assert state["a"] == (1, 1) and state["b"][1] > 1
    assert index.count() == state["a"][1] + state["b"][1]
    mem_db.put(record("b", "FP16 detector, shorter now"))
    assert mem_db.indexer.indexed_state()["b"] == (2, 1)
    assert index.count() == 2
    assert index.metadata(chunk_id("b", 0))["version"] == 2
    mem_db.delete("a")
    assert "a" not in mem_db.indexer.indexed_state()
    assert index.count() == 1


def test_replaying_jobs_is_idempotent(mem_db):
    mem_db.put_many([record(f"k{i}", f"record number {i}") for i in range(20)])
    index = mem_db.indexer.vector_index
    before = (index.count(), mem_db.indexer.indexed_state())
    # Replay: the same keys again as if a crash had left their jobs behind after the vectors were written.
    from sqlalchemy import insert

    from elephant.storage.schema import outbox

    with mem_db.store.write_transaction() as conn:
        conn.execute(insert(outbox), [{"key": f"k{i}", "version": 1, "op": "upsert", "created_at": "x"}
                                      for i in range(20)])
    assert mem_db.process_outbox() == 20
    assert (index.count(), mem_db.indexer.indexed_state()) == before


class BrokenEmbedder(HashEmbedder):
    def embed(self, texts):
        raise RuntimeError("onnxruntime: model file truncated")


def test_writes_commit_when_the_model_fails_and_catch_up_later(mem_db):
    mem_db._embedder = BrokenEmbedder()
    result = mem_db.put(record("a", "INT8 ranker attempt"))
    assert result.status == "created"
    assert mem_db.get("a").version == 1
    assert mem_db.indexer.pending() == 1
    assert "model file truncated" in mem_db.indexer.last_error
    response = mem_db.search("INT8 ranker")
    assert response.degraded and "truncated" in response.reason
    assert [h.key for h in response.results] == ["a"]  # the lexical side was applied anyway
    mem_db._embedder = HashEmbedder()
    assert mem_db.process_outbox() == 1
    response = mem_db.search("INT8 ranker")
    assert not response.degraded and [h.key for h in response.results] == ["a"]


def test_embedding_errors_are_model_errors(mem_db):
    mem_db.put(record("a", "INT8 ranker attempt"))
    mem_db._embedder = BrokenEmbedder()
    with pytest.raises(ModelError, match="truncated"):
        mem_db.indexer.reindex()
    # Nothing was dropped: the old vectors and the lexical document still answer.
    assert mem_db.indexer.vector_index.count() == 1
    assert mem_db.search("INT8 ranker").results[0].key == "a"


def test_reindex_rebuilds_from_sql(mem_db):
    mem_db.put_files([EVAL / "history.yaml"])
    expected = mem_db.indexer.indexed_state()
    fresh = MemoryIndex()
    mem_db.indexer.vector_index = fresh
    report = mem_db.reindex()
    assert report.applied == len(HISTORY) and report.pending == 0
    assert mem_db.indexer.indexed_state() == expected
    assert fresh.count() == sum(chunks for _v, chunks in expected.values())
    assert mem_db.search("tokenizer padding latency spike").results[0].key == \
        "search-embedder/incident/tokenizer-padding-2025-12"


def test_jobs_left_by_another_process_are_drained_on_first_search(tmp_path):
    with elephant.open(tmp_path / "h") as first:
        first.indexer.vector_index = MemoryIndex()
        first._embedder = BrokenEmbedder()
        first.put(record("a", "Triton dynamic batching"))
        assert first.indexer.pending() == 1
    with elephant.open(tmp_path / "h") as second:
        second.indexer.vector_index = MemoryIndex()
        assert second.indexer.pending() == 1
        response = second.search("dynamic batching")
        assert second.indexer.pending() == 0
        assert not response.degraded and response.results[0].key == "a"


def test_import_is_indexed_through_the_outbox(mem_db, tmp_path):
    import io

    mem_db.put(record("a", "the ranker canary"))
    out = io.StringIO()
    mem_db.export(out)
    with elephant.open(tmp_path / "other") as other:
        other.indexer.vector_index = MemoryIndex()
        other.import_(out.getvalue().splitlines())
        assert other.search("ranker canary").results[0].key == "a"


# ---------------------------------------------------------------- the in-process matrix
def test_matrix_rows_are_replaced_and_reused():
    import numpy as np

    from elephant.retrieval.vectors.matrix import VectorMatrix

    m = VectorMatrix(dim=2)
    m.add(np.array([[1, 0], [0, 1]], np.float32), [{"key": "a", "kind": "note"}, {"key": "b", "kind": "incident",
                                                                                   "model": "ranker"}])
    assert m.top(np.array([1, 0], np.float32), np.flatnonzero(m.mask()), 5)[0][0] == "a"
    assert [k for k, _ in m.top(np.array([1, 0], np.float32), np.flatnonzero(m.mask(models=["ranker"])), 5)] == ["b"]
    m.replace(["a"], np.array([[0.6, 0.8]], np.float32), [{"key": "a", "kind": "note", "occurred_ts": 10}])
    assert len(m) == 2 and m.rows_for(["a"]).tolist() == [0]  # the freed row was reused
    assert m.top(np.array([1, 0], np.float32), np.flatnonzero(m.mask(since_ts=5)), 5) == [("a", 0.6000000238418579)]
    m.remove_keys(["a", "b"])
    assert len(m) == 0 and m.top(np.array([1, 0], np.float32), np.flatnonzero(m.mask()), 5) == []


def test_filtered_search_sees_what_another_process_indexed(tmp_path):
    """Two facades on one home share the vector index; the matrix follows the index generation."""
    shared = MemoryIndex()
    with elephant.open(tmp_path / "h") as reader, elephant.open(tmp_path / "h") as writer:
        reader.indexer.vector_index = shared
        writer.indexer.vector_index = shared
        writer.put(record("a", "INT8 ranker attempt", model="ranker"))
        assert [h.key for h in reader.search("INT8", model="ranker").results] == ["a"]  # matrix loaded here
        writer.put(record("b", "INT8 ranker second attempt", model="ranker"))
        writer.put(record("a", "FP16 fraud attempt", model="fraud"))
        reader._last_drain = float("inf")  # no drain in the reader: only the generation refresh can help
        dense = reader.indexer.matrix()
        assert set(dense.rows_for(["a", "b"]).tolist()) and len(dense) == 2
        from elephant.retrieval.search import Filters, HybridSearch

        search = HybridSearch(reader.store, reader.indexer)
        assert [k for k, _ in search.dense("INT8 ranker", Filters.of(model="ranker"))] == ["b"]
        assert [k for k, _ in search.dense("FP16 fraud", Filters.of(model="fraud"))] == ["a"]
        writer.delete("b")
        assert search.dense("INT8 ranker", Filters.of(model="ranker")) == []
        assert len(reader.indexer.matrix()) == 1


def test_opening_and_writing_do_not_import_chroma(tmp_path):
    """`elephant serve` must start fast: Chroma and the model load on first use, not in open()."""
    import subprocess
    import sys

    code = ("import sys, elephant; db = elephant.open(sys.argv[1]); "
            "print('chromadb' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "h")], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
