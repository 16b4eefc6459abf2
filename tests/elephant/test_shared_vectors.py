"""The host's shared vector files (docs/design.md §7.1): processes on one home map one copy, follow each
other's writes by generation, and rebuild the files from SQL when they are torn, missing or stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import elephant
from elephant.retrieval import vectorfiles
from elephant.retrieval.vectors.matrix import VectorMatrix
from elephant.retrieval.vectors.shared import Batch, SharedMatrix

MODELS = ["ranker", "fraud-detector", "search-embedder"]


def note(n: int, *, title: str | None = None, model: str | None = None) -> dict[str, object]:
    return {"kind": "note" if n % 3 else "incident", "key": f"notes/{n}", "model": model or MODELS[n % 3],
            "title": title or f"note {n} on INT8 quantization and batching",
            "occurred_at": f"2025-{n % 12 + 1:02d}-01", "body": "latency went down " * (n % 5)}


def shared(db: elephant.Elephant) -> SharedMatrix:
    matrix = db.indexer.matrix()
    assert isinstance(matrix, SharedMatrix)
    return matrix


def results(db: elephant.Elephant) -> list[list[tuple[str, float]]]:
    """Dense rankings of a few queries and filters (scores rounded: equal files give equal floats)."""
    from elephant.retrieval.search import Filters, HybridSearch

    search = HybridSearch(db.store, db.indexer)
    out = []
    for query, filters in [("INT8 quantization", Filters()), ("batching", Filters.of(model="ranker")),
                           ("latency", Filters.of(kind="incident", since="2025-03-01", until="2025-10-01"))]:
        ranked = [(k, round(s, 5)) for k, s in search.dense(query, filters, n=10)]
        # Equal scores rank in row order, which a rebuild may change: ties at the cut are left out.
        cut = ranked[-1][1] if len(ranked) == 10 else -1.0
        out.append(sorted(((k, s) for k, s in ranked if s > cut), key=lambda item: (-item[1], item[0])))
    return out


def run_child(script: str, home: Path, **env: str) -> dict[str, object]:
    """A separate Python process on ``home``; its last stdout line is JSON."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          env={**os.environ, "ELEPHANT_HOME": str(home), **env}, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def file_mapping(smaps: str, path: str) -> dict[str, int]:
    """Sizes (kB) of the mapping of ``path`` in /proc/PID/smaps text."""
    out: dict[str, int] = {}
    inside = False
    for line in smaps.splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:
            inside = fields[-1] == path
        elif inside and fields and fields[0].endswith(":") and len(fields) >= 2 and fields[1].isdigit():
            out[fields[0][:-1]] = out.get(fields[0][:-1], 0) + int(fields[1])
    return out


