"""Keeps the host's shared vector files (``elephant/retrieval/vectors/shared.py``) up with SQL.

SQL stays the authority (docs/design.md §7.1): the files hold the state of ``index_chunks`` at the
generation in their header. Whoever applies an index batch appends it before its SQL commit, holding
the files' lock across the commit (``Indexer._apply``); any process that finds the files behind the
generation it read catches them up from ``index_chunks.vectors``; files that are missing, torn, left
by a crash mid-write, or whose live rows disagree with SQL are rebuilt from SQL into a new epoch;
dead rows past ``COMPACT_DEAD`` are compacted into a new epoch. Replicas on other hosts keep their own
files, built and followed from SQL the same way.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from elephant.osmem import release_free_memory
from elephant.retrieval.vectors import fingerprint_mismatch
from elephant.retrieval.vectors.shared import Batch, Damaged, Header, SharedMatrix, SlotFiles
from elephant.storage.schema import heads, index_chunks, index_state
from elephant.storage.store import Store
from elephant.timeutil import parse_ts

_log = logging.getLogger("elephant.vectorfiles")
# Compact when this share of the rows is dead (replaced or deleted records' chunks), past MIN rows.
COMPACT_DEAD = 0.30
COMPACT_MIN_ROWS = 4096
# An applier waits this long for the files' lock (readers hold it for microseconds) before leaving the
# batch to the readers' catch-up; it holds the SQL write lock meanwhile.
APPEND_WAIT_S = 0.2
STREAM_ROWS = 2000


class LegacyVectors(Exception):
    """Some chunk vectors exist only in the vector index (rows written before migration 0003)."""


def _generation_column() -> Any:
    return select(index_state.c.value).where(index_state.c.name == "generation").scalar_subquery()


class VectorFiles:
    """The vector files of one home on this host: one directory per embedder, database and slot."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self._compacting = threading.Lock()

    def files(self, fingerprint: str, slot: int, dim: int) -> SlotFiles:
        # The database is part of the name: a home pointed at another PostgreSQL database must not
        # serve the first one's vectors.
        url = self.store.engine.url.render_as_string(hide_password=True)
        digest = hashlib.sha256(f"{fingerprint}\n{url}".encode()).hexdigest()[:16]
        return SlotFiles(self.root / digest / f"slot-{slot}", dim)

    def ready(self, fingerprint: str, slot: int, dim: int) -> bool:
        """Whether readable files exist (opening them is then a map, not a load from SQL)."""
        files = self.files(fingerprint, slot, dim)
        try:
            with files.lock(exclusive=False):
                files.current()
        except Damaged:
            return False
        return True

    # ------------------------------------------------------------------ following
    def follow(self, current: SharedMatrix | None, *, fingerprint: str, slot: int, dim: int,
               generation: int) -> SharedMatrix:
        """A matrix over the files at ``generation`` or later: ``current`` advanced when it maps the
        epoch in use, else a fresh one; the files caught up from SQL or rebuilt first when needed."""
        files = self.files(fingerprint, slot, dim)
        if current is not None and (current.files.directory != files.directory or current.dim != dim):
            current = None
        for _attempt in range(3):
            try:
                with files.lock(exclusive=False):
                    epoch, header = files.current()
                    if header.generation >= generation:
                        matrix = _adopt(current, files, epoch, header, slot)
                    else:
                        matrix = None
                if matrix is None:
                    with files.lock(exclusive=True):
                        epoch, header = files.current()
                        matrix = _adopt(current, files, epoch, header, slot)
                        if matrix.generation < generation:
                            self._catch_up(files, epoch, matrix, fingerprint)
            except Damaged as exc:
                (_log.info if exc.missing else _log.warning)("shared vectors: %s; building them from SQL", exc)
                self.rebuild(files, fingerprint)
                current = None
                continue
            if current is None and not self._agrees(matrix):
                self.rebuild(files, fingerprint)
                continue
            return matrix
        raise Damaged(f"the vector files in {files.directory} could not be rebuilt from SQL")

    def _agrees(self, matrix: SharedMatrix) -> bool:
        """Whether the live rows match the chunks SQL indexed (checked when a process opens the files and
        SQL is at their generation; a torn append or lost dead marks after a machine crash show here)."""
        with self.store.read_connection() as conn:
            generation, chunks = conn.execute(select(_generation_column(),
                                                     select(func.coalesce(func.sum(index_chunks.c.chunks), 0))
                                                     .scalar_subquery())).one()
        if int(generation) < matrix.generation:
            _log.warning("shared vectors: the files are at generation %d, SQL at %d (another database?)",
                         matrix.generation, generation)
            return False
        if int(generation) == matrix.generation and len(matrix) != int(chunks):
            _log.warning("shared vectors: %d live rows, SQL indexed %d chunks", len(matrix), chunks)
            return False
        return True

    def _catch_up(self, files: SlotFiles, epoch: Path, matrix: SharedMatrix, fingerprint: str) -> None:
        """Append what SQL indexed after the matrix's generation (holding the exclusive lock)."""
        with self.store.read_connection() as own:
            rows = own.execute(_chunk_rows().where(index_chunks.c.generation > matrix.generation)).all()
            generation = int(rows[0].g) if rows else int(own.execute(select(_generation_column())).scalar_one())
        batch = _batch(rows, fingerprint, files.dim)
        header = Header(files.dim, matrix.generation, matrix.rows, matrix._names_size)
        replaced = matrix.rows_of(batch.keys)
        header = files.append(epoch, header, batch, generation=generation, replaced=replaced)
        files.write_header(epoch, header)
        matrix.advance(header)

    # ------------------------------------------------------------------ the applier's append
    @contextmanager
    def appending(self, matrix: SharedMatrix, generation: int, batch: Batch) -> Iterator[None]:
        """Append ``batch`` as ``generation`` before the caller's SQL commit, holding the lock until the
        commit is done; undone when the body raises (the commit failed). A crash in between leaves a
        pending mark in the header, and the files are rebuilt from SQL by the next process to read them."""
        files = matrix.files
        with files.lock(exclusive=True, wait_s=APPEND_WAIT_S) as held:
            if not held:
                yield  # readers catch up from SQL instead
                return
            try:
                epoch, header = files.current()
            except Damaged:
                yield
                return
            if epoch != matrix.epoch or header.generation != generation - 1:
                yield  # behind or ahead of this batch: the catch-up from SQL is the safe path
                return
            matrix.advance(header)
            replaced = matrix.rows_of(batch.keys)
            try:
                files.write_header(epoch, Header(header.dim, header.generation, header.rows, header.names,
                                                 generation))
                written = files.append(epoch, header, batch, generation=generation, replaced=replaced)
            except OSError as exc:  # a full disk must not fail the index batch: SQL has it, followers catch up
                _log.warning("shared vectors: could not append generation %d: %s", generation, exc)
                try:
                    files.unmark_dead(epoch, replaced)
                    files.write_header(epoch, header)
                except OSError:
                    pass  # the pending mark stays: the next reader rebuilds the files from SQL
                yield
                return
            try:
                yield
            except BaseException:
                files.unmark_dead(epoch, replaced)
                files.write_header(epoch, header)
                raise
            files.write_header(epoch, written)
            matrix.advance(written)

    # ------------------------------------------------------------------ rebuilds and compaction
    def rebuild(self, files: SlotFiles, fingerprint: str) -> None:
        """Write a new epoch from SQL and switch to it; one builder at a time, the others wait for it."""
        with files.build_lock():
            try:
                with files.lock(exclusive=False):
                    epoch, header = files.current()
                    probe = SharedMatrix(files, epoch, header, slot=-1)
                if self._agrees(probe):
                    return  # another process rebuilt them while this one waited
            except Damaged:
                pass
            with self.store.read_connection() as conn:
                first = conn.execute(select(_generation_column())).scalar_one()
            tmp = files.create(int(first))
            try:
                header = Header(files.dim, int(first), 0, 0)
                with self.store.read_connection() as conn:
                    result = conn.execution_options(yield_per=STREAM_ROWS).execute(
                        _chunk_rows().where(index_chunks.c.chunks > 0))
                    generation = None
                    for part in result.partitions():
                        generation = int(part[0].g)
                        header = files.append(tmp, header, _batch(part, fingerprint, files.dim), generation=generation)
                if generation is not None:
                    header = Header(files.dim, generation, header.rows, header.names)
                files.write_header(tmp, header)
                # Rows in SQL's order scatter each model over the file; grouped by model and kind, a
                # model filter scores a few slices in place (100k records: 0.8 ms p50 against 3.3 ms).
                grouped = self._grouped_copy(files, tmp, header)
                files.discard(tmp)
                tmp = grouped
                self._publish(files, tmp, files.read_header(tmp), fingerprint)
            except BaseException:
                files.discard(tmp)
                raise
            finally:
                release_free_memory()

    @staticmethod
    def _grouped_copy(files: SlotFiles, source_epoch: Path, header: Header) -> Path:
        """A copy of an epoch's live rows, grouped by model and kind, as a new temporary epoch."""
        source = SharedMatrix(files, source_epoch, header, slot=-1)
        target = files.create(header.generation)
        try:
            copied = source.copy_rows(source.live_rows(), target, Header(files.dim, header.generation, 0, 0))
            files.write_header(target, copied)
        except BaseException:
            files.discard(target)
            raise
        return target

    def _publish(self, files: SlotFiles, tmp: Path, header: Header, fingerprint: str) -> None:
        """Catch a new epoch up from SQL under the exclusive lock, then switch to it."""
        with files.lock(exclusive=True):
            matrix = SharedMatrix(files, tmp, header, slot=-1)
            self._catch_up(files, tmp, matrix, fingerprint)
            files.publish(tmp)

    def compact_soon(self, matrix: SharedMatrix, fingerprint: str) -> None:
        """Compact in a background thread when dead rows pass ``COMPACT_DEAD`` (searches go on)."""
        if matrix.rows < COMPACT_MIN_ROWS or matrix.dead_fraction <= COMPACT_DEAD:
            return
        if not self._compacting.acquire(blocking=False):
            return
        thread = threading.Thread(target=self._compact_quietly, args=(matrix, fingerprint),
                                  name="elephant-vector-compaction", daemon=True)
        thread.start()

    def _compact_quietly(self, matrix: SharedMatrix, fingerprint: str) -> None:
        try:
            self.compact(matrix.files, fingerprint)
        except Exception as exc:  # the files stay as they are; the next follower tries again
            _log.warning("shared vectors: compaction failed: %s", exc)
        finally:
            self._compacting.release()

    def compact(self, files: SlotFiles, fingerprint: str) -> bool:
        """Copy the live rows into a new epoch, grouped by model and kind; False when another process
        is rebuilding or compacting. Rows below a header never change but for dead marks of later
        generations, so the copy runs without the lock; what was written meanwhile comes from SQL."""
        with files.build_lock(wait=False) as ours:
            if not ours:
                return False
            with files.lock(exclusive=False):
                epoch, header = files.current()
            source = SharedMatrix(files, epoch, header, slot=-1)
            if source.rows < COMPACT_MIN_ROWS or source.dead_fraction <= COMPACT_DEAD:
                return False
            tmp = self._grouped_copy(files, epoch, header)
            try:
                copied = files.read_header(tmp)
                self._publish(files, tmp, copied, fingerprint)
            except BaseException:
                files.discard(tmp)
                raise
            _log.info("shared vectors: compacted %d rows to %d", header.rows, copied.rows)
            return True

    def drop_slots_below(self, slot: int) -> None:
        """Remove the files of slots a reindex replaced (processes mapping them keep their pages)."""
        if not self.root.is_dir():
            return
        for directory in self.root.glob("*/slot-*"):
            number = directory.name[len("slot-"):]
            if number.isdigit() and int(number) < slot:
                shutil.rmtree(directory, ignore_errors=True)


