"""The outbox consumer: brings the lexical and vector indexes up to the SQL heads, idempotently.

Each job names a key; applying it makes both indexes reflect that key's *current* head (whatever
version that is by now), so replaying a job, or applying jobs twice after a crash, converges to
the same state. Chunk ids are deterministic (``key#n``), so a replayed upsert overwrites rather
than duplicates. Outbox rows are deleted only after the vector index has accepted the chunks.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from typing_extensions import TypedDict

from elephant.errors import Conflict, ElephantError, IndexUnavailable, ModelError, StoreError
from elephant.osmem import release_free_memory
from elephant.retrieval import lexical
from elephant.retrieval.documents import MAX_CHUNKS, render_chunks
from elephant.retrieval.vectorfiles import LegacyVectors, VectorFiles
from elephant.retrieval.vectors import (
    VectorIndex,
    check_fingerprint,
    chunk_id,
    embedded_files_problem,
    fingerprint_mismatch,
    key_of,
)
from elephant.retrieval.vectors.matrix import EXACT_MAX_ROWS, VectorMatrix
from elephant.retrieval.vectors.shared import Batch, Damaged, SharedMatrix
from elephant.storage.schema import heads, index_chunks, index_state, outbox, outbox_parked
from elephant.storage.store import Store
from elephant.timeutil import format_ts, parse_ts, utc_now

BATCH = 256
# progress(phase, done, total): called as each batch of a phase finishes ("embed", "lexical", "index").
PhaseProgress = Callable[[str, int, int], None]
# A job that fails on its own is tried this many times, waiting the delays between, then parked.
MAX_ATTEMPTS = 3
# PostgreSQL advisory lock of the outbox drain (any fixed 64-bit number; "elephant drain" in ASCII),
# and how long a drain waits for another process's before leaving its jobs to it.
DRAIN_LOCK_ID = 0x656C657068616E74 & 0x7FFFFFFFFFFFFFFF
DRAIN_WAIT_S = 2.0
RETRY_DELAYS_S = (2.0, 30.0)
_log = logging.getLogger("elephant.indexer")
# Below this many chunk rows a first search loads the matrix in its own thread (tens of ms from SQL)
# instead of starting a background load and asking Chroma meanwhile.
SYNC_LOAD_MAX_ROWS = EXACT_MAX_ROWS


class ParkedJob(TypedDict):
    """An index job given up on (a dead letter), with why and when."""

    key: str
    version: int
    op: str
    attempts: int
    reason: str
    parked_at: str


@dataclass
class DrainReport:
    """What one drain did: jobs applied, jobs left, and why it stopped early if it did."""

    applied: int = 0
    pending: int = 0
    error: str | None = None
    seconds: float = 0.0
    keys: list[str] = field(default_factory=list)
    failed: int = 0  # failed attempts of single jobs in this drain (they retry later or are parked)
    parked: int = 0  # jobs parked by this drain

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "pending": self.pending, "error": self.error, "failed": self.failed,
                "parked": self.parked, "seconds": round(self.seconds, 3)}


class Indexer:
    """Applies outbox jobs to the lexical index (SQL) and the vector index (Chroma or memory)."""

    def __init__(self, store: Store, *, embedder: Callable[[], Any],
                 vector_index: Callable[[], VectorIndex] | VectorIndex,
                 open_slot: Callable[[int], VectorIndex] | None = None,
                 slot_directory: Callable[[int], Path | None] | None = None,
                 vector_files: Path | None = None) -> None:
        """``vector_files``: where this host keeps the vector files every process maps (docs/design.md
        §7.1); None keeps a private in-process matrix. ``open_slot(n)``, when given, opens the vector index's storage number n (a directory or a
        collection): ``reindex`` builds into a fresh one and switches to it only once it is complete.
        The number in use is kept in SQL (``index_state`` "vector_slot"), so every process follows.
        ``slot_directory(n)``: storage n's embedded Chroma directory (None for a server), checked by
        ``vector_files_problem`` without opening Chroma."""
        self.store = store
        self._open_slot = open_slot
        self._slot_directory = slot_directory
        self._slot = 0
        self.vector_problem: str | None = None
        self._embedder_fn = embedder
        self._index_fn = vector_index if callable(vector_index) and not isinstance(vector_index, VectorIndex) \
            else (lambda: vector_index)
        self._index: VectorIndex | None = None
        self._matrix: VectorMatrix | SharedMatrix | None = None
        self._files = VectorFiles(store, vector_files) if vector_files is not None else None
        self.shared_problem: str | None = None  # why the shared files are not used, when they are not
        self._loader: threading.Thread | None = None
        self._matrix_lock = threading.Lock()
        self._lock = threading.RLock()
        self.last_error: str | None = None
        self.retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S

    def close(self) -> None:
        """Release the vector index (an embedded Chroma keeps files and connections open until then)."""
        with self._lock:
            index, self._index = self._index, None
        self._matrix = None  # the mapped vector files go with their last reference (no lock: a loader may hold it)
        close = getattr(index, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # closing never fails the caller
                _log.debug("closing the vector index: %s", exc)

    # ------------------------------------------------------------------ parts, opened lazily
    @property
    def vector_index(self) -> VectorIndex:
        with self._lock:
            if self._index is None:
                if self._open_slot is not None:
                    self._slot = self.active_slot()
                    self._index = self._open_slot(self._slot)
                else:
                    self._index = self._index_fn()
                # Checked once per open: a deleted or truncated Chroma directory loses vectors silently.
                self.vector_problem = self.vector_count_problem()
                if self.vector_problem:
                    _log.warning("vector index: %s", self.vector_problem)
            return self._index

    @vector_index.setter
    def vector_index(self, index: VectorIndex) -> None:
        """Use this one index object from now on (tests, tools): rebuilds then refill it in place."""
        with self._lock:
            self._index = index
            self._open_slot = None
            self._slot_directory = None
            self._matrix = None

    def active_slot(self, conn: Connection | None = None) -> int:
        """The vector index storage in use (0 until the first rebuild)."""
        if conn is None:
            with self.store.read_connection() as own:
                return self.active_slot(own)
        value = conn.execute(select(index_state.c.value).where(index_state.c.name == "vector_slot")).scalar()
        return int(value or 0)

    def _follow_slot(self) -> None:
        """Reopen the vector index when another process's reindex switched to a fresh one."""
        if self._open_slot is None or self._index is None:
            return
        if self.active_slot() != self._slot:
            with self._lock:
                self._index = None
                self._matrix = None

    def vector_count_problem(self) -> str | None:
        """Why the vector index and the SQL bookkeeping disagree on the number of chunk vectors, or None.

        Only judged when no index job is pending and the index generation held still while both were
        counted: a drain in flight upserts vectors before it commits their bookkeeping.
        """
        index = self._index
        if index is None:
            return None
        with self.store.read_connection() as conn:
            if conn.execute(select(outbox.c.id).limit(1)).first() is not None:
                return None
            before = self.generation(conn)
            expected = int(conn.execute(select(func.coalesce(func.sum(index_chunks.c.chunks), 0))).scalar_one())
        try:
            actual = index.count()
        except IndexUnavailable:
            return None  # reported as unavailable where it is used
        if actual == expected or self.generation() != before:
            return None
        what = "vectors were lost (a deleted or truncated Chroma directory?)" if actual < expected \
            else "it holds vectors the store does not know"
        return (f"the vector index holds {actual} chunk vectors but the store indexed {expected}: {what}; "
                "run `elephant reindex` to rebuild it")

    def vector_files_problem(self) -> str | None:
        """Why the embedded Chroma directory in use cannot hold the vectors the store indexed (missing,
        emptied), from its files alone: a process whose searches never opened Chroma (a small store's
        do not) would otherwise find out only at its next write. None when there is nothing to judge."""
        if self._slot_directory is None or self._open_slot is None:
            return None
        directory = self._slot_directory(self.active_slot())
        if directory is None:
            return None
        with self.store.read_connection() as conn:
            expected = int(conn.execute(select(func.coalesce(func.sum(index_chunks.c.chunks), 0))).scalar_one())
        if not expected:
            return None
        problem = embedded_files_problem(directory)
        if problem is None:
            return None
        return f"{problem}: the {expected} chunk vectors the store indexed are lost; run `elephant reindex` to rebuild it"

    def embedder(self) -> Any:
        try:
            return self._embedder_fn()
        except ElephantError:
            raise
        except Exception as exc:  # a broken model file surfaces as onnxruntime/tokenizers errors
            raise ModelError(f"the embedding model cannot be loaded: {exc}") from exc

    def ready_index(self) -> tuple[Any, VectorIndex]:
        """The embedder and the vector index, checked to agree on the fingerprint."""
        self._follow_slot()
        embedder = self.embedder()
        index = self.vector_index
        check_fingerprint(index, str(embedder.fingerprint))
        return embedder, index

    # ------------------------------------------------------------------ outbox
    def pending(self) -> int:
        with self.store.read_connection() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())

    def has_pending(self) -> bool:
        with self.store.read_connection() as conn:
            return conn.execute(select(outbox.c.id).limit(1)).first() is not None

    def process_outbox(self, *, batch: int = BATCH, max_jobs: int | None = None,
                       progress: PhaseProgress | None = None, wait_s: float = DRAIN_WAIT_S) -> DrainReport:
        """Apply due jobs, oldest first, until none are left (or the vector index or model fails).

        On PostgreSQL a drain waits up to ``wait_s`` while another process drains, then leaves its jobs
        to that one (``_drain_turn``); 0 does not wait (a search's lazy drain).

        A job that fails for a reason of its own (a record the renderer or the database cannot take)
        is isolated: it is retried after a backoff and, after ``MAX_ATTEMPTS``, parked with its
        reason, while the jobs behind it go on. Failures of the vector index, the model or the
        database connection stop the drain instead: every job would fail alike, and they wait.
        """
        report = DrainReport()
        started = time.perf_counter()
        with self._lock, self._drain_turn(wait_s) as ours:
            if not ours:  # another process's drain outlasted the wait; it applies these jobs too
                report.pending = self.pending()
                report.seconds = time.perf_counter() - started
                return report
            total = self.pending() if progress is not None else 0
            if progress is not None and total:
                progress("index", 0, total)
            while max_jobs is None or report.applied < max_jobs:
                now = format_ts(utc_now())
                with self.store.read_connection() as conn:
                    jobs = conn.execute(
                        select(outbox.c.id, outbox.c.key, outbox.c.version, outbox.c.op, outbox.c.attempts,
                               outbox.c.created_at)
                        .where(or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))
                        .order_by(outbox.c.id).limit(batch)).all()
                if not jobs:
                    break
                try:
                    self._apply([j.key for j in jobs], [j.id for j in jobs])
                    report.applied += len(jobs)
                    report.keys.extend(j.key for j in jobs)
                except Exception as exc:
                    if not is_job_failure(exc):
                        self._stop(report, exc)
                        break
                    # Somebody in this batch is poisoned: apply the jobs one by one to find out who.
                    if not self._apply_singly(jobs, report):
                        break
                if progress is not None:
                    progress("index", min(report.applied + report.failed, total), total)
            if report.error is None:
                self.last_error = None
            report.pending = self.pending()
        report.seconds = time.perf_counter() - started
        return report

    @contextmanager
    def _drain_turn(self, wait_s: float = DRAIN_WAIT_S) -> Iterator[bool]:
        """One drain at a time across processes on PostgreSQL (replicas, `serve` workers): a session
        advisory lock on a connection of its own. Without it, every process draining after its own
        write picked up the others' jobs as well and embedded them again (two replicas: twice the
        work; the compare-and-set kept the result right). A drain that waits for another's applies
        what is left when its turn comes, usually nothing: the other drains until no job is due, its
        own and those committed meanwhile. After ``DRAIN_WAIT_S`` it gives up (yields False) and
        leaves its jobs to that drain. SQLite serialises the index transactions itself."""
        engine = self.store.engine
        if engine.dialect.name != "postgresql":
            yield True
            return
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if wait_s <= 0:
                if not conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (DRAIN_LOCK_ID,)).scalar():
                    yield False
                    return
            else:
                conn.exec_driver_sql(f"SET lock_timeout = '{max(1, int(wait_s * 1000))}ms'")
                try:
                    conn.exec_driver_sql("SELECT pg_advisory_lock(%s)", (DRAIN_LOCK_ID,))
                except OperationalError:  # lock_timeout: the other drain is still at it
                    yield False
                    return
            try:
                yield True
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (DRAIN_LOCK_ID,))

    def _stop(self, report: DrainReport, exc: Exception) -> None:
        if isinstance(exc, Conflict):
            return  # another drain wrote the same bookkeeping first; the jobs stay for the next drain
        message = exc.message if isinstance(exc, ElephantError) else f"the database failed: {type(exc).__name__}"
        self.last_error = message
        report.error = message

    def _apply_singly(self, jobs: Sequence[Any], report: DrainReport) -> bool:
        """Apply ``jobs`` one at a time, recording each failure; False when the environment failed."""
        for job in jobs:
            try:
                self._apply([job.key], [job.id])
            except Exception as exc:
                if not is_job_failure(exc):
                    self._stop(report, exc)
                    return False
                parked = self._record_failure(job, exc)
                report.failed += 1
                report.parked += int(parked)
                continue
            report.applied += 1
            report.keys.append(job.key)
        return True

    def _record_failure(self, job: Any, exc: Exception) -> bool:
        """Count a failed attempt of ``job``: schedule a retry, or park it; True when parked."""
        reason = job_failure_reason(exc)
        attempts = int(job.attempts) + 1
        now = utc_now()
        with self.store.write_transaction() as conn:
            if attempts >= MAX_ATTEMPTS:
                conn.execute(insert(outbox_parked).values(
                    job_id=int(job.id), key=job.key, version=int(job.version), op=job.op, attempts=attempts,
                    reason=reason, created_at=job.created_at, parked_at=format_ts(now)))
                conn.execute(delete(outbox).where(outbox.c.id == job.id))
                _log.error("index job for %s v%s parked after %d attempts: %s", job.key, job.version, attempts, reason)
                return True
            delay_s = self.retry_delays_s[min(attempts - 1, len(self.retry_delays_s) - 1)]
            conn.execute(update(outbox).where(outbox.c.id == job.id).values(
                attempts=attempts, last_error=reason,
                next_attempt_at=format_ts(now + timedelta(seconds=delay_s))))
        _log.warning("index job for %s v%s failed (attempt %d of %d): %s", job.key, job.version, attempts,
                     MAX_ATTEMPTS, reason)
        return False

    def parked(self, *, limit: int = 20) -> tuple[int, list[ParkedJob]]:
        """How many jobs are parked, and the newest ``limit`` of them (key, version, reason, when)."""
        with self.store.read_connection() as conn:
            total = int(conn.execute(select(func.count()).select_from(outbox_parked)).scalar_one())
            rows = conn.execute(select(outbox_parked).order_by(outbox_parked.c.id.desc()).limit(limit)).all() \
                if total else []
        return total, [{"key": r.key, "version": int(r.version), "op": r.op, "attempts": int(r.attempts),
                        "reason": r.reason, "parked_at": r.parked_at} for r in rows]

    def _lock_index(self, conn: Connection) -> None:
        """Serialise index transactions across processes (the counter row's lock on PostgreSQL; SQLite's
        write transactions are serial already). Under it, what a transaction reads of the heads and the
        bookkeeping is the newest committed, so index writes commit in the order they read."""
        if conn.dialect.name != "sqlite":
            conn.execute(select(index_state.c.value).where(index_state.c.name == "generation").with_for_update())

    def _apply(self, keys: Sequence[str], job_ids: Sequence[int]) -> None:
        unique = list(dict.fromkeys(keys))
        # The lexical side needs neither the model nor Chroma, so it is applied first: in degraded mode
        # search still finds the newest writes. The heads are read inside its transaction, under the
        # index lock: a slow drain can then never write an older version over a newer one (issue 20,
        # row 3), since heads only move forward and these transactions commit in the order they read.
        with self.store.write_transaction() as conn:
            self._lock_index(conn)
            rows = {r.key: r for r in conn.execute(
                select(heads.c.key, heads.c.version, heads.c.is_deleted, heads.c.envelope)
                .where(heads.c.key.in_(unique)))}
            live = [(k, rows[k].version, json.loads(rows[k].envelope)) for k in unique
                    if k in rows and not rows[k].is_deleted]
            dead = [k for k in unique if k not in rows or rows[k].is_deleted]
            lexical.upsert_documents(conn, [env for _k, _v, env in live])
            lexical.delete_documents(conn, dead)
        with self.store.read_connection() as conn:
            known = {r.key: r for r in conn.execute(select(index_chunks).where(index_chunks.c.key.in_(unique)))}
        embedder, index = self.ready_index()
        texts: list[str] = []
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for key, version, envelope in live:
            chunks = render_chunks(envelope)
            counts[key] = len(chunks)
            base = chunk_metadata(key, int(version), envelope)
            for n, text_ in enumerate(chunks):
                texts.append(text_)
                ids.append(chunk_id(key, n))
                metas.append({**base, "chunk": n})
        blobs: dict[str, bytes] = {}
        if texts:
            vectors = embed_checked(embedder, texts)
            index.upsert(ids, vectors, metas)
            offset = 0
            for key, _version, _envelope in live:
                blobs[key] = np.ascontiguousarray(vectors[offset:offset + counts[key]], dtype="<f4").tobytes()
                offset += counts[key]
        fingerprint = str(embedder.fingerprint)
        stale: list[str] = []
        for key, count in counts.items():
            before = known[key].chunks if key in known else 0
            stale += [chunk_id(key, n) for n in range(count, before)]
        for key in dead:
            # Without bookkeeping (a crash between the vector write and its SQL record) clear every slot.
            before = known[key].chunks if key in known else MAX_CHUNKS
            stale += [chunk_id(key, n) for n in range(before)]
        index.delete(stale)
        ours = {k: int(v) for k, v, _e in live}
        ours.update({k: int(rows[k].version) if k in rows else 0 for k in dead})
        with ExitStack() as files_lock, self.store.write_transaction() as conn:
            # Under the row lock of the counter, so generations order batches as they commit.
            conn.execute(update(index_state).where(index_state.c.name == "generation")
                         .values(value=index_state.c.value + 1))
            generation = int(conn.execute(select(index_state.c.value)
                                          .where(index_state.c.name == "generation")).scalar_one())
            # Compare-and-set: a key whose bookkeeping another drain moved past the version read here
            # keeps it. The vector index may hold this drain's older chunks for it now, so a repair job
            # is queued: applying it writes the head's chunks again.
            indexed = dict(conn.execute(select(index_chunks.c.key, index_chunks.c.version)
                                        .where(index_chunks.c.key.in_(unique))).all())
            overtaken = [k for k in unique if int(indexed.get(k, -1)) > ours[k]]
            written = [k for k in unique if k not in overtaken]
            conn.execute(delete(index_chunks).where(index_chunks.c.key.in_(written)))
            # Dead keys keep a zero-chunk row so other processes' matrices learn to drop them.
            marks = [{"key": k, "version": int(v), "chunks": counts[k], "generation": generation,
                      "vectors": blobs.get(k, b""), "fingerprint": fingerprint} for k, v, _e in live
                     if k not in overtaken]
            marks += [{"key": k, "version": ours[k], "chunks": 0, "generation": generation, "vectors": b"",
                       "fingerprint": fingerprint} for k in dead if k not in overtaken]
            if marks:
                conn.execute(insert(index_chunks), marks)
                shared = self._matrix
                if isinstance(shared, SharedMatrix) and shared.generation == generation - 1 \
                        and self._files is not None:
                    # Before the commit, holding the files' lock until it is done (the ExitStack
                    # closes after the transaction): no process reads generation G without its rows.
                    files_lock.enter_context(self._files.appending(
                        shared, generation, _batch_of(marks, metas, int(embedder.dim))))
            if overtaken:
                now = format_ts(utc_now())
                conn.execute(insert(outbox), [{"key": k, "version": int(indexed[k]), "op": "upsert",
                                               "created_at": now} for k in overtaken])
            for start in range(0, len(job_ids), 500):
                conn.execute(delete(outbox).where(outbox.c.id.in_(list(job_ids[start:start + 500]))))
            # The keys are indexed at their heads now: their dead letters, if any, are history.
            conn.execute(delete(outbox_parked).where(outbox_parked.c.key.in_(written)))
        if overtaken:
            return  # the next search refreshes the matrix from SQL, where the newer chunks are
        self._update_matrix(generation, unique, vectors if texts else None, metas)

    # ------------------------------------------------------------------ rebuild
    def reindex(self, *, batch: int = BATCH, progress: PhaseProgress | None = None) -> DrainReport:
        """Rebuild both indexes from the SQL heads with the configured embedder, swapping on success.

        The vectors go into fresh storage (a new Chroma directory or collection) while the old index
        keeps serving; one SQL transaction then replaces the lexical documents and the bookkeeping and
        switches every process to the new storage. A rebuild that fails (a corrupt Chroma directory,
        a model error) leaves the old index and its bookkeeping as they were. Writes made meanwhile
        keep their jobs, and keys written after they were read get a repair job in the swap.
        """
        started = time.perf_counter()
        with self._lock:
            embedder = self.embedder()
            embed_checked(embedder, ["reindex probe"])  # fail before anything is built
            fingerprint = str(embedder.fingerprint)
            with self.store.read_connection() as conn:
                start_id = int(conn.execute(select(func.coalesce(func.max(outbox.c.id), 0))).scalar_one())
                old_slot = self.active_slot(conn)
            new_slot = old_slot + 1
            fresh = self._open_slot(new_slot) if self._open_slot is not None else None
            staged: list[tuple[list[str], np.ndarray, list[dict[str, Any]]]] = []
            try:
                if fresh is not None:
                    fresh.reset(fingerprint)  # leftovers of an earlier rebuild that failed
                marks, failed = self._build(embedder, fingerprint, batch,
                                            lambda i, v, m: fresh.upsert(i, v, m) if fresh is not None
                                            else staged.append((i, v, m)), progress=progress)
                if fresh is None:  # one index object (tests): filled only now that every vector is made
                    target = self.vector_index
                    target.reset(fingerprint)
                    for ids, vectors, metas in staged:
                        target.upsert(ids, vectors, metas)
                self._swap(marks, failed, start_id=start_id, slot=new_slot if fresh is not None else old_slot,
                           progress=progress)
            except BaseException:
                if fresh is not None:
                    _drop_quietly(fresh)
                raise
            old = self._index
            if fresh is not None:
                self._index, self._slot = fresh, new_slot
                if old is not None:
                    _drop_quietly(old)
                if self._files is not None:
                    self._files.drop_slots_below(new_slot)  # the first search builds the new slot's
            self._matrix = None
            self.vector_problem = None
            report = self.process_outbox(batch=batch, progress=progress)
        report.applied += sum(1 for m in marks if m["chunks"] > 0)
        report.seconds = time.perf_counter() - started
        return report

    def _build(self, embedder: Any, fingerprint: str, batch: int,
               write: Callable[[list[str], np.ndarray, list[dict[str, Any]]], Any],
               progress: PhaseProgress | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """Embed every live head, page by page, handing the vectors to ``write``; the bookkeeping rows
        and the keys that could not be rendered (they are queued, to be retried and parked)."""
        marks: list[dict[str, Any]] = []
        failed: list[str] = []
        last = ""
        total = 0
        if progress is not None:
            with self.store.read_connection() as conn:
                total = int(conn.execute(select(func.count()).select_from(heads)).scalar_one())
            progress("embed", 0, total)
        while True:
            if progress is not None and (marks or failed):
                progress("embed", min(len(marks) + len(failed), total), total)
            with self.store.read_connection() as conn:
                rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.is_deleted, heads.c.envelope)
                                    .where(heads.c.key > last).order_by(heads.c.key).limit(batch)).all()
            if not rows:
                return marks, failed
            last = rows[-1].key
            texts: list[str] = []
            ids: list[str] = []
            metas: list[dict[str, Any]] = []
            page: list[tuple[str, int, int]] = []
            for row in rows:
                if row.is_deleted:
                    marks.append({"key": row.key, "version": int(row.version), "chunks": 0, "vectors": b"",
                                  "fingerprint": fingerprint})
                    continue
                try:
                    envelope = json.loads(row.envelope)
                    chunks = render_chunks(envelope)
                    base = chunk_metadata(row.key, int(row.version), envelope)
                except Exception:  # one bad record must not stop the rebuild; its job will say why
                    failed.append(row.key)
                    continue
                page.append((row.key, int(row.version), len(chunks)))
                for n, text_ in enumerate(chunks):
                    texts.append(text_)
                    ids.append(chunk_id(row.key, n))
                    metas.append({**base, "chunk": n})
            vectors = embed_checked(embedder, texts) if texts else np.zeros((0, 0), np.float32)
            if texts:
                write(ids, vectors, metas)
            offset = 0
            for key, version, count in page:
                blob = np.ascontiguousarray(vectors[offset:offset + count], dtype="<f4").tobytes()
                marks.append({"key": key, "version": version, "chunks": count, "vectors": blob,
                              "fingerprint": fingerprint})
                offset += count

    def _swap(self, marks: list[dict[str, Any]], failed: list[str], *, start_id: int, slot: int,
              progress: PhaseProgress | None = None) -> None:
        """One transaction: lexical documents, bookkeeping and the storage in use, all from the rebuild."""
        with self.store.write_transaction() as conn:
            self._lock_index(conn)
            conn.execute(update(index_state).where(index_state.c.name == "generation")
                         .values(value=index_state.c.value + 1))
            generation = int(conn.execute(select(index_state.c.value)
                                          .where(index_state.c.name == "generation")).scalar_one())
            current = {r.key: r for r in conn.execute(
                select(heads.c.key, heads.c.version, heads.c.is_deleted, heads.c.envelope))}
            live: list[dict[str, Any]] = []
            for key, row in current.items():
                if not row.is_deleted:
                    try:
                        live.append(json.loads(row.envelope))
                    except ValueError:
                        failed.append(key)
            for start in range(0, len(live), 500):
                if progress is not None:
                    progress("lexical", start, len(live))
                try:
                    with conn.begin_nested():
                        lexical.upsert_documents(conn, live[start:start + 500])
                except Exception:  # a page holding a record the lexical index refuses: one by one
                    for envelope in live[start:start + 500]:
                        try:
                            with conn.begin_nested():
                                lexical.upsert_documents(conn, [envelope])
                        except Exception:
                            failed.append(str(envelope["key"]))
            lexical.delete_documents(conn, [k for k, r in current.items() if r.is_deleted])
            conn.execute(delete(index_chunks))
            for start in range(0, len(marks), 500):
                conn.execute(insert(index_chunks), [{**m, "generation": generation} for m in marks[start:start + 500]])
            if conn.execute(select(index_state.c.name).where(index_state.c.name == "vector_slot")).first() is None:
                conn.execute(insert(index_state).values(name="vector_slot", value=slot))
            else:
                conn.execute(update(index_state).where(index_state.c.name == "vector_slot").values(value=slot))
            conn.execute(delete(outbox).where(outbox.c.id <= start_id))
            conn.execute(delete(outbox_parked))
            # Keys written while the rebuild ran (read at an older version), and those it could not
            # render, are queued: the drain after the swap indexes them or parks them with the reason.
            built = {m["key"]: m["version"] for m in marks}
            stale = sorted({k for k, r in current.items() if built.get(k) != int(r.version)} | set(failed))
            now = format_ts(utc_now())
            for start in range(0, len(stale), 500):
                conn.execute(insert(outbox), [{"key": k, "version": int(current[k].version) if k in current else 0,
                                               "op": "upsert", "created_at": now} for k in stale[start:start + 500]])

    def indexed_state(self) -> dict[str, tuple[int, int]]:
        """key → (version, chunks) as the vector index holds them (for tests and `reindex` checks)."""
        with self.store.read_connection() as conn:
            return {r.key: (r.version, r.chunks) for r in conn.execute(
                select(index_chunks).where(index_chunks.c.chunks > 0))}

    # ------------------------------------------------------------------ the in-process matrix
    def generation(self, conn: Connection | None = None) -> int:
        """The index generation committed in SQL; on ``conn`` when the caller holds one (a search does)."""
        if conn is None:
            with self.store.read_connection() as own:
                return self.generation(own)
        return int(conn.execute(select(index_state.c.value).where(index_state.c.name == "generation")).scalar_one())

    def matrix(self, *, wait: bool = True, conn: Connection | None = None,
               generation: int | None = None) -> VectorMatrix | SharedMatrix | None:
        """The vector matrix, brought up to the index generation committed in SQL.

        The first full load reads every vector from the index (seconds at 100k chunks); with
        ``wait=False`` it runs in a background thread and None is returned until it is done. ``conn``
        (a search's read connection) serves the generation check, which every search makes, unless
        the caller read the ``generation`` already.
        """
        if not wait:
            with self._lock:
                loaded = self._matrix is not None and self._matrix.generation >= 0
                if not loaded:
                    if self._loader is not None and self._loader.is_alive():
                        return None
                    if self._files_ready() or self.chunk_rows() <= SYNC_LOAD_MAX_ROWS:
                        # Shared files are mapped, not loaded; a small matrix loads quicker than a
                        # first query through Chroma.
                        wait = True
                    else:
                        self._loader = threading.Thread(target=self._load_quietly, name="elephant-matrix",
                                                        daemon=True)
                        self._loader.start()
                        return None
        return self._refresh_matrix(conn, generation)

    def chunk_rows(self) -> int:
        """Chunk vectors the index holds, from SQL (what a product over the whole matrix would cost)."""
        with self.store.read_connection() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(index_chunks.c.chunks), 0))).scalar_one())

    def _load_quietly(self) -> None:
        try:
            self._refresh_matrix()
        except Exception:
            pass
        finally:
            # Index pages read for the load are garbage now; hand the heap they grew back to the OS.
            release_free_memory()

    def _files_ready(self) -> bool:
        if self._files is None or self.shared_problem is not None:
            return False
        embedder = self.embedder()
        return self._files.ready(str(embedder.fingerprint), self.active_slot(), int(embedder.dim))

    def _refresh_matrix(self, conn: Connection | None = None,
                        generation: int | None = None) -> VectorMatrix | SharedMatrix:
        with self._matrix_lock:  # one refresher at a time; writers are not blocked by a full load
            generation = self.generation(conn) if generation is None else generation
            matrix = self._matrix
            if matrix is not None and matrix.generation == generation:
                return matrix
            fingerprint = str(self.embedder().fingerprint)
            if self._files is not None and self.shared_problem is None:
                try:
                    return self._follow_files(matrix, fingerprint, generation)
                except (LegacyVectors, Damaged, OSError) as exc:  # vectors only in Chroma, or files that cannot be
                    # written (a read-only or full disk): the private matrix loads from SQL as before
                    self.shared_problem = f"{type(exc).__name__}: {exc}"
                    _log.warning("shared vector files not used: %s", self.shared_problem)
                    matrix = self._matrix = None
            assert not isinstance(matrix, SharedMatrix)
            if matrix is None or matrix.generation < 0 or generation < matrix.generation:
                # Chunks indexed while this loads carry a later generation: the next refresh adds them.
                fresh = self._load_matrix(fingerprint)
                fresh.generation = generation
                self._matrix = fresh
                return fresh
            with self.store.read_connection() as conn:
                changed = conn.execute(select(index_chunks.c.key, index_chunks.c.chunks, index_chunks.c.vectors,
                                              index_chunks.c.fingerprint)
                                       .where(index_chunks.c.generation > matrix.generation)).all()
            found = self._stored_vectors(changed, fingerprint, int(self.embedder().dim))
            if found is None:
                index = self.vector_index
                check_fingerprint(index, fingerprint)
                _found, vectors, metas = index.chunks([chunk_id(r.key, n) for r in changed for n in range(r.chunks)])
            else:
                vectors, metas = found
            with matrix.lock:
                matrix.replace([r.key for r in changed], vectors, metas)
                matrix.generation = max(matrix.generation, generation)
            return matrix

    def _follow_files(self, matrix: VectorMatrix | SharedMatrix | None, fingerprint: str,
                      generation: int) -> SharedMatrix:
        """The shared files' matrix at ``generation`` or later (docs/design.md §7.1)."""
        assert self._files is not None
        if isinstance(matrix, SharedMatrix) and matrix.generation >= generation:
            return matrix  # the files ran ahead of the generation this search read
        current = matrix if isinstance(matrix, SharedMatrix) else None
        shared = self._files.follow(current, fingerprint=fingerprint, slot=self.active_slot(),
                                    dim=int(self.embedder().dim), generation=generation)
        self._matrix = shared
        if shared is not current:
            release_free_memory()  # the key index's temporaries
        self._files.compact_soon(shared, fingerprint)
        return shared

    def _load_matrix(self, fingerprint: str) -> VectorMatrix:
        """Every current chunk vector: from SQL, or from the vector index for rows stored before 0003."""
        dim = int(self.embedder().dim)
        fresh = VectorMatrix(dim)
        with self.store.read_connection() as conn:
            rows = conn.execute(select(index_chunks.c.key, index_chunks.c.chunks, index_chunks.c.vectors,
                                       index_chunks.c.fingerprint).where(index_chunks.c.chunks > 0)).all()
        found = self._stored_vectors(rows, fingerprint, dim)
        if found is None:
            index = self.vector_index
            check_fingerprint(index, fingerprint)
            pages = [page for page in index.iter_vectors() if page[0]]
            if not pages:
                return fresh
            vectors = np.concatenate([p[1] for p in pages])
            metas = self._metadata_of([i for p in pages for i in p[0]])
        else:
            vectors, metas = found
            if not metas:
                return fresh
        # Rows grouped by model and kind: a model filter then gathers nearly contiguous memory
        # instead of rows scattered over the whole matrix.
        order = sorted(range(len(metas)), key=lambda i: (str(metas[i].get("model", "")),
                                                         str(metas[i].get("kind", ""))))
        fresh.add(vectors[order], [metas[i] for i in order])
        return fresh

    def _stored_vectors(self, rows: Sequence[Any], fingerprint: str,
                        dim: int) -> tuple[np.ndarray, list[dict[str, Any]]] | None:
        """The chunk vectors and matrix metadata of ``rows`` from their SQL copy; None when any is missing."""
        live = [r for r in rows if r.chunks > 0]
        if any(r.vectors is None or len(r.vectors) != r.chunks * dim * 4 for r in live):
            return None
        for row in live:
            if row.fingerprint != fingerprint:
                raise fingerprint_mismatch(str(row.fingerprint), fingerprint)
        if not live:
            return np.zeros((0, dim), np.float32), []
        vectors = np.concatenate([np.frombuffer(r.vectors, dtype="<f4").reshape(r.chunks, dim) for r in live])
        meta_of = self._metadata_by_key([r.key for r in live])
        return vectors, [meta_of[r.key] for r in live for _n in range(r.chunks)]

    def _metadata_of(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Matrix metadata of chunk ids from SQL (the current heads; search re-checks them anyway)."""
        meta_of = self._metadata_by_key(None)
        return [meta_of.get(key_of(item)) or {"key": key_of(item)} for item in ids]

    def _metadata_by_key(self, keys: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        """key → matrix metadata (kind, model, occurred time) from the heads; every head when ``keys`` is None."""
        columns = select(heads.c.key, heads.c.kind, heads.c.model, heads.c.occurred_at)
        with self.store.read_connection() as conn:
            if keys is None or len(keys) > 5000:
                found = conn.execute(columns).all()
            else:
                found = [r for start in range(0, len(keys), 500)
                         for r in conn.execute(columns.where(heads.c.key.in_(list(keys[start:start + 500])))).all()]
        out: dict[str, dict[str, Any]] = {}
        for key, kind, model, occurred_at in found:
            meta: dict[str, Any] = {"key": key, "kind": kind}
            if model:
                meta["model"] = model
            if occurred_at:
                meta["occurred_ts"] = int(parse_ts(occurred_at).timestamp())
            out[key] = meta
        if keys is not None:
            for key in keys:
                out.setdefault(key, {"key": key})
        return out

    def _update_matrix(self, generation: int, keys: Sequence[str], vectors: np.ndarray | None,
                       metas: Sequence[dict[str, Any]]) -> None:
        """Apply this process's own batch to a loaded matrix that was current just before it."""
        matrix = self._matrix
        if matrix is None or isinstance(matrix, SharedMatrix):
            return  # the shared files took the batch before its commit (``_apply``)
        with matrix.lock:
            if matrix.generation != generation - 1:
                return  # the next search refreshes from SQL and the index
            matrix.replace(keys, vectors if vectors is not None else np.zeros((0, matrix.dim), np.float32), metas)
            matrix.generation = generation


def _batch_of(marks: Sequence[dict[str, Any]], metas: Sequence[dict[str, Any]], dim: int) -> Batch:
    """An applied batch's bookkeeping rows as rows of the shared files."""
    meta_of = {str(m["key"]): m for m in metas}
    blobs = [m["vectors"] for m in marks if m["chunks"]]
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, dim) if blobs else np.zeros((0, dim), "<f4")
    keys = [str(m["key"]) for m in marks]
    return Batch(keys, [int(m["chunks"]) for m in marks], vectors,
                 [meta_of.get(k, {}).get("kind") for k in keys], [meta_of.get(k, {}).get("model") for k in keys],
                 [meta_of.get(k, {}).get("occurred_ts") for k in keys])


