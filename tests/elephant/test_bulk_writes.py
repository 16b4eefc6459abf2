"""The bulk write path (issue 16): batched statements give exactly what one-by-one writes give and
round-trip through export/import, on both databases (the SIGKILL test is in tests/reliability)."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import func, select

from elephant.records.envelope import validate_record
from elephant.storage.schema import heads, outbox, versions
from elephant.storage.store import BULK_BATCH


def generated(count: int, *, seed: int = 0, title: str = "run") -> list[dict[str, Any]]:
    """Benchmarks and notes over a few series, so that regression checks have baselines to find."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        model = f"m{i % 7}"
        if i % 3 == 0:
            out.append({"kind": "note", "key": f"{model}/note/{i:05d}", "model": model,
                        "title": f"{title} note {i} {seed}", "body": f"observed {i}"})
            continue
        p99 = 10.0 + ((i * 37 + seed * 11) % 90)
        out.append({"kind": "benchmark", "key": f"{model}/bench/{i:05d}", "model": model,
                    "title": f"{title} {model} bench {i}", "occurred_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "fields": {"hardware": ["a10g", "t4"][i % 2], "scenario": "server",
                               "latency_ms": {"p50": p99 / 2, "p99": p99}, "throughput_qps": 100 + i % 50}})
    return out


def dump(db: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    db.export(out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def shape(db: Any) -> list[tuple[Any, ...]]:
    """What must agree between two homes written the same way: every version's number, hash and state."""
    with db.store.read_connection() as conn:
        return [tuple(r) for r in conn.execute(select(versions.c.key, versions.c.version, versions.c.content_hash,
                                                      versions.c.is_tombstone)
                                               .order_by(versions.c.key, versions.c.version))]


def test_bulk_matches_one_by_one_and_round_trips(make_db: Any) -> None:
    bulk, single = make_db("bulk"), make_db("single")
    first = generated(600)
    changed = [{**r, "title": r["title"] + " (rerun)"} if i % 4 == 0 else r for i, r in enumerate(generated(600))]
    report = bulk.put_many(first)
    assert report.ok and report.counts()["created"] == 600
    for record in first:
        single.put(record)
    again = bulk.put_many(changed)
    counts = again.counts()
    assert counts["updated"] == 150 and counts["unchanged"] == 450
    for record in changed:
        single.put(record)
    gone = [r["key"] for r in first[:30]]
    for key in gone:
        bulk.delete(key)
        single.delete(key)
    revived = bulk.put_many(first[:10])  # writing a deleted key revives it at the next version
    assert {r.status for r in revived.results} == {"updated"}
    assert {r.version for r in revived.results} >= {3}
    for record in first[:10]:
        single.put(record)
    assert shape(bulk) == shape(single)
    # Regression findings: the same ones, at the same versions, whichever way the benchmarks came in.
    assert [f.key for f in bulk.regressions(status="all")] == [f.key for f in single.regressions(status="all")]
    assert bulk.regressions(status="all"), "the generated series hold regressions"

    exported = dump(bulk)
    target = make_db("target")
    target.import_([json.dumps(line) for line in exported])
    assert dump(target) == exported
    assert shape(target) == shape(bulk)
    with target.store.read_connection() as conn:
        assert conn.execute(select(func.count()).select_from(heads)).scalar_one() == len(
            {line["key"] for line in exported if "key" in line})


def test_batches_commit_separately_and_each_is_whole(db: Any) -> None:
    records = [validate_record(r) for r in generated(BULK_BATCH * 2 + 7)]
    seen: list[int] = []
    results = db.store.write_bulk(records, author="t", on_batch=seen.append)
    assert seen == [BULK_BATCH, BULK_BATCH, 7]
    assert [r.version for r in results] == [1] * len(records)
    times = [r.recorded_at for r in results]
    assert times == sorted(times) and len(set(times)) == len(times)  # strictly increasing in record order
    with db.store.read_connection() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() in (0, len(records) + len(
            db.regressions(status="all")))


def test_a_key_twice_in_one_ingest_unit_is_written_in_order(db: Any) -> None:
    record = validate_record(generated(1)[0])
    later = validate_record({**generated(1)[0], "title": "second"})
    with db.store.write_transaction() as conn:
        results = db.store.write_in(conn, [record, later], author="t")
    assert [(r.version, r.status) for r in results] == [(1, "created"), (2, "updated")]


def test_a_benchmark_compares_with_the_one_before_it_in_the_same_batch(db: Any) -> None:
    base = {"kind": "benchmark", "model": "ranker", "fields": {"hardware": "t4", "scenario": "server",
                                                               "latency_ms": {"p99": 10.0}}}
    batch = [{**base, "key": "ranker/b1", "title": "first", "occurred_at": "2025-01-01"},
             {**base, "key": "ranker/b2", "title": "second", "occurred_at": "2025-02-01",
              "fields": {**base["fields"], "latency_ms": {"p99": 20.0}}},
             {"kind": "note", "key": "ranker/n", "model": "ranker", "title": "filler"}]
    assert db.put_many(batch).ok
    findings = db.regressions()
    assert [f.key for f in findings] == ["regression/ranker/b2"]
    assert "ranker/b1@1" in json.dumps(findings[0].to_dict())


def test_a_few_thousand_records_round_trip_exactly(make_db: Any) -> None:
    source = make_db("source")
    first = generated(3000)
    assert source.put_many(first).ok
    assert source.put_many([{**r, "title": r["title"] + " (rerun)"} for r in first[::5]]).ok
    for record in first[1:200:20]:
        source.delete(record["key"])
    exported = dump(source)
    assert sum(1 for line in exported if line.get("deleted")) == 10
    target = make_db("target")
    report = target.import_([json.dumps(line) for line in exported])
    assert report["imported"] == len({line["key"] for line in exported if "key" in line})
    assert dump(target) == exported  # versions, hashes, recorded_at, tombstones, envelopes
    assert shape(target) == shape(source)
