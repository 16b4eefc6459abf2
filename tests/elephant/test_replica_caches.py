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