def chunk_metadata(key: str, version: int, envelope: dict[str, Any]) -> dict[str, Any]:
    """What each chunk carries besides its vector. Search never filters on it (SQL does); it is there
    for inspection and for the raw-Chroma comparison in bench/search.py."""
    meta: dict[str, Any] = {"key": key, "version": version, "kind": str(envelope.get("kind", ""))}
    if envelope.get("model"):
        meta["model"] = str(envelope["model"])
    if envelope.get("occurred_at"):
        meta["occurred_ts"] = int(parse_ts(str(envelope["occurred_at"])).timestamp())
    return meta


def _drop_quietly(index: VectorIndex) -> None:
    """Remove a vector index's storage (a rebuild's leftovers, or the storage a rebuild replaced)."""
    drop = getattr(index, "drop", None)
    if callable(drop):
        try:
            drop()
        except Exception as exc:  # the swap is done; leftovers only cost disk
            _log.warning("could not remove an old vector index: %s", exc)


def is_job_failure(exc: Exception) -> bool:
    """Whether ``exc`` is the job's own fault (retry, then park it) rather than the environment's: the
    vector index, the model or the database connection failing, or a concurrent drain, after which
    every job would fail alike and they all wait."""
    if isinstance(exc, IndexUnavailable | ModelError | Conflict | OperationalError | InterfaceError):
        return False
    if isinstance(exc, StoreError):
        return exc.__cause__ is not None and not isinstance(exc.__cause__, OperationalError | InterfaceError)
    return True


def job_failure_reason(exc: Exception) -> str:
    """What a parked job's record says about its failure: the exception's class and message, without
    SQL text or bound values (a database error's parameters may hold other records' text)."""
    if isinstance(exc, ElephantError):
        return f"{type(exc).__name__}: {exc.message}"[:500]
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        return f"{type(exc.orig).__name__}: {first}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def embed_checked(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    try:
        vectors = np.asarray(embedder.embed(list(texts)), dtype=np.float32)
    except ElephantError:
        raise
    except Exception as exc:
        raise ModelError(f"embedding failed: {exc}") from exc
    if vectors.shape[0] != len(texts):
        raise ModelError(f"the embedder returned {vectors.shape[0]} vectors for {len(texts)} texts")
    return vectors
