"""Row 11: a lost or truncated embedded Chroma directory is detected (at open, in /readyz, by the
doctor), and `reindex` rebuilds into fresh storage, swapping only when the rebuild succeeded."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import elephant
from elephant.api.app import create_app
from elephant.errors import IndexUnavailable
from elephant.retrieval.doctor import check_store
from elephant.settings import Settings

REPO = Path(__file__).resolve().parents[2]


FILL = """
import sys
import elephant
from elephant.retrieval.doctor import check_store
with elephant.open(sys.argv[1]) as db:
    for i in range(int(sys.argv[2])):
        db.put({"kind": "note", "key": f"loss/{i}", "title": f"record {i}", "body": f"okapiword{i} text"})
    assert db.indexer.pending() == 0
    assert check_store(db, verify_model=False).ok
"""


def fill(home: Path, n: int = 6) -> None:
    """Written by another process: Chroma caches an open directory per process, and a deleted file it
    holds open would still answer here."""
    subprocess.run([sys.executable, "-c", FILL, str(home), str(n)], check=True, cwd=REPO, timeout=120)


def wait_ready(client: TestClient) -> dict[str, Any]:
    """/readyz once the app's background warm-up is over."""
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = client.get("/readyz").json()
        if body["checks"].get("model") != "warming up" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_a_deleted_chroma_directory_is_detected_and_reindex_repairs_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("ELEPHANT_HOME", str(home))
    fill(home)
    shutil.rmtree(home / "chroma")
    with TestClient(create_app(Settings())) as client:
        db = client.app.state.ctx.db  # type: ignore[attr-defined]
        db.indexer.ready_index()  # open the (now empty) index as a write would
        assert db.indexer.vector_problem and "lost" in db.indexer.vector_problem
        ready = wait_ready(client)
        assert ready["status"] == "degraded" and "reindex" in ready["checks"]["vectors"]
        report = check_store(db, verify_model=False)
        assert not report.ok and "vectors" in {p.check for p in report.problems}
        db.reindex()
        assert check_store(db, verify_model=False).ok
        assert wait_ready(client)["status"] == "ready"
        assert (home / "chroma-1").is_dir()
        assert "loss/3" in [h.key for h in db.search("okapiword3", k=3).results]


def test_a_failed_rebuild_leaves_the_old_index_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("ELEPHANT_HOME", str(home))
    fill(home)
    with elephant.open(home) as db:
        before = db.indexer.indexed_state()
        real_open = db.indexer._open_slot

        class Failing:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

            def upsert(self, *_args: Any) -> None:
                raise IndexUnavailable("Chroma upsert failed (the disk is full)")

        db.indexer._open_slot = lambda slot: Failing(real_open(slot)) if slot > 0 else real_open(slot)
        with pytest.raises(IndexUnavailable):
            db.reindex()
        assert db.indexer.indexed_state() == before
        assert db.indexer.active_slot() == 0
        assert not (home / "chroma-1").exists()
        assert check_store(db, verify_model=False).ok
        assert "loss/2" in [h.key for h in db.search("okapiword2", k=3).results]


def test_another_process_follows_a_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("ELEPHANT_HOME", str(home))
    fill(home, 3)
    with elephant.open(home) as first, elephant.open(home) as second:
        second.indexer.ready_index()
        first.reindex()
        second.put({"kind": "note", "key": "loss/after", "title": "after the rebuild", "body": "quollword"})
        assert second.indexer.active_slot() == 1 and second.indexer._slot == 1
        assert check_store(first, verify_model=False).ok


def test_doctor_command_reports_and_exits_1_until_repaired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.reliability.conftest import run_cli

    home = tmp_path / "home"
    monkeypatch.setenv("ELEPHANT_HOME", str(home))
    fill(home, 4)  # the writer process checked the doctor passes
    shutil.rmtree(home / "chroma")
    broken = run_cli("doctor", "--json")
    assert broken.exit_code == 1
    data = json.loads(broken.output)
    assert data["ok"] is False and any(p["check"] == "vectors" and "reindex" in p["repair"] for p in data["problems"])
    human = run_cli("doctor")
    assert human.exit_code == 1 and "elephant reindex" in human.output
    assert run_cli("reindex").exit_code == 0
    assert run_cli("doctor").exit_code == 0


