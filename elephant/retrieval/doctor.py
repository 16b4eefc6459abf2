"""``elephant doctor``: the store checked against its indexes, each problem with how to repair it.

What it verifies (issue 20): every live key is in the lexical index with its head's text and in the
vector index at its head version with the right number of chunks; the vector index holds exactly the
chunk vectors the SQL bookkeeping counts; no index job is parked or stuck; every model file matches
the sha256 its manifest records. It reads everything and writes nothing but an outbox drain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from elephant.errors import ElephantError
from elephant.retrieval.documents import render_chunks, render_lexical
from elephant.retrieval.vectors import chunk_id
from elephant.storage.schema import heads, index_chunks

REINDEX = "run `elephant reindex` (it rebuilds both indexes from the store and swaps them in on success)"
SHOWN = 5  # keys named per problem


@dataclass
class Finding:
    check: str
    message: str
    repair: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message, "repair": self.repair}


@dataclass
class DoctorReport:
    checks: dict[str, str] = field(default_factory=dict)  # check → "ok" or a one-line summary
    problems: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, check: str, message: str, repair: str) -> None:
        self.checks[check] = message
        self.problems.append(Finding(check, message, repair))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks, "counts": self.counts,
                "problems": [p.to_dict() for p in self.problems]}


def _named(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def check_store(db: Any, *, verify_model: bool = True, drain: bool = True) -> DoctorReport:
    """Every check on an open ``Elephant``; see the module docstring."""
    report = DoctorReport()
    indexer = db.indexer
    if drain:
        try:
            db.process_outbox()
        except ElephantError as exc:
            report.fail("outbox", f"draining the outbox failed: {exc.message}", REINDEX)
    _check_outbox(db, report)
    with db.store.read_connection() as conn:
        rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.is_deleted, heads.c.envelope)).all()
        books = {r.key: r for r in conn.execute(select(index_chunks.c.key, index_chunks.c.version,
                                                       index_chunks.c.chunks))}
        lexical_docs = _lexical_documents(conn)
    live = {r.key: (int(r.version), json.loads(r.envelope)) for r in rows if not r.is_deleted}
    report.counts.update(live_records=len(live), lexical_documents=len(lexical_docs))
    _check_lexical(live, lexical_docs, report)
    expected_chunks = _check_bookkeeping(live, books, report)
    _check_vectors(indexer, live, expected_chunks, report)
    if verify_model:
        _check_model(db, report)
    return report


def _check_outbox(db: Any, report: DoctorReport) -> None:
    status = db.index_status(limit=SHOWN)
    report.counts.update(pending_jobs=status["pending"], parked_jobs=status["parked"])
    if status["parked"]:
        named = "; ".join(f"{j['key']} v{j['version']}: {j['reason']}" for j in status["parked_jobs"])
        report.fail("parked", f"{status['parked']} index job(s) parked after repeated failures ({named})",
                    "fix those records and write them again, or once the cause is gone " + REINDEX)
    else:
        report.checks["parked"] = "ok"
    if status["pending"]:
        why = f" (last error: {status['last_error']})" if status["last_error"] else ""
        report.fail("outbox", f"{status['pending']} index job(s) still pending after a drain{why}",
                    "make the vector index and the model available (see `elephant status`); jobs then apply")
    else:
        report.checks.setdefault("outbox", "ok")


def _lexical_documents(conn: Any) -> dict[str, tuple[str, str]]:
    table = "lexical_fts" if conn.dialect.name == "sqlite" else "lexical_docs"
    return {r[0]: (r[1], r[2]) for r in conn.execute(text(f"SELECT key, title, text FROM {table}"))}


def _check_lexical(live: dict[str, tuple[int, dict[str, Any]]], docs: dict[str, tuple[str, str]],
                   report: DoctorReport) -> None:
    missing, stale = [], []
    for key, (_version, envelope) in sorted(live.items()):
        found = docs.get(key)
        if found is None:
            missing.append(key)
        elif tuple(found) != render_lexical(envelope):
            stale.append(key)
    extra = sorted(set(docs) - set(live))
    if missing or stale or extra:
        parts = [f"{len(missing)} live record(s) missing ({_named(missing)})" if missing else "",
                 f"{len(stale)} holding an older version's text ({_named(stale)})" if stale else "",
                 f"{len(extra)} document(s) of deleted or unknown keys ({_named(extra)})" if extra else ""]
        report.fail("lexical", "lexical index: " + "; ".join(p for p in parts if p), REINDEX)
    else:
        report.checks["lexical"] = "ok"


def _check_bookkeeping(live: dict[str, tuple[int, dict[str, Any]]], books: dict[str, Any],
                       report: DoctorReport) -> dict[str, tuple[int, int]]:
    """key → (head version, chunks) expected in the vector index; problems where the SQL record differs."""
    expected: dict[str, tuple[int, int]] = {}
    wrong: list[str] = []
    for key, (version, envelope) in sorted(live.items()):
        chunks = len(render_chunks(envelope))
        expected[key] = (version, chunks)
        row = books.get(key)
        if row is None or int(row.version) != version or int(row.chunks) != chunks:
            wrong.append(key)
    extra = sorted(k for k, r in books.items() if k not in live and int(r.chunks) > 0)
    report.counts["indexed_chunks"] = sum(int(r.chunks) for r in books.values())
    if wrong or extra:
        parts = [f"{len(wrong)} live record(s) not indexed at their head version ({_named(wrong)})" if wrong else "",
                 f"{len(extra)} deleted key(s) still indexed ({_named(extra)})" if extra else ""]
        report.fail("vector_bookkeeping", "vector index bookkeeping: " + "; ".join(p for p in parts if p), REINDEX)
    else:
        report.checks["vector_bookkeeping"] = "ok"
    return expected


def _check_vectors(indexer: Any, live: dict[str, tuple[int, dict[str, Any]]],
                   expected: dict[str, tuple[int, int]], report: DoctorReport) -> None:
    try:
        index = indexer.vector_index
        count = index.count()
        report.counts["vectors"] = count
        wanted = sum(chunks for _v, chunks in expected.values())
        stale: list[str] = []
        items = sorted(expected.items())
        for start in range(0, len(items), 500):
            page = items[start:start + 500]
            ids = [chunk_id(key, n) for key, (_v, chunks) in page for n in range(chunks)]
            found_ids, _vectors, metas = index.chunks(ids)
            versions = {i: int(m.get("version", -1)) for i, m in zip(found_ids, metas, strict=True)}
            for key, (version, chunks) in page:
                if any(versions.get(chunk_id(key, n)) != version for n in range(chunks)):
                    stale.append(key)
    except ElephantError as exc:
        report.fail("vectors", f"the vector index cannot be read: {exc.message}",
                    "start the Chroma server or fix ELEPHANT_CHROMA_URL; if the embedded directory is damaged, "
                    + REINDEX)
        return
    problems = []
    if count != wanted:
        problems.append(f"it holds {count} chunk vectors, the store expects {wanted}")
    if stale:
        problems.append(f"{len(stale)} record(s) missing or at another version ({_named(stale)})")
    if problems:
        report.fail("vectors", "vector index: " + "; ".join(problems), REINDEX)
    else:
        report.checks["vectors"] = "ok"


def _check_model(db: Any, report: DoctorReport) -> None:
    from elephant.retrieval.embedding.loader import verify_model_files

    try:
        checked = verify_model_files(db.settings)
    except ElephantError as exc:
        report.fail("model", exc.message, "run `elephant model build --force` to rebuild the model files")
        return
    report.counts["model_files_verified"] = checked
    report.checks["model"] = "ok" if checked else "ok (the fake embedder has no files)"
