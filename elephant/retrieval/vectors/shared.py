"""The chunk vectors of a home in files that every process on the host maps read-only (docs/design.md §7.1).

Why: each serving worker used to load every chunk vector from SQL into a float32 matrix of its own,
~1.5 GB per worker at 1M records. Mapped files live once in the OS page cache whatever the number of
workers, and opening them is a map rather than a load. This module holds the format, the writes and
the read side (``SharedMatrix``, with the interface search uses on ``VectorMatrix``); keeping the
files up with SQL, which stays the authority, is ``elephant/retrieval/vectorfiles.py``'s job.

Layout of one slot, ``<home>/vectors/<digest of embedder and database>/slot-<n>/``::

    lock          flock: shared to read a header, exclusive to change anything in an epoch
    build.lock    one rebuild or compaction at a time
    e<m>/         an epoch, complete in itself; a rebuild or a compaction writes e<m+1> and switches
        header    magic, dim, generation, rows, bytes of names, pending generation (48 bytes)
        vectors   rows x dim float32, row-major
        key kind model time dead name   one 8-byte column per file (a filter is one contiguous
                  comparison): key, kind and model hashes, occurred time, the generation that
                  replaced the row (0: live), and where the key's text is in ``names``
        names     each written key's UTF-8 text, once per write

A key's rows are written together, so its live rows are contiguous. Rows and names are only ever
appended; the one column written in place is ``dead``, with the generation that replaced the row,
so a process that reads the files at generation g sees exactly the rows live at g (``dead`` 0 or
> g among the first ``rows`` of its header) however far writers have gone since.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import struct
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from elephant.retrieval.vectors.matrix import NO_TIME, _any_equal, best_keys, product, scores_of

MAGIC = b"ELEVEC01"
HEADER = struct.Struct("<8sqqqqq")  # magic, dim, generation, rows, names bytes, pending generation
COLUMNS = ("key", "kind", "model", "time", "dead", "name")
NAME_BITS = 10  # a key is at most 512 bytes (elephant/records/envelope.py MAX_KEY_LENGTH)
# Files grow by this factor at a time (sparse until written): a process maps them again only when
# they grow, and each new map faults its pages in once more (~0.3 s for 1.5 GB here).
GROWTH = 1.5
MIN_ROWS = 4096
MIN_NAMES = 1 << 20
_HASH_SEED = 0xCBF29CE484222325
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_HASH_SHIFT = np.uint64(31)


class Damaged(Exception):
    """The files cannot be read as they stand (missing, torn, another dimension); SQL rebuilds them."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