CHILD = """
    import json, os, elephant, numpy as np
    from elephant.retrieval.search import Filters, HybridSearch
    db = elephant.open()
    db.put({"kind": "note", "key": "child/one", "model": "ranker", "title": "FP16 distillation by the child"})
    matrix = db.indexer.matrix()
    search = HybridSearch(db.store, db.indexer)
    found = [k for k, _ in search.dense("INT8 quantization", Filters.of(model="fraud-detector"), n=50)]
    matrix.top_all(np.ones(matrix.dim, np.float32), 5)  # touch every row
    path = str(matrix._vectors.filename)
    smaps = open("/proc/self/smaps").read()
    header = matrix.files.read_header(matrix.epoch)
    print(json.dumps({"type": type(matrix).__name__, "path": path, "found": found, "smaps": smaps,
                      "memmap": isinstance(matrix._vectors, np.memmap), "writeable": matrix._vectors.flags.writeable,
                      "file_generation": header.generation, "sql_generation": db.indexer.generation()}))
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_processes_share_one_mapped_copy_and_see_each_others_writes(tmp_path, backend):
    home = Path(os.environ["ELEPHANT_HOME"])
    with elephant.open() as db:
        db.put_many([note(n) for n in range(60)])
        matrix = shared(db)
        matrix.top_all(np.ones(matrix.dim, np.float32), 5)  # this process maps and touches every row too
        child = run_child(CHILD, home)
        # The child wrote through the same file: its append came before its commit.
        assert child["type"] == "SharedMatrix" and child["path"] == str(matrix._vectors.filename)
        assert child["file_generation"] == child["sql_generation"]
        assert child["memmap"] is True and child["writeable"] is False
        # It saw this process's writes, through the file.
        assert {f"notes/{n}" for n in range(1, 60, 3)} <= set(child["found"])  # type: ignore[arg-type]
        # Its pages of the file are the page cache's: shared with this process, none copied.
        mapping = file_mapping(str(child["smaps"]), str(child["path"]))
        assert mapping["Rss"] > 0 and mapping.get("Anonymous", 0) == 0
        assert mapping["Shared_Clean"] + mapping["Shared_Dirty"] > 0
        # And this process sees the child's write after the generation commit.
        db._last_drain = float("inf")
        from elephant.retrieval.search import Filters, HybridSearch

        ranked = HybridSearch(db.store, db.indexer).dense("FP16 distillation", Filters.of(model="ranker"), n=3)
        assert ranked[0][0] == "child/one"
        assert shared(db) is matrix and matrix.rows_for(["child/one"]).size == 1


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("damage", ["truncated", "deleted", "crashed mid-write", "lost dead marks"])
def test_damaged_files_are_rebuilt_from_sql_with_identical_results(tmp_path, backend, damage):
    with elephant.open() as db:
        db.put_many([note(n) for n in range(90)])
        shared(db)  # mapped before the rewrites: they append, and mark the rows they replace dead
        db.put_many([note(n, title=f"rewritten note {n} on batching") for n in range(0, 90, 4)])
        db.delete("notes/5")
        before = results(db)
        matrix = shared(db)
        epoch = matrix.epoch
    if damage == "truncated":  # a torn append: fewer rows than the header says
        os.truncate(epoch / "vectors", matrix.rows * matrix.dim * 4 // 2)
    elif damage == "deleted":
        import shutil

        shutil.rmtree(epoch.parents[1])
    elif damage == "crashed mid-write":  # the header's pending mark: a write never committed
        header = matrix.files.read_header(epoch)
        matrix.files.write_header(epoch, type(header)(header.dim, header.generation + 1, header.rows, header.names,
                                                      header.generation + 1))
    else:  # live rows disagree with SQL
        os.truncate(epoch / "dead", 0)
        os.truncate(epoch / "dead", matrix.rows * 8)
    with elephant.open() as db:
        assert results(db) == before
        rebuilt = shared(db)
        assert rebuilt.epoch != epoch or damage == "deleted"
        assert len(rebuilt) == rebuilt.rows  # a rebuild holds live rows only
        with db.store.read_connection() as conn:
            from sqlalchemy import func, select

            from elephant.storage.schema import index_chunks

            assert len(rebuilt) == conn.execute(select(func.sum(index_chunks.c.chunks))).scalar_one()


def test_reindex_builds_a_new_slot_and_removes_the_old_one(tmp_path):
    with elephant.open() as db:
        db.put_many([note(n) for n in range(40)])
        before = results(db)
        old = shared(db).files.directory
        assert old.name == "slot-0"
        db.reindex()
        assert not old.exists()
        assert results(db) == before
        assert shared(db).files.directory.name == "slot-1"


def test_compaction_keeps_live_rows_grouped_by_model(tmp_path, monkeypatch):
    monkeypatch.setattr(vectorfiles, "COMPACT_MIN_ROWS", 10)
    monkeypatch.setattr(vectorfiles.VectorFiles, "compact_soon", lambda *a, **k: None)  # run it here instead
    with elephant.open() as db:
        db.put_many([note(n) for n in range(60)])
        shared(db)
        for _round in range(2):
            db.put_many([note(n, title=f"round {_round} of note {n} on batching") for n in range(0, 60, 2)])
        before = results(db)
        matrix = shared(db)
        assert matrix.dead_fraction > vectorfiles.COMPACT_DEAD
        assert db.indexer._files is not None
        assert db.indexer._files.compact(matrix.files, str(db.embedder.fingerprint))
        assert results(db) == before  # this process still reads the old epoch: mapped, consistent
        db.indexer._matrix = None  # (it moves at the next generation; a fresh process opens the new one)
        assert results(db) == before
        compacted = shared(db)
        assert compacted.epoch != matrix.epoch and compacted.rows == len(compacted) == len(matrix)
        models = np.asarray(compacted._columns["model"][:compacted.rows])
        assert np.count_nonzero(np.diff(models)) == len(set(models.tolist())) - 1  # one run per model
        # Writes go on in the new epoch.
        db.put(note(1, title="after the compaction"))
        assert compacted.rows_for(["notes/1"]).size == 1 and compacted.generation == db.indexer.generation()


def test_a_write_that_rolls_back_leaves_the_files_as_they_were(tmp_path):
    with elephant.open() as db:
        db.put_many([note(n) for n in range(10)])
        matrix = shared(db)
        files = db.indexer._files
        assert files is not None
        header = matrix.files.read_header(matrix.epoch)
        dim = matrix.dim
        batch = Batch(["notes/1", "notes/new"], [1, 1], np.ones((2, dim), np.float32), ["note", "note"],
                      ["ranker", "ranker"], [None, None])
        with pytest.raises(RuntimeError), files.appending(matrix, matrix.generation + 1, batch):
            raise RuntimeError("the commit failed")
        assert matrix.files.read_header(matrix.epoch) == header
        assert len(matrix) == 10 and matrix.rows_for(["notes/1"]).size == 1


def test_the_applier_appends_before_its_commit_without_reading_sql(tmp_path, monkeypatch):
    with elephant.open() as db:
        db.put_many([note(n) for n in range(10)])
        matrix = shared(db)

        def no_catch_up(*args: object, **kwargs: object) -> None:
            raise AssertionError("the applier's own batch should not be read back from SQL")

        monkeypatch.setattr(vectorfiles.VectorFiles, "_catch_up", no_catch_up)
        db.put(note(3, title="a new title for three"))
        assert matrix.generation == db.indexer.generation()
        assert matrix.files.read_header(matrix.epoch).generation == matrix.generation
        assert shared(db) is matrix and len(matrix) == 10


def test_vectors_only_in_the_vector_index_fall_back_to_a_private_matrix(tmp_path):
    from sqlalchemy import update

    from elephant.retrieval.vectors.inmemory import MemoryIndex
    from elephant.storage.schema import index_chunks

    with elephant.open() as db:
        db.indexer.vector_index = MemoryIndex()
        db.put_many([note(n) for n in range(10)])
        with db.store.write_transaction() as conn:  # rows written before migration 0003
            conn.execute(update(index_chunks).values(vectors=None))
        db.indexer._matrix = None
        matrix = db.indexer.matrix()
        assert isinstance(matrix, VectorMatrix) and len(matrix) == 10
        assert db.indexer.shared_problem is not None and "notes/" in db.indexer.shared_problem


def test_a_private_matrix_when_shared_vectors_are_off(tmp_path, monkeypatch):
    monkeypatch.setenv("ELEPHANT_SHARED_VECTORS", "false")
    with elephant.open() as db:
        db.put_many([note(n) for n in range(10)])
        assert isinstance(db.indexer.matrix(), VectorMatrix)
        assert not (db.home / "vectors").exists()
