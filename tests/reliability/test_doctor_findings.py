"""Row 1 and `elephant doctor`: each finding the doctor can make (a parked job, a job stuck pending
after a drain, a lexical document that does not match its head) comes with its repair and exit 1;
`info` and `status` show parked jobs; `search`, `reindex` and `ingest` keep working while one is
parked; a 400-digit integer is refused through `elephant ingest` and `POST /v1/ingest` too."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.reliability.conftest import ready, record_count, run_cli
from tests.reliability.test_poisoned_jobs import poison

HUGE = "9" * 400


def parked_one(db: Any, key: str = "bad/parked") -> None:
    """A head the indexer cannot take, its job parked after its attempts, and a good record beside it."""
    db.indexer.retry_delays_s = (0.0,)
    poison(db, key)
    db.put({"kind": "note", "key": "good/beside", "title": "beside the parked one", "body": "narwhalword here"})
    db.process_outbox()
    assert db.index_status()["parked"] == 1


def doctor_json() -> tuple[int, dict[str, Any]]:
    result = run_cli("doctor", "--json", "--skip-model")
    return result.exit_code, json.loads(result.output)


def problem(data: dict[str, Any], check: str) -> dict[str, str]:
    found = [p for p in data["problems"] if p["check"] == check]
    assert found, data
    return found[0]


# ---------------------------------------------------------------- doctor: each finding, its repair, exit 1
def test_doctor_names_a_parked_job_with_its_reason_and_repair(db: Any) -> None:
    parked_one(db)
    code, data = doctor_json()
    assert code == 1 and data["ok"] is False
    found = problem(data, "parked")
    assert "bad/parked" in found["message"] and "ValueError" in found["message"]
    assert "write them again" in found["repair"] and "elephant reindex" in found["repair"]
    assert data["counts"]["parked_jobs"] == 1
    human = run_cli("doctor", "--skip-model")
    assert human.exit_code == 1
    assert "repair (parked)" in human.output and "bad/parked" in human.output


def test_doctor_names_a_job_still_pending_after_its_drain(db: Any) -> None:
    """A job that failed and waits out its backoff is stuck from the doctor's point of view."""
    poison(db, "bad/stuck")  # default delays: the doctor's own drain fails it once; it waits seconds
    code, data = doctor_json()
    assert code == 1
    found = problem(data, "outbox")
    assert "1 index job(s) still pending after a drain" in found["message"]
    assert "elephant status" in found["repair"]
    assert data["counts"]["pending_jobs"] == 1 and data["counts"]["parked_jobs"] == 0


def test_doctor_finds_a_lexical_document_that_does_not_match_its_head(db: Any, backend: str) -> None:
    db.put({"kind": "note", "key": "lex/changed", "title": "the stored title", "body": "ibexword in the body"})
    db.put({"kind": "note", "key": "lex/fine", "title": "untouched", "body": "left as it was"})
    db.process_outbox()
    assert run_cli("doctor", "--skip-model").exit_code == 0
    table = "lexical_fts" if backend == "sqlite" else "lexical_docs"
    with db.store.write_transaction() as conn:  # what an index write lost to a crash would leave
        conn.execute(text(f"UPDATE {table} SET text = 'an older text' WHERE key = 'lex/changed'"))
    code, data = doctor_json()
    assert code == 1
    found = problem(data, "lexical")
    assert "lex/changed" in found["message"] and "older version's text" in found["message"]
    assert "lex/fine" not in found["message"]
    assert "elephant reindex" in found["repair"]
    assert run_cli("reindex").exit_code == 0
    assert run_cli("doctor", "--skip-model").exit_code == 0


def test_doctor_finds_a_missing_lexical_document(db: Any, backend: str) -> None:
    db.put({"kind": "note", "key": "lex/gone", "title": "soon unindexed", "body": "yakword"})
    db.process_outbox()
    table = "lexical_fts" if backend == "sqlite" else "lexical_docs"
    with db.store.write_transaction() as conn:
        conn.execute(text(f"DELETE FROM {table} WHERE key = 'lex/gone'"))
    code, data = doctor_json()
    assert code == 1
    assert "1 live record(s) missing (lex/gone)" in problem(data, "lexical")["message"]


# ---------------------------------------------------------------- info and status show parked jobs
def test_info_and_status_show_a_parked_job(db: Any) -> None:
    parked_one(db)
    info = json.loads(run_cli("info", "--json").output)
    assert info["index_jobs"] == {"pending": 0, "parked": 1}
    human = run_cli("info")
    assert human.exit_code == 0
    assert "0 pending, 1 parked" in human.output and "elephant status" in human.output
    status = run_cli("status")
    assert status.exit_code == 1 and "parked: 1" in status.output and "bad/parked" in status.output