def _adopt(current: SharedMatrix | None, files: SlotFiles, epoch: Path, header: Header, slot: int) -> SharedMatrix:
    if current is not None and current.epoch == epoch:
        current.advance(header)
        return current
    return SharedMatrix(files, epoch, header, slot=slot)


def _chunk_rows() -> Any:
    """Chunk rows with their vectors, the heads' filter columns and the generation, in one statement
    (one snapshot on both databases: the generation is that of the rows read)."""
    return (select(index_chunks.c.key, index_chunks.c.chunks, index_chunks.c.vectors, index_chunks.c.fingerprint,
                   heads.c.kind, heads.c.model, heads.c.occurred_at, _generation_column().label("g"))
            .select_from(index_chunks.outerjoin(heads, heads.c.key == index_chunks.c.key)))


def _batch(rows: Sequence[Any], fingerprint: str, dim: int) -> Batch:
    """Rows of ``_chunk_rows`` as a batch to append; raises LegacyVectors for rows without SQL vectors."""
    keys: list[str] = []
    counts: list[int] = []
    blobs: list[bytes] = []
    kinds: list[str | None] = []
    models: list[str | None] = []
    times: list[int | None] = []
    for row in rows:
        chunks = int(row.chunks)
        if chunks > 0:
            if row.vectors is None or len(row.vectors) != chunks * dim * 4:
                raise LegacyVectors(f"index_chunks row {row.key!r} has no vectors of dimension {dim} in SQL")
            if row.fingerprint != fingerprint:
                raise fingerprint_mismatch(str(row.fingerprint), fingerprint)
            blobs.append(row.vectors)
        keys.append(row.key)
        counts.append(chunks)
        kinds.append(row.kind)
        models.append(row.model)
        times.append(int(parse_ts(row.occurred_at).timestamp()) if row.occurred_at else None)
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, dim) if blobs else np.zeros((0, dim), "<f4")
    return Batch(keys, counts, vectors, kinds, models, times)