def truncate(path: Path, keep: float) -> None:
    with path.open("r+b") as handle:
        handle.truncate(int(path.stat().st_size * keep))


def test_a_chroma_database_truncated_to_nothing_is_detected_and_reindex_repairs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Truncated, not deleted: the directory and its files are still there, the vectors are not."""
    home = tmp_path / "home"
    monkeypatch.setenv("ELEPHANT_HOME", str(home))
    fill(home)
    truncate(home / "chroma" / "chroma.sqlite3", 0)
    with TestClient(create_app(Settings())) as client:
        db = client.app.state.ctx.db  # type: ignore[attr-defined]
        written = client.post("/v1/records", json={"kind": "note", "key": "loss/new", "title": "after",
                                                   "body": "gerenukword"})
        assert written.status_code == 201  # the write opens the index, as any write does
        ready = wait_ready(client)
        assert ready["status"] == "degraded"
        vectors = ready["checks"]["vectors"]
        assert "truncated Chroma directory" in vectors and "elephant reindex" in vectors
        report = check_store(db, verify_model=False)
        assert not report.ok and "vectors" in {p.check for p in report.problems}
        db.reindex()
        assert check_store(db, verify_model=False).ok
        assert wait_ready(client)["status"] == "ready"
        assert "loss/4" in [h.key for h in db.search("okapiword4", k=3).results]


def test_a_half_truncated_chroma_database_is_named_in_readyz_and_search(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed Chroma database cannot even be opened: writes still commit, search says why it is
    degraded, /readyz names the reason, and the doctor and `reindex` (into fresh storage) repair it."""
    from tests.reliability.conftest import run_cli

    home = tmp_path / "home"
    monkeypatch.setenv("ELEPHANT_HOME", str(home))
    fill(home)
    truncate(home / "chroma" / "chroma.sqlite3", 0.5)
    with TestClient(create_app(Settings())) as client:
        written = client.post("/v1/records", json={"kind": "note", "key": "loss/new", "title": "after",
                                                   "body": "gerenukword"})
        assert written.status_code == 201
        found = client.post("/v1/search", json={"query": "gerenukword"}).json()
        assert found["degraded"] is True and "Chroma" in found["reason"]
        assert client.get("/v1/records/loss/new").status_code == 200  # stored; its index job waits
        ready = wait_ready(client)
        assert ready["status"] != "ready"
        assert "Chroma" in ready["checks"]["index"] and str(home / "chroma") in ready["checks"]["index"]
    doctor = run_cli("doctor", "--skip-model")
    assert doctor.exit_code == 1 and "elephant reindex" in doctor.output
    assert run_cli("reindex").exit_code == 0
    assert run_cli("doctor", "--skip-model").exit_code == 0


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_readyz_finds_lost_vectors_before_anything_opens_chroma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                damage: str) -> None:
    """A restarted server whose searches never open Chroma (a small store's do not) still says the
    vectors are gone, from the directory's files, before any write opens the index."""
    home = tmp_path / "home"
    monkeypatch.setenv("ELEPHANT_HOME", str(home))
    fill(home)
    if damage == "deleted":
        shutil.rmtree(home / "chroma")
    else:
        truncate(home / "chroma" / "chroma.sqlite3", 0)
    with TestClient(create_app(Settings())) as client:
        ready = wait_ready(client)
        assert ready["status"] == "degraded", ready
        vectors = ready["checks"]["vectors"]
        assert "6 chunk vectors the store indexed are lost" in vectors and "elephant reindex" in vectors
        assert client.app.state.ctx.db.indexer._index is None  # type: ignore[attr-defined]  # judged from files
    from tests.reliability.conftest import run_cli

    assert run_cli("reindex").exit_code == 0
    with TestClient(create_app(Settings())) as client:
        assert wait_ready(client)["status"] == "ready"