# ---------------------------------------------------------------------------------------------- hashes
def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """Stable 64-bit hashes of ``texts`` for every process (Python's own ``hash`` is salted per process).

    Vectorised over 8-byte words: 3.5 ms for 20,000 keys, against 11 ms for blake2b one by one, which
    matters to a filter that scores 20,000 candidate records. Zero words are skipped, so the width the
    batch is padded to does not change a hash (keys and names hold no NUL).
    """
    if not texts:
        return np.zeros(0, dtype=np.uint64)
    encoded = np.array([t.encode() for t in texts])
    width = max(8, -(-encoded.itemsize // 8) * 8)
    words = encoded.astype(f"S{width}").view("<u8").reshape(len(texts), -1)
    out = np.full(len(texts), _HASH_SEED, dtype=np.uint64)
    for column in words.T:
        mixed = (out ^ column) * _HASH_MULTIPLIER
        mixed ^= mixed >> _HASH_SHIFT
        out = np.where(column != 0, mixed, out)
    out[out == 0] = 1  # 0 means "no kind / no model"
    return out


def label_hash(value: str | None) -> int:
    """The column value of a kind or model name (0 for none)."""
    return int(text_hashes([value])[0]) if value else 0


def label_hashes(values: Sequence[str | None]) -> np.ndarray:
    """``label_hash`` of each value, hashing each distinct one once (a batch holds a few kinds and models)."""
    distinct = sorted({v for v in values if v})
    hashed = dict(zip(distinct, text_hashes(distinct).tolist(), strict=True))
    return np.array([hashed[v] if v else 0 for v in values], dtype=np.uint64)


# ---------------------------------------------------------------------------------------------- format
@dataclass(frozen=True)
class Header:
    dim: int
    generation: int
    rows: int
    names: int
    pending: int = 0

    def pack(self) -> bytes:
        return HEADER.pack(MAGIC, self.dim, self.generation, self.rows, self.names, self.pending)


@dataclass
class Batch:
    """Whole keys to write at one generation: each key's chunk count (0: the key is gone), its vectors
    (``sum(counts)`` x dim, in key order) and its kind, model and occurred time."""

    keys: list[str]
    counts: list[int]
    vectors: np.ndarray
    kinds: list[str | None]
    models: list[str | None]
    times: list[int | None]


def _column_dtype(column: str) -> str:
    return "<i8" if column in ("time", "dead") else "<u8"


class SlotFiles:
    """The files of one slot on disk: locks, epochs, headers and the appends."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = directory
        self.dim = dim

    # ------------------------------------------------------------------ locks
    @contextmanager
    def lock(self, *, exclusive: bool, wait_s: float | None = None) -> Iterator[bool]:
        """flock on ``lock``; with ``wait_s``, gives up after that long and yields False."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._flock(self.directory / "lock", fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, wait_s) as held:
            yield held

    @contextmanager
    def build_lock(self, *, wait: bool = True) -> Iterator[bool]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._flock(self.directory / "build.lock", fcntl.LOCK_EX, None if wait else 0.0) as held:
            yield held

    @staticmethod
    @contextmanager
    def _flock(path: Path, mode: int, wait_s: float | None) -> Iterator[bool]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if wait_s is None:
                fcntl.flock(fd, mode)
            else:
                deadline = time.monotonic() + wait_s
                while True:
                    try:
                        fcntl.flock(fd, mode | fcntl.LOCK_NB)
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                            if exc.errno in (errno.EAGAIN, errno.EACCES):
                                yield False
                                return
                            raise
                        time.sleep(0.001)
            yield True
        finally:
            os.close(fd)  # closing the last descriptor releases the lock

    # ------------------------------------------------------------------ epochs
    def epoch(self) -> Path | None:
        """The epoch in use: the highest-numbered ``e<m>``."""
        try:
            numbers = [int(p.name[1:]) for p in self.directory.iterdir() if p.name[:1] == "e" and p.name[1:].isdigit()]
        except FileNotFoundError:
            return None
        return self.directory / f"e{max(numbers)}" if numbers else None

    def current(self) -> tuple[Path, Header]:
        """The epoch in use and its header; raises Damaged when it cannot be read as it stands."""
        epoch = self.epoch()
        if epoch is None:
            raise Damaged(f"no vector file in {self.directory}", missing=True)
        return epoch, self.read_header(epoch)

    def read_header(self, epoch: Path) -> Header:
        try:
            raw = (epoch / "header").read_bytes()[:HEADER.size]
        except OSError as exc:
            raise Damaged(f"{epoch / 'header'}: {exc.strerror}") from exc
        if len(raw) != HEADER.size:
            raise Damaged(f"{epoch / 'header'}: torn ({len(raw)} bytes)")
        magic, dim, generation, rows, names, pending = HEADER.unpack(raw)
        if magic != MAGIC or dim != self.dim:
            raise Damaged(f"{epoch / 'header'}: not a {self.dim}-dimension vector file")
        if pending:
            raise Damaged(f"{epoch}: a write of generation {pending} never finished (a crash before its commit)")
        header = Header(dim, generation, rows, names)
        for name, width in [("vectors", dim * 4), *((c, 8) for c in COLUMNS)]:
            if _size(epoch / name) < rows * width:
                raise Damaged(f"{epoch / name}: shorter than the {rows} rows its header names (torn or truncated)")
        if _size(epoch / "names") < names:
            raise Damaged(f"{epoch / 'names'}: shorter than the {names} bytes its header names")
        return header

    def write_header(self, epoch: Path, header: Header) -> None:
        fd = os.open(epoch / "header", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, header.pack(), 0)
        finally:
            os.close(fd)

    def create(self, generation: int) -> Path:
        """A new, empty epoch under a temporary name (``publish`` switches to it)."""
        tmp = self.directory / f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        for name in ("vectors", *COLUMNS, "names"):
            (tmp / name).touch()
        self._reserve(tmp, 1)  # every file mappable from the start
        self._reserve_names(tmp, 1)
        self.write_header(tmp, Header(self.dim, generation, 0, 0))
        return tmp

    def publish(self, tmp: Path) -> Path:
        """Switch to ``tmp`` as the next epoch (an atomic rename), then remove older epochs and leftovers:
        processes that map them keep their pages until they follow."""
        current = self.epoch()
        number = int(current.name[1:]) + 1 if current is not None else 0
        target = self.directory / f"e{number}"
        os.rename(tmp, target)
        for path in self.directory.iterdir():
            if path.is_dir() and path != target and (path.name[:1] == "e" or path.name.startswith(f"tmp-{os.getpid()}-")):
                shutil.rmtree(path, ignore_errors=True)
        return target

    def discard(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ writes
    def append(self, epoch: Path, header: Header, batch: Batch, *, generation: int,
               replaced: np.ndarray | None = None) -> Header:
        """Append ``batch``'s rows after ``header.rows`` and mark ``replaced`` rows dead at ``generation``.

        Returns the header to write; the caller writes it (last, so a crash before leaves the old one,
        which ignores the rows past it)."""
        total = int(sum(batch.counts))
        if replaced is not None and replaced.size:
            self.mark_dead(epoch, replaced, generation)
        if total == 0:
            return replace(header, generation=generation)
        start = header.rows
        need = start + total
        self._reserve(epoch, need)
        vectors = np.ascontiguousarray(batch.vectors, dtype="<f4").reshape(total, self.dim)
        # Keys with no rows (deleted) only mark rows dead: nothing of theirs is written.
        kept = [i for i, count in enumerate(batch.counts) if count > 0]
        encoded = [batch.keys[i].encode() for i in kept]
        lengths = np.array([len(e) for e in encoded], dtype=np.uint64)
        offsets = np.cumsum(lengths) - lengths + np.uint64(header.names)
        per_key = {
            "key": text_hashes([batch.keys[i] for i in kept]),
            "kind": label_hashes([batch.kinds[i] for i in kept]),
            "model": label_hashes([batch.models[i] for i in kept]),
            "time": np.array([NO_TIME if batch.times[i] is None else int(batch.times[i])  # type: ignore[arg-type]
                              for i in kept], dtype=np.int64),
            "name": (offsets << np.uint64(NAME_BITS)) | lengths,
        }
        counts = np.array([batch.counts[i] for i in kept], dtype=np.int64)
        names_blob = b"".join(encoded)
        _pwrite(epoch / "vectors", vectors.tobytes(), start * self.dim * 4)
        for column in COLUMNS:
            if column == "dead":
                values = np.zeros(total, dtype=np.int64)
            else:
                values = np.repeat(per_key[column], counts).astype(_column_dtype(column))
            _pwrite(epoch / column, values.tobytes(), start * 8)
        self._reserve_names(epoch, header.names + len(names_blob))
        _pwrite(epoch / "names", names_blob, header.names)
        return Header(self.dim, generation, need, header.names + len(names_blob))

    def mark_dead(self, epoch: Path, rows: np.ndarray, generation: int) -> None:
        """Set ``dead`` of ``rows`` (live ones, sorted) to ``generation``: contiguous runs, one write each."""
        self._write_dead(epoch, rows, generation)

    def unmark_dead(self, epoch: Path, rows: np.ndarray) -> None:
        self._write_dead(epoch, rows, 0)

    def _write_dead(self, epoch: Path, rows: np.ndarray, value: int) -> None:
        if rows.size == 0:
            return
        rows = np.sort(rows)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        fd = os.open(epoch / "dead", os.O_RDWR)
        try:
            for run in np.split(rows, breaks):
                os.pwrite(fd, np.full(run.size, value, dtype="<i8").tobytes(), int(run[0]) * 8)
        finally:
            os.close(fd)

    def _reserve(self, epoch: Path, rows: int) -> None:
        """Grow every row file to hold ``rows`` (by GROWTH at a time, sparse until written)."""
        have = _size(epoch / "key") // 8
        if rows <= have:
            return
        capacity = max(rows, int(have * GROWTH), MIN_ROWS)
        os.truncate(epoch / "vectors", capacity * self.dim * 4)
        for column in COLUMNS:
            os.truncate(epoch / column, capacity * 8)

    def _reserve_names(self, epoch: Path, size: int) -> None:
        have = _size(epoch / "names")
        if size > have:
            os.truncate(epoch / "names", max(size, int(have * GROWTH), MIN_NAMES))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _pwrite(path: Path, data: bytes, offset: int) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- key index
class KeyIndex:
    """key hash → (first row, rows) of the key's newest rows: sorted arrays, not a dict of strings.

    At 1M keys a dict of key strings to row tuples costs ~150 MB in every process; three arrays cost
    20 MB. Recent writes go to a small sorted overlay that is merged in when it grows.
    """

    MERGE_AT = 65_536

    def __init__(self, hashes: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> None:
        self._base = (hashes, starts, counts)
        self._recent = (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    @classmethod
    def of_rows(cls, keys: np.ndarray, first_row: int = 0) -> KeyIndex:
        """From a key-hash column: runs of equal hashes are one write of one key; the last run wins."""
        empty = (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        return cls(*_merge(empty, _groups(keys, first_row)))

    def add_rows(self, keys: np.ndarray, first_row: int) -> None:
        if keys.size == 0:
            return
        self._recent = _merge(self._recent, _groups(keys, first_row))
        if self._recent[0].size > self.MERGE_AT:
            self._base = _merge(self._base, self._recent)
            self._recent = (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def rows(self, hashes: np.ndarray) -> np.ndarray:
        """Every row of the newest write of each hash (live or not: callers check ``dead``), in no
        particular order."""
        # Sorted needles let the binary searches share their path: 20k keys in 1M took 20 ms unsorted.
        hashes = np.sort(hashes)
        starts, counts = _lookup(self._base, hashes)
        if self._recent[0].size:
            recent_starts, recent_counts = _lookup(self._recent, hashes)
            found = recent_counts > 0
            starts[found], counts[found] = recent_starts[found], recent_counts[found]
        found = counts > 0
        starts, counts = starts[found], counts[found]
        if starts.size == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(np.cumsum(counts) - counts, counts)
        rows: np.ndarray = np.repeat(starts, counts) + (np.arange(int(counts.sum())) - offsets)
        return rows

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self._base, *self._recent))


def _groups(keys: np.ndarray, first_row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if keys.size == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    counts = np.diff(np.append(starts, keys.size))
    return np.asarray(keys[starts], dtype=np.uint64), starts.astype(np.int64) + first_row, counts.astype(np.int64)


def _merge(old: tuple[np.ndarray, np.ndarray, np.ndarray],
           new: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted by hash, one entry per hash, the later row winning (newer writes come later in the file)."""
    if new[0].size == 0:
        return old
    hashes = np.concatenate([old[0], new[0]])
    starts = np.concatenate([old[1], new[1]])
    counts = np.concatenate([old[2], new[2]])
    order = np.lexsort((starts, hashes))
    hashes, starts, counts = hashes[order], starts[order], counts[order]
    last = np.append(hashes[1:] != hashes[:-1], True)
    return hashes[last], starts[last], counts[last]


def _lookup(table: tuple[np.ndarray, np.ndarray, np.ndarray], hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, starts, counts = table
    if keys.size == 0:
        return np.zeros(hashes.size, np.int64), np.zeros(hashes.size, np.int64)
    at = np.minimum(np.searchsorted(keys, hashes), keys.size - 1)
    found = keys[at] == hashes
    return np.where(found, starts[at], 0), np.where(found, counts[at], 0)


# ---------------------------------------------------------------------------------------------- reads
class SharedMatrix:
    """The rows of one epoch live at one generation, over read-only maps of its files: the interface
    search uses on ``VectorMatrix`` (mask, top, top_all, rows_for, rows, lock, generation)."""

    def __init__(self, files: SlotFiles, epoch: Path, header: Header, *, slot: int) -> None:
        self.files = files
        self.epoch = epoch
        self.slot = slot
        self.dim = header.dim
        self.lock = threading.RLock()
        self.generation = header.generation
        self._rows = 0
        self._names_size = 0
        self._capacity = -1
        self._live: tuple[int, int] | None = None
        self._map(header)
        self._index = KeyIndex.of_rows(np.asarray(self._columns["key"][:header.rows]))
        self._rows = header.rows
        self._names_size = header.names

    def _map(self, header: Header) -> None:
        """Map the files (again, when they grew past the maps)."""
        capacity = min(_size(self.epoch / "vectors") // (self.dim * 4), *(_size(self.epoch / c) // 8 for c in COLUMNS))
        if capacity <= 0 or capacity < header.rows:
            raise Damaged(f"{self.epoch}: files missing or shorter than the {header.rows} rows of the header")
        if capacity != self._capacity:
            self._vectors = np.memmap(self.epoch / "vectors", dtype="<f4", mode="r", shape=(capacity, self.dim))
            self._columns = {c: np.memmap(self.epoch / c, dtype=_column_dtype(c), mode="r", shape=(capacity,))
                             for c in COLUMNS}
            self._capacity = capacity
        names = _size(self.epoch / "names")
        if names > 0 and (names != getattr(self, "_names_capacity", -1)):
            self._names: np.ndarray = np.memmap(self.epoch / "names", dtype=np.uint8, mode="r", shape=(names,))
            self._names_capacity = names
        elif names <= 0:
            self._names = np.zeros(0, dtype=np.uint8)
            self._names_capacity = 0

    def advance(self, header: Header) -> None:
        """Follow the same epoch to a later header: new rows join the key index; dead marks are read as
        they come (the ``dead`` column holds the generation that replaced a row)."""
        with self.lock:
            if header.rows > self._capacity or header.names > self._names_capacity:
                self._map(header)
            if header.rows > self._rows:
                self._index.add_rows(np.asarray(self._columns["key"][self._rows:header.rows]), self._rows)
            self._rows = max(self._rows, header.rows)
            self._names_size = max(self._names_size, header.names)
            self.generation = max(self.generation, header.generation)
            self._live = None

    # ------------------------------------------------------------------ the VectorMatrix interface
    def __len__(self) -> int:
        if self._live is None or self._live[0] != self.generation:
            self._live = (self.generation, int(np.count_nonzero(self._alive(0, self._rows))))
        return self._live[1]

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def nbytes(self) -> int:
        return self._rows * self.dim * 4

    @property
    def private_bytes(self) -> int:
        """What this process holds of its own for the matrix: the key index."""
        return self._index.nbytes

    @property
    def dead_fraction(self) -> float:
        return 1.0 - len(self) / self._rows if self._rows else 0.0

    def _alive(self, start: int, stop: int) -> np.ndarray:
        dead = self._columns["dead"][start:stop]
        return np.asarray((dead == 0) | (dead > self.generation))

    def mask(self, *, kinds: Sequence[str] | None = None, models: Sequence[str] | None = None,
             since_ts: int | None = None, until_ts: int | None = None) -> np.ndarray:
        size = self._rows
        mask = self._alive(0, size)
        if kinds:
            mask &= _any_equal(self._columns["kind"][:size], [label_hash(k) for k in kinds])
        if models:
            mask &= _any_equal(self._columns["model"][:size], [label_hash(m) for m in models])
        times = self._columns["time"][:size]
        if since_ts is not None:
            mask &= times >= since_ts
        if until_ts is not None:
            mask &= (times < until_ts) & (times != NO_TIME)
        return mask

    def rows_for(self, keys: Sequence[str] | set[str] | frozenset[str]) -> np.ndarray:
        rows = np.sort(self._index.rows(text_hashes(list(keys))))
        rows = rows[rows < self._rows]
        dead = self._columns["dead"][rows]
        live: np.ndarray = rows[(dead == 0) | (dead > self.generation)]
        return live

    def top(self, query: np.ndarray, rows: np.ndarray, limit: int) -> list[tuple[str, float]]:
        if rows.size == 0:
            return []
        scores = scores_of(self._vectors, rows, np.asarray(query, dtype=np.float32))
        return best_keys(scores, rows, limit, self.key_at)

    def top_all(self, query: np.ndarray, limit: int) -> list[tuple[str, float]]:
        size = self._rows
        if size == 0:
            return []
        scores = product(self._vectors[:size], np.asarray(query, dtype=np.float32))
        scores[~self._alive(0, size)] = -np.inf
        return best_keys(scores, None, limit, self.key_at)

    def key_at(self, row: int) -> str:
        ref = int(self._columns["name"][row])
        offset, length = ref >> NAME_BITS, ref & ((1 << NAME_BITS) - 1)
        return bytes(self._names[offset:offset + length]).decode()

    # ------------------------------------------------------------------ for writers and compaction
    def rows_of(self, keys: Sequence[str]) -> np.ndarray:
        """The live rows of ``keys`` now (what a write of them replaces)."""
        return self.rows_for(keys)

    def live_rows(self) -> np.ndarray:
        """Live rows grouped by model and kind, so that a model filter scores nearly contiguous memory."""
        rows = np.flatnonzero(self._alive(0, self._rows))
        order = np.lexsort((rows, self._columns["kind"][rows], self._columns["model"][rows]))
        return rows[order]

    def copy_rows(self, rows: np.ndarray, target: Path, header: Header, *, chunk: int = 16_384) -> Header:
        """Append ``rows`` of this epoch to the epoch ``target`` (a compaction), in whole-key runs."""
        names = bytearray()
        position = header.rows
        self.files._reserve(target, header.rows + rows.size)
        for start in range(0, rows.size, chunk):
            part = rows[start:start + chunk]
            _pwrite(target / "vectors", np.ascontiguousarray(self._vectors[part]).tobytes(), position * self.dim * 4)
            refs = self._columns["name"][part].astype(np.uint64)
            lengths = refs & np.uint64((1 << NAME_BITS) - 1)
            base = header.names + len(names)
            # A key's rows are adjacent here too, so its name is copied once per run.
            first = np.append(True, refs[1:] != refs[:-1])
            offsets = np.cumsum(np.where(first, lengths, 0)) - np.where(first, lengths, 0)
            run_offset = np.maximum.accumulate(np.where(first, offsets, 0))
            new_refs = ((run_offset.astype(np.uint64) + np.uint64(base)) << np.uint64(NAME_BITS)) | lengths
            for ref in refs[first].tolist():
                offset, length = ref >> NAME_BITS, ref & ((1 << NAME_BITS) - 1)
                names += bytes(self._names[offset:offset + length])
            for column in COLUMNS:
                values = (np.zeros(part.size, dtype=np.int64) if column == "dead" else new_refs if column == "name"
                          else np.asarray(self._columns[column][part]))
                _pwrite(target / column, values.astype(_column_dtype(column)).tobytes(), position * 8)
            position += part.size
        self.files._reserve_names(target, header.names + len(names))
        _pwrite(target / "names", bytes(names), header.names)
        return Header(self.dim, header.generation, position, header.names + len(names))
