"""Version rules of docs/design.md §4 on SQLite and PostgreSQL (the `db` fixture runs each test on both)."""

from __future__ import annotations

import time

import pytest

from elephant.errors import Conflict, InvalidRecord, NotFound, UsageError


def rec(key: str = "ranker/int8", **changes: object) -> dict:
    base = {
        "kind": "optimization",
        "key": key,
        "title": "INT8 dynamic quantization of ranker v3",
        "model": "ranker",
        "model_version": "v3",
        "occurred_at": "2026-03-12T10:00:00Z",
        "tags": ["latency", "onnx"],
        "fields": {
            "technique": "quantization_int8",
            "baseline": {"latency_ms_p99": 45, "accuracy": 0.412},
            "result": {"latency_ms_p99": 18, "accuracy": 0.408},
            "accuracy_metric": "ndcg@10",
            "outcome": "in_progress",
            "calibration_set": "march-clicks",  # unknown extra field: kept
        },
    }
    base.update(changes)
    return base


def test_new_key_is_v1_and_keeps_extra_fields(db):
    result = db.put(rec())
    assert (result.version, result.status) == (1, "created")
    stored = db.get("ranker/int8")
    assert stored.version == 1
    assert stored.envelope["fields"]["calibration_set"] == "march-clicks"
    assert stored.envelope["fields"]["baseline"]["latency_ms_p99"] == 45.0
    assert stored.content_hash == result.content_hash
    assert stored.to_dict()["recorded_at"] == result.recorded_at


def test_changed_content_is_next_version_and_same_content_is_unchanged(db):
    db.put(rec())
    again = db.put(rec())
    assert (again.version, again.status) == (1, "unchanged")
    changed = db.put(rec(fields={**rec()["fields"], "outcome": "rolled_back"}))
    assert (changed.version, changed.status) == (2, "updated")
    assert [v.version for v in db.history("ranker/int8")] == [1, 2]
    assert db.get("ranker/int8").envelope["fields"]["outcome"] == "rolled_back"
    assert db.get("ranker/int8", version=1).envelope["fields"]["outcome"] == "in_progress"


def test_source_is_provenance_not_content(db):
    db.put(rec(source={"path": "a.yaml"}))
    assert db.put(rec(source={"path": "b.yaml"})).status == "unchanged"


def test_occurred_at_is_world_time_separate_from_recorded_at(db):
    db.put(rec(occurred_at="2025-01-02"))
    stored = db.get("ranker/int8")
    assert stored.envelope["occurred_at"] == "2025-01-02"
    assert stored.recorded_at.startswith(time.strftime("%Y", time.gmtime()))


def test_tombstone_then_revival(db):
    db.put(rec())
    deleted = db.delete("ranker/int8", message="obsolete")
    assert (deleted.version, deleted.status) == (2, "deleted")
    with pytest.raises(NotFound, match="deleted"):
        db.get("ranker/int8")
    assert db.get("ranker/int8", version=1).version == 1
    assert db.get("ranker/int8", version=2).is_deleted
    history = db.history("ranker/int8")
    assert [h.is_deleted for h in history] == [False, True]
    revived = db.put(rec())  # same content as v1: still a new version, because the key was deleted
    assert (revived.version, revived.status) == (3, "updated")
    assert db.get("ranker/int8").version == 3
    with pytest.raises(NotFound):
        db.delete("never/existed")


def test_delete_twice_is_not_found(db):
    db.put(rec())
    db.delete("ranker/int8")
    with pytest.raises(NotFound, match="already deleted"):
        db.delete("ranker/int8")


def test_as_of_reads_between_writes(db):
    db.put(rec())
    time.sleep(0.01)
    v1_time = db.history("ranker/int8")[0].recorded_at
    db.put(rec(title="INT8, second try"))
    v2_time = db.history("ranker/int8")[1].recorded_at
    assert v1_time < v2_time
    # Between the two writes Elephant knew v1.
    between = v1_time[:-1] + "9Z" if v1_time[-2] != "9" else v1_time
    assert db.get("ranker/int8", as_of=between).version == 1
    assert db.get("ranker/int8", as_of=v1_time).version == 1
    assert db.get("ranker/int8", as_of=v2_time).version == 2
    assert db.get("ranker/int8", as_of="2999-01-01").version == 2
    with pytest.raises(NotFound, match="did not exist yet"):
        db.get("ranker/int8", as_of="2000-01-01T00:00:00Z")
    with pytest.raises(UsageError):
        db.get("ranker/int8", as_of="yesterday-ish")
    db.delete("ranker/int8")
    with pytest.raises(NotFound):
        db.get("ranker/int8", as_of="2999-01-01")


