"""Per-process caches learn of writes that commit out of id order (PostgreSQL: concurrent writers, or
replicas on one database, commit in an order their ``versions`` ids do not follow)."""

from __future__ import annotations

import pytest

import elephant
from elephant.records.envelope import validate_record

pytestmark = pytest.mark.postgres


def note(key: str, model: str) -> dict[str, object]:
    return {"kind": "note", "key": key, "title": f"{key} notes", "model": model, "body": f"what we tried on {model}"}


def test_ask_caches_see_a_write_that_committed_after_a_later_id(tmp_path, pg_url):
    with elephant.open(tmp_path / "home", database_url=pg_url, model="fake") as db:
        db.put(note("seed/one", "seed-model"))
        answerer = db.answerer
        with db.store.read_connection() as conn:
            answerer.catalog.refresh(conn)
            answerer.vocabulary(conn)
        # The slow writer takes the smaller versions id and commits last.
        with db.store.write_transaction() as slow:
            db.store.write_in(slow, [validate_record(note("late/one", "late-model"))], author="slow")
            db.put(note("early/one", "early-model"))
            with db.store.read_connection() as conn:
                answerer.catalog.refresh(conn)
                assert "early-model" in answerer.vocabulary(conn).models
        db.process_outbox()  # what the slow writer's request does after its commit
        with db.store.read_connection() as conn:
            answerer.catalog.refresh(conn)
            assert {"seed/one", "early/one", "late/one"} <= set(answerer.catalog.rows)
            assert "late-model" in answerer.vocabulary(conn).models
        assert "late/one" in str(db.ask("what did we try on late-model?").to_dict())


def test_one_outbox_drain_at_a_time_across_processes(tmp_path, pg_url):
    """Two replicas' drains (two indexers, one shared vector index) each index a job once between them."""
    import threading

    from elephant.retrieval.vectors.inmemory import MemoryIndex

    shared = MemoryIndex()
    with elephant.open(tmp_path / "a", database_url=pg_url, model="fake") as a, \
            elephant.open(tmp_path / "b", database_url=pg_url, model="fake") as b:
        a.indexer.vector_index = shared
        b.indexer.vector_index = shared
        records = [validate_record({"kind": "note", "key": f"drain/{n}", "title": f"note {n}", "body": "short"})
                   for n in range(240)]
        a.store.write_bulk(records, author="test")  # committed with their jobs, not drained yet
        start = threading.Barrier(2)
        reports = []

        def drain(db) -> None:
            start.wait()
            reports.append(db.indexer.process_outbox(batch=8))

        threads = [threading.Thread(target=drain, args=(db,)) for db in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert a.indexer.pending() == 0
        assert sum(r.applied for r in reports) == 240
        assert shared.upserts == 240  # one chunk each, embedded and written once
        assert len(a.indexer.indexed_state()) == 240


def test_a_drain_leaves_its_jobs_to_another_process_draining(tmp_path, pg_url):
    import time

    import psycopg

    from elephant.retrieval.indexer import DRAIN_LOCK_ID

    with elephant.open(tmp_path / "home", database_url=pg_url, model="fake") as db:
        db.store.write_bulk([validate_record(note("turn/one", "turn-model"))], author="test")
        plain = pg_url.replace("postgresql+psycopg://", "postgresql://", 1).split("?", 1)[0]
        with psycopg.connect(plain, autocommit=True) as other:  # another process's drain holds its turn
            other.execute("SELECT pg_advisory_lock(%s)", (DRAIN_LOCK_ID,))
            assert db.indexer.process_outbox(wait_s=0).applied == 0  # a search's lazy drain does not wait
            started = time.monotonic()
            assert db.indexer.process_outbox(wait_s=0.3).applied == 0  # a write's drain waits, then leaves
            assert time.monotonic() - started >= 0.3
            assert db.indexer.pending() == 1
            other.execute("SELECT pg_advisory_unlock(%s)", (DRAIN_LOCK_ID,))
        assert db.indexer.process_outbox().applied == 1
