"""Row 1 (and 2's indexer side): one record the indexer cannot take is retried, then parked with its
reason, and never blocks the jobs behind it; parked jobs show in /readyz, /metrics and `elephant status`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from elephant.api.app import create_app
from elephant.settings import Settings
from elephant.storage.schema import heads, outbox
from elephant.timeutil import format_ts, utc_now
from tests.reliability.conftest import run_cli


def poison(db: Any, key: str) -> None:
    """A stored head the indexer cannot render (a time that is no time), with its index job: what a
    record that slipped past validation looks like to the indexer."""
    db.put({"kind": "note", "key": key, "title": "soon to be poisoned"})
    bad = {"kind": "note", "key": key, "title": "poisoned", "occurred_at": "not a time at all"}
    with db.store.write_transaction() as conn:
        conn.execute(update(heads).where(heads.c.key == key).values(envelope=json.dumps(bad)))
        conn.execute(insert(outbox).values(key=key, version=1, op="upsert", created_at=format_ts(utc_now())))


def test_a_poisoned_job_is_parked_and_later_records_stay_searchable(db: Any) -> None:
    db.indexer.retry_delays_s = (0.0,)
    poison(db, "bad/poisoned")
    for n in range(3):
        db.put({"kind": "note", "key": f"good/{n}", "title": f"uniqueword{n} after the poison",
                "body": f"zebracorn{n} findable"})
    db.process_outbox()
    for n in range(3):
        found = db.search(f"zebracorn{n}", k=3)
        assert f"good/{n}" in [hit.key for hit in found.results]
        assert not found.degraded
    status = db.index_status()
    assert status["pending"] == 0
    assert status["parked"] == 1
    job = status["parked_jobs"][0]
    assert job["key"] == "bad/poisoned" and job["attempts"] == 3
    assert "ValueError" in job["reason"]


def test_a_failing_job_waits_out_its_backoff_without_blocking_others(db: Any) -> None:
    poison(db, "bad/waiting")  # default delays: the first failure schedules a retry seconds later
    db.put({"kind": "note", "key": "good/after", "title": "after the bad one", "body": "quokkaword"})
    report = db.indexer.process_outbox()
    assert report.error is None
    status = db.index_status()
    assert status["parked"] == 0 and status["pending"] == 1  # the bad one, waiting
    assert "good/after" in [h.key for h in db.search("quokkaword", k=3).results]


def test_writing_a_parked_key_again_clears_its_dead_letter(db: Any) -> None:
    db.indexer.retry_delays_s = (0.0,)
    poison(db, "bad/fixable")
    db.process_outbox()
    assert db.index_status()["parked"] == 1
    db.put({"kind": "note", "key": "bad/fixable", "title": "fixed now", "body": "wombatword"})
    assert db.index_status()["parked"] == 0
    assert "bad/fixable" in [h.key for h in db.search("wombatword", k=3).results]


def test_reindex_requeues_parked_keys(db: Any) -> None:
    db.indexer.retry_delays_s = (0.0,)
    poison(db, "bad/reindexed")
    db.process_outbox()
    assert db.index_status()["parked"] == 1
    with db.store.write_transaction() as conn:  # the cause is mended (here: the row repaired)
        conn.execute(update(heads).where(heads.c.key == "bad/reindexed").values(
            envelope=json.dumps({"kind": "note", "key": "bad/reindexed", "title": "mended"})))
    db.reindex()
    assert db.index_status()["parked"] == 0
    assert "bad/reindexed" in db.indexer.indexed_state()


@pytest.mark.postgres
def test_postgres_nul_in_a_stored_body_is_parked_not_blocking(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 2's indexer side: PostgreSQL text cannot hold NUL; such a row (written before validation
    refused it) used to fail the lexical upsert of every batch."""
    import elephant

    monkeypatch.setenv("ELEPHANT_DATABASE_URL", pg_url)
    with elephant.open() as db:
        db.indexer.retry_delays_s = (0.0,)
        db.put({"kind": "note", "key": "bad/nul", "title": "nul body"})
        with db.store.write_transaction() as conn:
            conn.execute(update(heads).where(heads.c.key == "bad/nul").values(
                envelope=json.dumps({"kind": "note", "key": "bad/nul", "title": "nul", "body": "a\x00b"})))
            conn.execute(insert(outbox).values(key="bad/nul", version=1, op="upsert", created_at=format_ts(utc_now())))
        db.put({"kind": "note", "key": "good/pg", "title": "after", "body": "platypusword"})
        db.process_outbox()
        assert db.index_status()["parked"] == 1
        assert "good/pg" in [h.key for h in db.search("platypusword", k=3).results]
        assert "\x00" not in db.index_status()["parked_jobs"][0]["reason"]


def test_parked_jobs_show_in_readyz_metrics_and_status(backend: str) -> None:
    with TestClient(create_app(Settings())) as client:
        db = client.app.state.ctx.db  # type: ignore[attr-defined]
        db.indexer.retry_delays_s = (0.0,)
        poison(db, "bad/visible")
        db.process_outbox()
        assert client.app.state.ctx.warmed.wait(60)  # type: ignore[attr-defined]  # "warming up" is a 503
        ready = client.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        assert "bad/visible" in body["checks"]["outbox"] and "parked" in body["checks"]["outbox"]
        metrics = client.get("/metrics").text
        assert "elephant_outbox_parked 1.0" in metrics
    result = run_cli("status")
    assert result.exit_code == 1
    assert "bad/visible" in result.output and "parked: 1" in result.output
    data = json.loads(run_cli("status", "--json").output)
    assert data["ok"] is False and data["parked"] == 1 and data["parked_jobs"][0]["key"] == "bad/visible"
