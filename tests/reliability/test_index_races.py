"""Row 3: a slow outbox drain that read version n can never leave the indexes at n once a faster drain
indexed n+1 (compare-and-set on the indexed version, repair job for the vector index)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from elephant.retrieval.indexer import Indexer
from elephant.retrieval.vectors import chunk_id


class GatedEmbedder:
    """The real (fake) embedder, but ``embed`` waits for the test to let it go: a slow drain."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reached = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: list[str]) -> Any:
        self.reached.set()
        assert self.release.wait(30)
        return self.inner.embed(texts)


def test_a_slow_drain_never_moves_a_key_backwards(db: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(db, "_after_write", lambda: None)  # the test drains by hand
    index = db.indexer.vector_index
    gate = GatedEmbedder(db.embedder)
    slow = Indexer(db.store, embedder=lambda: gate, vector_index=index)
    # On PostgreSQL drains take turns (Indexer._drain_turn); the compare-and-set below is the defence
    # where they still overlap (SQLite's processes, a drain that gave up its turn), so this one skips it.
    monkeypatch.setattr(slow, "_drain_turn", lambda *_wait: contextlib.nullcontext(True))
    fast = Indexer(db.store, embedder=lambda: db.embedder, vector_index=index)
    db.put({"kind": "note", "key": "race/k", "title": "first", "body": "aardvarkone " * 50})
    worker = threading.Thread(target=slow.process_outbox)
    worker.start()
    assert gate.reached.wait(30)  # the slow drain has read v1 and is embedding it
    db.put({"kind": "note", "key": "race/k", "title": "second", "body": "bonobotwo"})
    fast.process_outbox()
    assert fast.indexed_state()["race/k"][0] == 2
    gate.release.set()
    worker.join(30)
    # The slow drain saw it was overtaken: the bookkeeping stays at v2 and a repair job is queued.
    assert fast.indexed_state()["race/k"][0] == 2
    fast.process_outbox()
    assert fast.pending() == 0
    state = fast.indexed_state()["race/k"]
    assert state == (2, 1)
    found, _vectors, metas = index.chunks([chunk_id("race/k", n) for n in range(3)])
    assert found == [chunk_id("race/k", 0)]
    assert metas[0]["version"] == 2
    assert [h.key for h in db.search("bonobotwo", k=3).results][:1] == ["race/k"]
    lexical_only = db.search("aardvarkone", k=3)
    assert all(hit.version == 2 for hit in lexical_only.results)


def test_outbox_ids_are_not_reused_after_the_outbox_empties(db: Any) -> None:
    from sqlalchemy import insert, select

    from elephant.storage.schema import outbox

    db.put({"kind": "note", "key": "ids/a", "title": "a"})
    with db.store.read_connection() as conn:
        assert conn.execute(select(outbox.c.id)).first() is None  # drained
    with db.store.write_transaction() as conn:
        first = conn.execute(insert(outbox).values(key="ids/a", version=1, op="upsert",
                                                   created_at="2026-01-01T00:00:00.000000Z")).inserted_primary_key[0]
    db.process_outbox()
    with db.store.write_transaction() as conn:
        second = conn.execute(insert(outbox).values(key="ids/a", version=1, op="upsert",
                                                    created_at="2026-01-01T00:00:00.000000Z")).inserted_primary_key[0]
    assert second > first