# ---------------------------------------------------------------- the CLI keeps working beside a parked job
def test_cli_search_works_while_a_job_is_parked(db: Any) -> None:
    parked_one(db)
    result = run_cli("search", "narwhalword", "--json")
    assert result.exit_code == 0, result.output
    assert [hit["key"] for hit in json.loads(result.output)["results"]][:1] == ["good/beside"]
    human = run_cli("search", "narwhalword")
    assert human.exit_code == 0 and "good/beside" in human.output
    assert "1 index job(s) parked" in human.output and "bad/parked v1" in human.output
    assert "elephant status" in human.output
    assert db.index_status()["parked"] == 1  # searching neither drops nor duplicates the dead letter


def test_cli_ingest_works_while_a_job_is_parked(db: Any, tmp_path: Path) -> None:
    parked_one(db)
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "after.yaml").write_text("kind: note\nkey: good/ingested\ntitle: t\nbody: dugongword\n",
                                       encoding="utf-8")
    result = run_cli("ingest", str(folder))
    assert result.exit_code == 0, result.output
    assert "good/ingested" in [h.key for h in db.search("dugongword", k=3).results]
    assert db.index_status()["parked"] == 1


def test_cli_reindex_while_the_cause_remains_reports_the_job(db: Any) -> None:
    """Reindex requeues the parked key; its cause is still there, so the job fails again and stays
    queued: reindex finishes (the rest is rebuilt) and says so rather than hiding it."""
    parked_one(db)
    result = run_cli("reindex", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["pending"] == 1
    human = run_cli("reindex")
    assert human.exit_code == 0
    assert "1 index job(s) still pending" in human.output and "elephant status" in human.output
    assert "good/beside" in [h.key for h in db.search("narwhalword", k=3).results]


# ---------------------------------------------------------------- row 1 through the ingest doors
def test_cli_ingest_of_a_400_digit_integer_fails_the_file_naming_the_field(db: Any, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "huge.yaml").write_text(f"kind: note\nkey: bad/huge\ntitle: t\nfields:\n  n: {HUGE}\n",
                                      encoding="utf-8")
    (folder / "fine.yaml").write_text("kind: note\nkey: good/fine\ntitle: t\nbody: tapirword\n", encoding="utf-8")
    result = run_cli("ingest", str(folder))
    assert result.exit_code == 1, result.output
    assert "huge.yaml" in result.output and "fields.n" in result.output
    assert record_count(db) == 1  # only fine.yaml was written
    assert "good/fine" in [h.key for h in db.search("tapirword", k=3).results]
    assert db.index_status()["parked"] == 0


def test_rest_ingest_of_a_400_digit_integer_fails_the_file_naming_the_field(api: Any) -> None:
    db = api.app.state.ctx.db
    files = [("files", ("huge.yaml", io.BytesIO(f"kind: note\nkey: bad/huge\ntitle: t\nfields:\n  n: {HUGE}\n"
                                                   .encode()), "application/yaml")),
             ("files", ("fine.yaml", io.BytesIO(b"kind: note\nkey: good/fine\ntitle: t\nbody: tapirword\n"),
                        "application/yaml"))]
    response = api.post("/v1/ingest", files=files)
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["ok"] is False
    assert "huge.yaml" in json.dumps(body["failed"]) and "fields.n" in json.dumps(body["failed"])
    assert record_count(db) == 1
    found = api.post("/v1/search", json={"query": "tapirword"})
    assert found.status_code == 200 and found.json()["results"][0]["key"] == "good/fine"
    answer = ready(api)
    assert answer.status_code == 200, answer.text


def test_a_stored_400_digit_integer_no_longer_stops_the_indexer(db: Any) -> None:
    """The original shape of row 1: a head holding an integer no float can hold (stored before
    validation refused it), once an overflow in the indexer that blocked every later job. The
    indexer now takes it like any record, and search, with and without `where`, works around it."""
    from sqlalchemy import insert, update

    from elephant.storage.schema import heads, outbox
    from elephant.timeutil import format_ts, utc_now

    db.indexer.retry_delays_s = (0.0,)
    db.put({"kind": "note", "key": "bad/huge", "title": "soon huge"})
    huge = '{"kind": "note", "key": "bad/huge", "title": "huge saigaword", "fields": {"n": ' + HUGE + "}}"
    with db.store.write_transaction() as conn:
        conn.execute(update(heads).where(heads.c.key == "bad/huge").values(envelope=huge))
        conn.execute(insert(outbox).values(key="bad/huge", version=1, op="upsert", created_at=format_ts(utc_now())))
    db.put({"kind": "note", "key": "good/after", "title": "after", "body": "saigaword", "fields": {"n": 2}})
    db.process_outbox()
    assert {"good/after", "bad/huge"} <= {h.key for h in db.search("saigaword", k=5).results}
    assert [h.key for h in db.search("saigaword", where=["n < 5"], k=5).results] == ["good/after"]
    status = db.index_status()
    assert status["pending"] == 0 and status["parked"] == 0
    assert run_cli("doctor", "--skip-model").exit_code == 0
