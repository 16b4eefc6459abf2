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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from elephant.errors import Conflict, ElephantError, IndexUnavailable, ModelError, StoreError
from elephant.osmem import release_free_memory
from elephant.retrieval import lexical
from elephant.retrieval.documents import MAX_CHUNKS, render_chunks
from elephant.retrieval.vectors import VectorIndex, check_fingerprint, chunk_id, fingerprint_mismatch, key_of
from elephant.retrieval.vectors.matrix import EXACT_MAX_ROWS, VectorMatrix
from elephant.storage.schema import heads, index_chunks, index_state, outbox, outbox_parked
from elephant.storage.store import Store
from elephant.timeutil import format_ts, parse_ts, utc_now

BATCH = 256
# A job that fails on its own is tried this many times, waiting the delays between, then parked.
MAX_ATTEMPTS = 3
RETRY_DELAYS_S = (2.0, 30.0)
_log = logging.getLogger("elephant.indexer")
# Below this many chunk rows a first search loads the matrix in its own thread (tens of ms from SQL)
# instead of starting a background load and asking Chroma meanwhile.
SYNC_LOAD_MAX_ROWS = EXACT_MAX_ROWS


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
                 vector_index: Callable[[], VectorIndex] | VectorIndex) -> None:
        self.store = store
        self._embedder_fn = embedder
        self._index_fn = vector_index if callable(vector_index) and not isinstance(vector_index, VectorIndex) \
            else (lambda: vector_index)
        self._index: VectorIndex | None = None
        self._matrix: VectorMatrix | None = None
        self._loader: threading.Thread | None = None
        self._matrix_lock = threading.Lock()
        self._lock = threading.RLock()
        self.last_error: str | None = None
        self.retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S

    # ------------------------------------------------------------------ parts, opened lazily
    @property
    def vector_index(self) -> VectorIndex:
        with self._lock:
            if self._index is None:
                self._index = self._index_fn()
            return self._index

    @vector_index.setter
    def vector_index(self, index: VectorIndex) -> None:
        with self._lock:
            self._index = index
            self._matrix = None

    def embedder(self) -> Any:
        try:
            return self._embedder_fn()
        except ElephantError:
            raise
        except Exception as exc:  # a broken model file surfaces as onnxruntime/tokenizers errors
            raise ModelError(f"the embedding model cannot be loaded: {exc}") from exc

    def ready_index(self) -> tuple[Any, VectorIndex]:
        """The embedder and the vector index, checked to agree on the fingerprint."""
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

    def process_outbox(self, *, batch: int = BATCH, max_jobs: int | None = None) -> DrainReport:
        """Apply due jobs, oldest first, until none are left (or the vector index or model fails).

        A job that fails for a reason of its own (a record the renderer or the database cannot take)
        is isolated: it is retried after a backoff and, after ``MAX_ATTEMPTS``, parked with its
        reason, while the jobs behind it go on. Failures of the vector index, the model or the
        database connection stop the drain instead: every job would fail alike, and they wait.
        """
        report = DrainReport()
        started = time.perf_counter()
        with self._lock:
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
            if report.error is None:
                self.last_error = None
            report.pending = self.pending()
        report.seconds = time.perf_counter() - started
        return report

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

    def parked(self, *, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """How many jobs are parked, and the newest ``limit`` of them (key, version, reason, when)."""
        with self.store.read_connection() as conn:
            total = int(conn.execute(select(func.count()).select_from(outbox_parked)).scalar_one())
            rows = conn.execute(select(outbox_parked).order_by(outbox_parked.c.id.desc()).limit(limit)).all() \
                if total else []
        return total, [{"key": r.key, "version": int(r.version), "op": r.op, "attempts": int(r.attempts),
                        "reason": r.reason, "parked_at": r.parked_at} for r in rows]

    def _apply(self, keys: Sequence[str], job_ids: Sequence[int]) -> None:
        unique = list(dict.fromkeys(keys))
        with self.store.read_connection() as conn:
            rows = {r.key: r for r in conn.execute(
                select(heads.c.key, heads.c.version, heads.c.is_deleted, heads.c.envelope)
                .where(heads.c.key.in_(unique)))}
            known = {r.key: r for r in conn.execute(select(index_chunks).where(index_chunks.c.key.in_(unique)))}
        live = [(k, rows[k].version, json.loads(rows[k].envelope)) for k in unique
                if k in rows and not rows[k].is_deleted]
        dead = [k for k in unique if k not in rows or rows[k].is_deleted]
        # The lexical side needs neither the model nor Chroma, so it is applied first: in degraded
        # mode search still finds the newest writes.
        with self.store.write_transaction() as conn:
            lexical.upsert_documents(conn, [env for _k, _v, env in live])
            lexical.delete_documents(conn, dead)
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
        with self.store.write_transaction() as conn:
            # Under the row lock of the counter, so generations order batches as they commit.
            conn.execute(update(index_state).where(index_state.c.name == "generation")
                         .values(value=index_state.c.value + 1))
            generation = int(conn.execute(select(index_state.c.value)
                                          .where(index_state.c.name == "generation")).scalar_one())
            conn.execute(delete(index_chunks).where(index_chunks.c.key.in_(unique)))
            # Dead keys keep a zero-chunk row so other processes' matrices learn to drop them.
            marks = [{"key": k, "version": int(v), "chunks": counts[k], "generation": generation,
                      "vectors": blobs.get(k, b""), "fingerprint": fingerprint} for k, v, _e in live]
            marks += [{"key": k, "version": int(rows[k].version) if k in rows else 0, "chunks": 0,
                       "generation": generation, "vectors": b"", "fingerprint": fingerprint} for k in dead]
            conn.execute(insert(index_chunks), marks)
            for start in range(0, len(job_ids), 500):
                conn.execute(delete(outbox).where(outbox.c.id.in_(list(job_ids[start:start + 500]))))
            # The keys are indexed at their heads now: their dead letters, if any, are history.
            conn.execute(delete(outbox_parked).where(outbox_parked.c.key.in_(unique)))
        self._update_matrix(generation, unique, vectors if texts else None, metas)

    # ------------------------------------------------------------------ rebuild
    def reindex(self, *, batch: int = BATCH) -> DrainReport:
        """Rebuild both indexes from the SQL heads with the configured embedder.

        Every key is queued as an outbox job first and the vector index is emptied second, so a
        reindex that dies half-way is finished by the next drain instead of leaving holes.
        """
        with self._lock:
            embedder = self.embedder()
            embed_checked(embedder, ["reindex probe"])  # fail before anything is dropped
            now = format_ts(utc_now())
            with self.store.write_transaction() as conn:
                conn.execute(delete(outbox))
                conn.execute(delete(outbox_parked))  # every key is queued again below
                conn.execute(delete(index_chunks))
                conn.execute(insert(outbox).from_select(
                    ["key", "version", "op", "created_at"],
                    select(heads.c.key, heads.c.version,
                           case((heads.c.is_deleted.is_(True), literal("delete")), else_=literal("upsert")),
                           literal(now)).order_by(heads.c.key)))
            self.vector_index.reset(str(embedder.fingerprint))
            self._matrix = None
            return self.process_outbox(batch=batch)

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
               generation: int | None = None) -> VectorMatrix | None:
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
                    if self.chunk_rows() <= SYNC_LOAD_MAX_ROWS:
                        wait = True  # small: loading now is quicker than a first query through Chroma
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

    def _refresh_matrix(self, conn: Connection | None = None, generation: int | None = None) -> VectorMatrix:
        with self._matrix_lock:  # one refresher at a time; writers are not blocked by a full load
            generation = self.generation(conn) if generation is None else generation
            matrix = self._matrix
            if matrix is not None and matrix.generation == generation:
                return matrix
            fingerprint = str(self.embedder().fingerprint)
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
        if matrix is None:
            return
        with matrix.lock:
            if matrix.generation != generation - 1:
                return  # the next search refreshes from SQL and the index
            matrix.replace(keys, vectors if vectors is not None else np.zeros((0, matrix.dim), np.float32), metas)
            matrix.generation = generation


def chunk_metadata(key: str, version: int, envelope: dict[str, Any]) -> dict[str, Any]:
    """What each chunk carries besides its vector. Search never filters on it (SQL does); it is there
    for inspection and for the raw-Chroma comparison in bench/search.py."""
    meta: dict[str, Any] = {"key": key, "version": version, "kind": str(envelope.get("kind", ""))}
    if envelope.get("model"):
        meta["model"] = str(envelope["model"])
    if envelope.get("occurred_at"):
        meta["occurred_ts"] = int(parse_ts(str(envelope["occurred_at"])).timestamp())
    return meta


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
