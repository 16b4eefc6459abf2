"""Export -> import reproduces the history exactly, tombstones and reverts included."""

from __future__ import annotations

import io
import json

import pytest

from elephant.errors import ImportConflict, InvalidRecord


def build_history(db) -> None:
    db.put({"kind": "note", "key": "x/a", "title": "one"})
    db.put({"kind": "note", "key": "x/a", "title": "two"}, message="second")
    db.delete("x/a")
    db.put({"kind": "note", "key": "x/a", "title": "three"})
    db.revert("x/a", 1)
    db.put({"kind": "benchmark", "key": "x/b", "title": "bench", "fields": {"latency_ms": {"p99": 12}}})
    db.delete("x/b")


def snapshot(db) -> list[dict]:
    out = io.StringIO()
    db.export(out)
    return [json.loads(line) for line in out.getvalue().splitlines()[1:]]


def test_round_trip_into_empty_home(db, make_db):
    build_history(db)
    out = io.StringIO()
    counts = db.export(out)
    assert counts == {"keys": 2, "versions": 7}
    with make_db("copy") as copy:
        report = copy.import_(out.getvalue().splitlines(), name="backup.jsonl")
        assert report["imported"] == 2
        assert snapshot(copy) == snapshot(db)
        assert copy.get("x/a").envelope["title"] == "one"
        assert copy.get("x/b", version=2).is_deleted
        # importing the same file again is a no-op: identical histories are not conflicts
        again = copy.import_(out.getvalue().splitlines(), name="backup.jsonl")
        assert again["identical"] == 2 and again["imported"] == 0
        # and the store keeps working after an import
        assert copy.put({"kind": "note", "key": "x/a", "title": "four"}).version == 6


def test_import_refuses_conflicting_keys_unless_told(db, make_db):
    build_history(db)
    out = io.StringIO()
    db.export(out)
    with make_db("other") as other:
        other.put({"kind": "note", "key": "x/a", "title": "different"})
        with pytest.raises(ImportConflict, match="x/a"):
            other.import_(out.getvalue().splitlines(), name="b.jsonl")
        assert other.counts()["_versions"] == 1  # nothing written
        report = other.import_(out.getvalue().splitlines(), name="b.jsonl", on_conflict="skip")
        assert report["skipped_keys"] == ["x/a"] and report["imported"] == 1


def test_import_rejects_tampered_or_gappy_files(db, make_db):
    build_history(db)
    out = io.StringIO()
    db.export(out)
    lines = out.getvalue().splitlines()
    tampered = lines[:]
    entry = json.loads(tampered[1])
    entry["envelope"]["title"] = "edited"
    tampered[1] = json.dumps(entry)
    with make_db("t") as target:
        with pytest.raises(InvalidRecord, match="content_hash"):
            target.import_(tampered, name="t.jsonl")
        with pytest.raises(InvalidRecord, match="without gaps"):
            target.import_([lines[0], lines[1], lines[3]], name="g.jsonl")
        with pytest.raises(InvalidRecord, match="malformed JSON"):
            target.import_([lines[0], "{not json"], name="m.jsonl")
        assert target.counts()["_versions"] == 0
