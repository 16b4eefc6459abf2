"""Reliability of the index with real Chroma: crashes, server congruence, fingerprints, degraded mode."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import elephant
from elephant.errors import FingerprintMismatch
from elephant.retrieval.embedding import HashEmbedder

REPO = Path(__file__).resolve().parents[2]
EVAL = REPO / "fixtures" / "eval"
CHROMA_BIN = Path(sys.executable).parent / "chroma"

WRITER = r"""
import random, sys
import elephant
rng = random.Random(int(sys.argv[2]))
db = elephant.open(sys.argv[1])
db.search("warm up")
db.indexer.ready_index()  # a small store's search never opens Chroma: open it before the parent's clock starts
print("ready", flush=True)
words = "int8 fp16 tensorrt canary shadow rollback latency throughput ranker fraud churn embedder".split()
n = 0
while True:
    n += 1
    key = f"crash/{rng.randrange(40)}"
    if rng.random() < 0.1:
        try:
            db.delete(key)
        except elephant.NotFound:
            pass
        continue
    body = "\n\n".join(" ".join(rng.choice(words) for _ in range(rng.randrange(5, 140))) for _ in range(rng.randrange(1, 5)))
    records = [{"kind": "note", "key": key, "title": f"attempt {n} {rng.choice(words)}", "body": body}]
    if rng.random() < 0.3:
        records.append({"kind": "note", "key": f"crash/batch-{n}", "title": f"batch {n}", "body": body[:300]})
    db.put_many(records)
    print("committed", n, flush=True)
"""


def assert_index_matches_sql(db) -> None:
    """Every live head is in the vector index at its current version, each chunk once, nothing else."""
    from sqlalchemy import select

    from elephant.storage.schema import heads

    with db.store.read_connection() as conn:
        live = {r.key: r.version for r in conn.execute(select(heads.c.key, heads.c.version)
                                                       .where(heads.c.is_deleted.is_(False)))}
    state = db.indexer.indexed_state()
    assert {k: v for k, (v, _c) in state.items()} == live
    index = db.indexer.vector_index
    assert index.count() == sum(c for _v, c in state.values())  # no chunk twice, no stale chunk
    ids = [f"{k}#{n}" for k, (_v, c) in state.items() for n in range(c)]
    found = index._col().get(ids=ids, include=["metadatas"])
    assert {(m["key"], m["version"]) for m in found["metadatas"]} == set(live.items())


@pytest.mark.slow
def test_sigkill_during_writes_loses_nothing_and_indexes_nothing_twice(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "ELEPHANT_MODEL": "fake", "ANONYMIZED_TELEMETRY": "False"}
    rng = random.Random(7)
    committed = 0
    for trial in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(trial)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready"), proc.stderr.read() if proc.stderr else line
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        out, _err = proc.communicate()
        committed += out.count("committed")
        with elephant.open(home) as db:
            # Each committed write is in SQL (the subprocess printed after commit) ...
            assert db.counts()["_versions"] >= committed
            # ... and once the outbox drains, searchable exactly once, at its current version.
            db.process_outbox()
            assert db.indexer.pending() == 0
            assert_index_matches_sql(db)
            newest = max(db.store.iter_current(), key=lambda r: r.recorded_at)
            hits = db.search(newest.envelope["title"], k=50).results
            assert newest.key in [h.key for h in hits]
    assert committed > 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path):
    """A real `chroma run` from the installed chromadb, on a free port, stopped after the test."""
    port = free_port()
    proc = subprocess.Popen([str(CHROMA_BIN), "run", "--path", str(tmp_path / "server"), "--port", str(port),
                             "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma run did not start within 30 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


QUERIES = [json.dumps(q) for q in (
    ["int8 quantization that hurt accuracy", {}],
    ["why was the canary rolled back", {}],
    ["feature drift between training and serving", {"kind": "feature_definition"}],
    ["latency", {"model": "ranker"}],
    ["p99 budget", {"where": "latency_ms.p99<20"}],
)]


def load_history(db) -> None:
    for name in ("history.yaml", "history_updates.yaml"):
        assert db.put_files([EVAL / name]).ok


@pytest.mark.slow
def test_embedded_chroma_and_chroma_server_rank_the_same(tmp_path, chroma_server):
    rankings = {}
    for name, overrides in (("embedded", {}), ("server", {"chroma_url": chroma_server})):
        with elephant.open(tmp_path / name, **overrides) as db:
            load_history(db)
            assert db.indexer.vector_index.name == f"chroma-{name}"
            assert db.indexer.pending() == 0
            from elephant.retrieval.search import Filters, HybridSearch

            search = HybridSearch(db.store, db.indexer)
            rankings[name] = []
            for raw in QUERIES:
                query, filters = json.loads(raw)
                rankings[name].append([k for k, _s in search.dense(query, Filters.of(**filters), n=10)])
                rankings[name].append([h.key for h in db.search(query, k=10, **filters).results])
    assert all(rankings["embedded"])
    assert rankings["embedded"] == rankings["server"]


def test_index_refuses_queries_from_another_embedder(tmp_path):
    class OtherEmbedder(HashEmbedder):
        fingerprint = "fake-hash:v2"

    with elephant.open(tmp_path / "h") as db:
        db.put({"kind": "note", "key": "a", "title": "INT8 ranker"})
        assert db.indexer.vector_index.fingerprint() == "fake-hash:v1"
    with elephant.open(tmp_path / "h") as db:
        db._embedder = OtherEmbedder()
        with pytest.raises(FingerprintMismatch, match="elephant reindex"):
            db.search("INT8")
        # A write still commits; its job waits rather than mixing two embedders in one index.
        assert db.put({"kind": "note", "key": "b", "title": "FP16 detector"}).version == 1
        assert db.indexer.pending() == 1
        db.reindex()
        assert db.indexer.vector_index.fingerprint() == "fake-hash:v2"
        response = db.search("FP16 detector")
        assert not response.degraded and response.results[0].key == "b"


def test_unusable_chroma_directory_degrades_to_lexical_and_writes_still_commit(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "chroma").write_text("not a directory")
    with elephant.open(home) as db:
        result = db.put({"kind": "incident", "key": "search/incident", "title": "Tokenizer padding spike",
                         "body": "p99 900 ms after the tokenizer upgrade"})
        assert result.status == "created"
        response = db.search("tokenizer upgrade p99")
        assert response.degraded is True
        assert "Chroma" in response.reason
        assert [h.key for h in response.results] == ["search/incident"]
        assert response.to_dict()["degraded"] is True
        assert db.indexer.pending() == 1
    (home / "chroma").unlink()
    with elephant.open(home) as db:
        response = db.search("tokenizer upgrade p99")
        assert response.degraded is False and response.results[0].key == "search/incident"
        assert db.indexer.pending() == 0


@pytest.mark.model
def test_real_model_search_on_embedded_chroma(real_model, tmp_path):
    with elephant.open(tmp_path / "h") as db:
        load_history(db)
        assert db.indexer.vector_index.fingerprint() == db.embedder.fingerprint
        response = db.search("TensorRT half precision engine for the ranker", k=5)
        assert not response.degraded
        assert {"ranker/opt/tensorrt-fp16-v4-2026-02", "ranker/bench/v4-trt-fp16-2026-02"} & \
            {h.key for h in response.results[:3]}
        filtered = db.search("quantization", model="recsys-two-tower", k=5)
        assert filtered.results[0].key == "recsys-two-tower/opt/int8-2026-04"
