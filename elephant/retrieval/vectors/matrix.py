"""Every chunk vector of the index in one in-process numpy matrix, for exact search under filters.

Why: Chroma's ``where`` is slow under selective filters (docs/design.md §7), and over-fetching from the ANN
index needs thousands of neighbours when a filter keeps 1 record in 20. A masked matrix product
over the rows that pass the filter is exact and takes a few milliseconds at 100k chunks
(bench/search.py). The matrix is a cache of the vector index: loaded from it on first use and
refreshed by *index generation* — every applied outbox batch bumps a counter in SQL and stamps the
keys it wrote, so a process reloads exactly the keys other processes indexed since it last looked.
Rows carry kind, model and time so those filters are numpy masks; the SQL heads stay the authority
(search re-checks its final candidates there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

NO_TIME = np.iinfo(np.int64).min
# Up to this many chunk rows a product over the whole matrix is the cheaper way to answer an
# unfiltered query (0.8 ms at 12k rows against 1.6 ms for Chroma's HNSW query here), and it is exact.
EXACT_MAX_ROWS = 40_000


class VectorMatrix:
    """Rows of (vector, key, kind, model, occurred time); removed rows are masked and reused."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        # Row-major, so that scattered rows gather as contiguous vectors (see product() for the kernel).
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._valid = np.zeros(0, dtype=bool)
        self._kind = np.zeros(0, dtype=np.int32)
        self._model = np.zeros(0, dtype=np.int32)
        self._time = np.zeros(0, dtype=np.int64)
        self._keys: list[str | None] = []
        # Tuples, not lists: CPython stops tracking all-int tuples, so 100k keys add no work to every
        # full garbage collection (lists would, and showed up as search latency outliers).
        self._rows_of: dict[str, tuple[int, ...]] = {}
        self._free: list[int] = []
        self._codes: dict[str, int] = {"": 0}
        self.generation = -1
        self.lock = threading.RLock()

    def __len__(self) -> int:
        return int(self._valid.sum())

    @property
    def nbytes(self) -> int:
        return int(self._vectors.nbytes)

    def _code(self, value: str | None) -> int:
        text = value or ""
        code = self._codes.get(text)
        if code is None:
            code = self._codes[text] = len(self._codes)
        return code

    def _grow(self, extra: int) -> None:
        size = len(self._keys)
        need = size + extra
        capacity = self._vectors.shape[0]
        if need > capacity:
            new = max(need, capacity * 2, 1024)
            self._vectors = np.resize(self._vectors, (new, self.dim))
            self._valid = np.concatenate([self._valid, np.zeros(new - capacity, dtype=bool)])
            self._kind = np.concatenate([self._kind, np.zeros(new - capacity, dtype=np.int32)])
            self._model = np.concatenate([self._model, np.zeros(new - capacity, dtype=np.int32)])
            self._time = np.concatenate([self._time, np.full(new - capacity, NO_TIME, dtype=np.int64)])
            self._valid[capacity:] = False

    # ------------------------------------------------------------------ writes
    def remove_keys(self, keys: Iterable[str]) -> None:
        for key in keys:
            for row in self._rows_of.pop(key, ()):
                self._valid[row] = False
                self._keys[row] = None
                self._free.append(row)

    def add(self, vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        """Add chunk rows; callers remove a key's old rows first (``replace``)."""
        count = len(metadatas)
        reuse = [self._free.pop() for _ in range(min(count, len(self._free)))]
        fresh = count - len(reuse)
        self._grow(fresh)
        start = len(self._keys)
        self._keys.extend([None] * fresh)
        rows = np.array(reuse + list(range(start, start + fresh)), dtype=np.int64)
        if count == 0:
            return
        self._vectors[rows] = np.asarray(vectors, dtype=np.float32)
        self._valid[rows] = True
        code = self._code
        kinds, models, times = [], [], []
        rows_of = self._rows_of
        for row, meta in zip(rows.tolist(), metadatas, strict=True):
            key = str(meta["key"])
            self._keys[row] = key
            rows_of[key] = (*rows_of[key], row) if key in rows_of else (row,)
            kinds.append(code(meta.get("kind")))
            models.append(code(meta.get("model")))
            when = meta.get("occurred_ts")
            times.append(NO_TIME if when is None else int(when))
        # One assignment per column instead of three numpy item writes per row (12k rows: 60 ms).
        self._kind[rows] = kinds
        self._model[rows] = models
        self._time[rows] = times

    def replace(self, keys: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        self.remove_keys(keys)
        self.add(vectors, metadatas)

    def clear(self) -> None:
        self.__init__(self.dim)  # type: ignore[misc]

    # ------------------------------------------------------------------ reads
    def mask(self, *, kinds: Sequence[str] | None = None, models: Sequence[str] | None = None,
             since_ts: int | None = None, until_ts: int | None = None) -> np.ndarray:
        size = len(self._keys)
        mask = self._valid[:size].copy()
        if kinds:
            mask &= _any_equal(self._kind[:size], [self._codes.get(k, -1) for k in kinds])
        if models:
            mask &= _any_equal(self._model[:size], [self._codes.get(m, -1) for m in models])
        if since_ts is not None:
            mask &= self._time[:size] >= since_ts
        if until_ts is not None:
            mask &= (self._time[:size] < until_ts) & (self._time[:size] != NO_TIME)
        return mask

    def rows_for(self, keys: Iterable[str]) -> np.ndarray:
        rows = [row for key in keys for row in self._rows_of.get(key, ())]
        return np.asarray(rows, dtype=np.int64)

    @property
    def rows(self) -> int:
        """Rows in use, removed ones included: what a product over the whole matrix costs."""
        return len(self._keys)

    def top(self, query: np.ndarray, rows: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """The best ``limit`` keys among ``rows`` (each key scored by its best chunk)."""
        if rows.size == 0:
            return []
        return self._best_keys(scores_of(self._vectors, rows, np.asarray(query, dtype=np.float32)), rows, limit)

    def top_all(self, query: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """The best ``limit`` keys over every row: one product over the contiguous matrix, no gather."""
        size = len(self._keys)
        if size == 0:
            return []
        scores = product(self._vectors[:size], np.asarray(query, dtype=np.float32))
        scores[~self._valid[:size]] = -np.inf
        return self._best_keys(scores, None, limit)

    def _best_keys(self, scores: np.ndarray, rows: np.ndarray | None, limit: int) -> list[tuple[str, float]]:
        keys = self._keys
        return best_keys(scores, rows, limit, lambda row: keys[row])


# Scattered rows are gathered this many at a time: a model filter over 1M rows admits ~100k of them, and
# one gather would copy 150 MB into a temporary for every search.
GATHER_ROWS = 8192


def scores_of(vectors: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Scores of ``vectors[rows]`` against ``query``, for the in-process matrix and the shared file alike."""
    # Rows of one model are mostly contiguous (loads and compactions group them), so a few slices are
    # scored in place instead of gathering thousands of scattered rows into a temporary.
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    if breaks.size > 64:
        if rows.size <= GATHER_ROWS:
            return product(vectors[rows], query)
        return np.concatenate([product(vectors[rows[a:a + GATHER_ROWS]], query)
                               for a in range(0, rows.size, GATHER_ROWS)])
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [rows.size]])
    return np.concatenate([product(vectors[rows[a]:rows[b - 1] + 1], query)
                           for a, b in zip(starts.tolist(), stops.tolist(), strict=True)])


def best_keys(scores: np.ndarray, rows: np.ndarray | None, limit: int,
              key_at: Callable[[int], str | None]) -> list[tuple[str, float]]:
    """Keys by their best score; ``rows[i]`` is the matrix row of ``scores[i]`` (None: row i), and
    ``key_at(row)`` the key a row holds (None: a removed row)."""
    # Enough chunk rows to yield `limit` distinct keys in the usual case of ≤ 2 chunks per key.
    take = min(scores.size, limit * 3)
    best = np.argpartition(-scores, take - 1)[:take] if take < scores.size else np.arange(scores.size)
    best = best[np.argsort(-scores[best], kind="stable")]
    out: dict[str, float] = {}
    for i in best.tolist():
        if scores[i] == -np.inf:
            break
        key = key_at(int(rows[i]) if rows is not None else i)
        if key is not None and key not in out:
            out[key] = float(scores[i])
            if len(out) == limit:
                break
    return list(out.items())


# Matrix-vector products: numpy's einsum or BLAS's gemv, whichever this machine runs faster, as
# measured on the first large product. Neither wins everywhere: on the 2-core Intel Xeon of 2026-11-26
# BLAS took 1.1 ms for 16k x 384 and einsum 2.2 ms; on the 2-core AMD EPYC of 2026-11-29 einsum took
# 0.80 ms for 11k x 384 with cold caches and BLAS 1.63 ms (8.1 against 15.7 ms at 127k rows). The
# matrix stays row-major either way: stored column-major, BLAS ran its faster kernel on the EPYC
# (0.83 ms), but scattered rows then gathered strided, and a kind + time filter at 100k records
# went from 11.1 to 16.6 ms p50. BLAS runs on one thread: a threaded product beside onnxruntime's
# threads once took 11 ms for 5k x 384. `elephant serve` limits its workers' BLAS once; elsewhere a
# product lowers the limit for its own duration (threadpoolctl, ~8 us), so a library user's own
# numpy keeps its threads.
_SINGLE_THREADED_BLAS = False
_BLAS_CONTROLLER: Any = None
_KERNEL: str | None = None  # "einsum" or "blas", once measured
CALIBRATE_MIN_ROWS = 4096
_calibration_lock = threading.Lock()
_controller_lock = threading.Lock()


def product(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    kernel = _KERNEL
    if kernel is None:
        if matrix.shape[0] < CALIBRATE_MIN_ROWS:
            return _einsum(matrix, vector)  # too small to measure, and cheap either way
        kernel = _calibrate(matrix, vector)
    return _blas(matrix, vector) if kernel == "blas" else _einsum(matrix, vector)


def _einsum(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    scores: np.ndarray = np.einsum("ij,j->i", matrix, vector)
    return scores


def _blas(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    scores: np.ndarray
    if _SINGLE_THREADED_BLAS:
        scores = matrix @ vector
        return scores
    controller = _blas_controller()
    if controller is None:
        return _einsum(matrix, vector)
    with controller.limit(limits=1, user_api="blas"):
        scores = matrix @ vector
    return scores


def _calibrate(matrix: np.ndarray, vector: np.ndarray, rounds: int = 3) -> str:
    """Time both kernels on this product, alternating, and keep the faster for the process (a 2x
    difference either way so far, well above a shared machine's noise; ~6 ms once at 10k rows)."""
    global _KERNEL
    with _calibration_lock:
        if _KERNEL is None:
            best = {"einsum": float("inf"), "blas": float("inf")}
            for _ in range(rounds):
                for name, kernel in (("einsum", _einsum), ("blas", _blas)):
                    started = time.perf_counter()
                    kernel(matrix, vector)
                    best[name] = min(best[name], time.perf_counter() - started)
            _KERNEL = min(best, key=best.__getitem__)
        return _KERNEL


def product_kernel() -> str | None:
    """The kernel products use ("einsum" or "blas"); None until a large product measured them."""
    return _KERNEL


def _blas_controller() -> Any:
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        with _controller_lock:
            if _BLAS_CONTROLLER is None:
                try:
                    from threadpoolctl import ThreadpoolController

                    _BLAS_CONTROLLER = ThreadpoolController()
                except Exception:  # no threadpoolctl, or it cannot inspect this process
                    _BLAS_CONTROLLER = False
    return _BLAS_CONTROLLER or None


def use_single_threaded_blas() -> bool:
    """Limit this process's BLAS to one thread for good: for processes that own their cores
    (``elephant serve`` runs one worker per core). True when the limit took effect."""
    global _SINGLE_THREADED_BLAS
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=1, user_api="blas")
    _SINGLE_THREADED_BLAS = True
    return True


def _any_equal(column: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    # np.isin sorts; for the handful of codes a filter names, equality tests are ~10x faster.
    out: np.ndarray = column == codes[0]
    for code in codes[1:]:
        out |= column == code
    return out