def test_diff_names_changed_field_paths(db):
    db.put(rec())
    changed = rec(tags=["latency"])
    changed["fields"] = {**changed["fields"], "outcome": "rolled_back",
                         "result": {"latency_ms_p99": 19, "accuracy": 0.408}, "reason": "calibration drift"}
    del changed["fields"]["calibration_set"]
    db.put(changed)
    diff = db.diff("ranker/int8", 1, 2)
    by_path = {c.path: c for c in diff.changes}
    assert by_path["fields.outcome"].change == "changed"
    assert (by_path["fields.outcome"].before, by_path["fields.outcome"].after) == ("in_progress", "rolled_back")
    assert by_path["fields.result.latency_ms_p99"].after == 19.0
    assert by_path["fields.reason"].change == "added"
    assert by_path["fields.calibration_set"].change == "removed"
    assert by_path["tags[1]"].change == "removed"
    assert "title" not in by_path
    assert db.diff("ranker/int8", 2, 1).to_dict()["changes"][0]["path"] == diff.changes[0].path
    with pytest.raises(NotFound):
        db.diff("ranker/int8", 1, 9)


def test_revert_writes_a_new_version_equal_to_n(db):
    db.put(rec())
    db.put(rec(title="second"))
    db.put(rec(title="third"))
    result = db.revert("ranker/int8", 1, message="back to the first")
    assert (result.version, result.status) == (4, "reverted")
    assert db.get("ranker/int8").content_hash == db.get("ranker/int8", version=1).content_hash
    assert db.history("ranker/int8")[-1].message == "back to the first"
    assert db.revert("ranker/int8", 1).status == "unchanged"
    with pytest.raises(NotFound):
        db.revert("ranker/int8", 99)


def test_optimistic_concurrency(db):
    db.put(rec())
    assert db.put(rec(title="b"), expected_version=1).version == 2
    with pytest.raises(Conflict, match="expected v1"):
        db.put(rec(title="c"), expected_version=1)
    assert db.get("ranker/int8").envelope["title"] == "b"
    with pytest.raises(Conflict):
        db.delete("ranker/int8", expected_version=1)
    with pytest.raises(Conflict):
        db.put(rec(key="new/key"), expected_version=3)
    assert db.put(rec(key="new/key"), expected_version=0).version == 1  # 0 = must not exist yet
    assert len(db.history("ranker/int8")) == 2


def test_batch_writes_valid_records_and_reports_invalid_ones(db):
    report = db.put_many([rec("a/one"), {"kind": "benchmark", "key": "a/two", "title": "t",
                                         "fields": {"latency_ms": {"p99": "fast"}}}, rec("a/three")])
    assert not report.ok
    assert [r.key for r in report.results] == ["a/one", "a/three"]
    assert report.problems[0].key == "a/two" and report.problems[0].field == "fields.latency_ms.p99"
    with pytest.raises(NotFound):
        db.get("a/two")


def test_batch_with_stale_version_writes_nothing(db):
    db.put(rec("b/one"))
    with pytest.raises(Conflict):
        db.store.write_records([db_record(rec("b/two")), db_record(rec("b/one", title="x"))], author="t",
                               expected_versions={"b/one": 5})
    with pytest.raises(NotFound):
        db.get("b/two")


def db_record(data: dict):
    from elephant.records.envelope import validate_record

    return validate_record(data)


def test_invalid_records_never_reach_the_store(db):
    with pytest.raises(InvalidRecord) as info:
        db.put({"kind": "incident", "key": "x/y", "title": "t", "fields": {"detected_at": "not a date"}})
    assert info.value.problems[0].field == "fields.detected_at"
    assert db.counts()["_versions"] == 0


def test_counts_and_iteration(db):
    db.put(rec("c/1"))
    db.put(rec("c/2", kind="note", fields={}))
    db.delete("c/2")
    counts = db.counts()
    assert counts["optimization"] == 1 and counts["_records"] == 1 and counts["_deleted"] == 1
    assert counts["_versions"] == 3
    assert [r.key for r in db.store.iter_current()] == ["c/1"]
