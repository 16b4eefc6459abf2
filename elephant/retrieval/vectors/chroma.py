"""Chroma, embedded (``PersistentClient``) or as a server (``HttpClient``), behind the ``VectorIndex`` seam.

Chroma's ``where`` filters are deliberately not used for search: at 100k vectors a one-in-three
filter cost 182 ms p50 against 5 ms unfiltered (docs/design.md §7); filtering happens in SQL instead.

Embedded Chroma is not safe for several processes (``serve --workers 2``, or serve beside the CLI):
each keeps its own in-memory segments and persists them over the others'. bench/soak.py found the
directory corrupt after 90 s of mixed load on two workers ("Error finding id"; a reader could
segfault), with lexical and SQL vectors intact. So every call on an embedded index runs under an
exclusive ``flock`` on ``.elephant-lock`` in its directory, and a process whose last look is older
than the newest write (``.elephant-stamp``, rewritten after each write) reopens the client first,
reading the segments back from disk (issue 20, row 3 / 11). A Chroma server needs none of this.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from elephant.errors import IndexUnavailable
from elephant.retrieval.vectors import COLLECTION

FINGERPRINT_KEY = "elephant_fingerprint"
# Chroma caps one upsert at its max batch size (a few thousand); stay well under it.
WRITE_BATCH = 1000
LOCK_FILE = ".elephant-lock"
STAMP_FILE = ".elephant-stamp"
_UNSEEN = "\x00unseen"  # no stamp read yet by this client


class _DirectoryLock:
    """This process's hold on one embedded directory: a thread lock, then an exclusive ``flock`` on
    its lock file (no-op where fcntl is missing), re-entrant within the holding thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rlock = threading.RLock()
        self.depth = 0
        self._handle: Any = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.rlock:
            if self.depth == 0:
                self._handle = open(self.path, "a")  # noqa: SIM115 - closed on the way out below
                try:
                    import fcntl

                    fcntl.flock(self._handle, fcntl.LOCK_EX)
                except ImportError:  # not POSIX: one process per directory is the caller's business
                    pass
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self._handle.close()  # closing releases the flock
                    self._handle = None


_LOCKS: dict[str, _DirectoryLock] = {}
_LOCKS_GUARD = threading.Lock()


def _directory_lock(directory: Path) -> _DirectoryLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(str(directory))
        if lock is None:
            lock = _LOCKS[str(directory)] = _DirectoryLock(directory / LOCK_FILE)
        return lock


def _chroma_settings() -> Any:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


# Open embedded indexes per directory in this process: Chroma shares one system (its SQLite connections,
# HNSW files, threads) among all clients of a path, so it is stopped when the last index on it closes.
_OPEN_EMBEDDED: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


class ChromaIndex:
    """One Chroma collection of chunk vectors with cosine distance."""

    def __init__(self, client: Any, *, name: str, path: Path | None = None, collection: str = COLLECTION) -> None:
        self._client = client
        self.name = name
        self.path = path
        self._collection_name = collection
        self._collection: Any = None
        self._seen: str | None = _UNSEEN  # the directory's write stamp this client's state reflects

    @contextmanager
    def _exclusive(self, *, write: bool) -> Iterator[None]:
        """For an embedded index: this process alone in the directory, with a client that has seen
        every other process's writes (reopened when the stamp moved); a write leaves a new stamp."""
        if self.path is None:
            yield
            return
        lock = _directory_lock(self.path)
        with lock.held():
            stamp_file = self.path / STAMP_FILE
            outermost = lock.depth == 1
            if outermost:
                try:
                    stamp: str | None = stamp_file.read_text()
                except OSError:
                    stamp = None
                if stamp != self._seen and not (self._seen == _UNSEEN and stamp is None):
                    self._reopen()
                self._seen = stamp
            yield
            if write:
                fresh = uuid.uuid4().hex
                stamp_file.write_text(fresh)
                self._seen = fresh

    def _reopen(self) -> None:
        """A new client for the directory, its segments read back from disk (another process wrote)."""
        assert self.path is not None
        try:
            import chromadb
            from chromadb.api.shared_system_client import SharedSystemClient

            system = SharedSystemClient._identifier_to_system.pop(str(self.path), None)
            if system is not None:
                try:
                    system.stop()
                except Exception:  # a system that cannot stop cleanly is dropped all the same
                    pass
            self._client = chromadb.PersistentClient(path=str(self.path), settings=_chroma_settings())
        except Exception as exc:
            raise IndexUnavailable(f"cannot reopen the embedded Chroma index at {self.path}: {exc}") from exc
        self._collection = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def embedded(cls, path: Path, *, collection: str = COLLECTION) -> ChromaIndex:
        try:
            import chromadb

            path.mkdir(parents=True, exist_ok=True)
            # Under the directory's lock: two processes opening a new directory at once both ran
            # Chroma's schema migration, and one failed ("table collections already exists").
            with _directory_lock(path).held():
                client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        except Exception as exc:  # chromadb raises assorted Rust-side errors for a broken directory
            raise IndexUnavailable(f"cannot open the embedded Chroma index at {path}: {exc}") from exc
        with _OPEN_LOCK:
            _OPEN_EMBEDDED[str(path)] = _OPEN_EMBEDDED.get(str(path), 0) + 1
        return cls(client, name="chroma-embedded", path=path, collection=collection)

    def close(self) -> None:
        """Release this index; the last embedded index on a directory stops Chroma's system for it, which
        closes its SQLite connections and HNSW files (a process opening many homes ran out of descriptors)."""
        self._collection = None
        if self.path is None or self._client is None:
            return
        key = str(self.path)
        with _OPEN_LOCK:
            left = _OPEN_EMBEDDED.get(key, 1) - 1
            if left > 0:
                _OPEN_EMBEDDED[key] = left
                self._client = None
                return
            _OPEN_EMBEDDED.pop(key, None)
        self._client = None
        try:
            from chromadb.api.shared_system_client import SharedSystemClient

            system = SharedSystemClient._identifier_to_system.pop(key, None)
            if system is not None:
                system.stop()
        except Exception:  # closing is best effort: a system that cannot stop is dropped all the same
            pass

    @classmethod
    def connect(cls, url: str, *, collection: str = COLLECTION) -> ChromaIndex:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        try:
            import chromadb

            client = chromadb.HttpClient(host=parsed.hostname or "localhost",
                                         port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                                         ssl=parsed.scheme == "https", settings=_chroma_settings())
        except Exception as exc:
            raise IndexUnavailable(f"cannot reach the Chroma server at {url}: {exc}") from exc
        return cls(client, name="chroma-server", collection=collection)

    def _col(self) -> Any:
        if self._collection is None:
            try:
                self._collection = self._client.get_or_create_collection(
                    self._collection_name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
            except Exception as exc:
                raise IndexUnavailable(f"cannot open the Chroma collection {self._collection_name!r}: {exc}") from exc
        return self._collection

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IndexUnavailable:
            raise
        except Exception as exc:
            self._collection = None  # a server restart or a recreated collection: look it up again
            raise IndexUnavailable(f"Chroma {what} failed ({self.name}): {exc}") from exc

    # ------------------------------------------------------------------ VectorIndex
    def fingerprint(self) -> str | None:
        with self._exclusive(write=False):
            metadata = self._col().metadata or {}
        value = metadata.get(FINGERPRINT_KEY)
        return str(value) if value else None

    def adopt_fingerprint(self, fingerprint: str) -> None:
        with self._exclusive(write=True):
            col = self._col()
            metadata = {k: v for k, v in (col.metadata or {}).items() if not k.startswith("hnsw:")}
            self._call("modify", col.modify, metadata={**metadata, FINGERPRINT_KEY: fingerprint})
            self._collection = None

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        with self._exclusive(write=True):
            col = self._col()
            for start in range(0, len(ids), WRITE_BATCH):
                stop = start + WRITE_BATCH
                self._call("upsert", col.upsert, ids=list(ids[start:stop]),
                           embeddings=np.asarray(vectors[start:stop], dtype=np.float32),
                           metadatas=list(metadatas[start:stop]))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            with self._exclusive(write=True):
                col = self._col()
                for start in range(0, len(ids), WRITE_BATCH):
                    self._call("delete", col.delete, ids=list(ids[start:start + WRITE_BATCH]))

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        if n <= 0:
            return []
        # Chroma 1.x returns what it has when n exceeds the collection, so no count() round trip here.
        with self._exclusive(write=False):
            found = self._call("query", self._col().query,
                               query_embeddings=np.asarray(vector, dtype=np.float32)[None, :],
                               n_results=n, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(found["ids"][0], found["distances"][0], strict=True)]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with self._exclusive(write=False):
            found = self._call("get", self._col().get, ids=list(ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(found["ids"], found["embeddings"], strict=True)}

    def chunks(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """Ids, vectors and metadata of the given chunk ids that exist."""
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32), []
        with self._exclusive(write=False):
            found = self._call("get", self._col().get, ids=list(ids), include=["embeddings", "metadatas"])
        return list(found["ids"]), np.asarray(found["embeddings"], dtype=np.float32), list(found["metadatas"])

    def iter_vectors(self, batch: int = 20000) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every stored chunk's id and vector, page by page (metadata left out: asking for both made
        each page ~5x slower in chromadb 1.5.9)."""
        offset = 0
        while True:
            with self._exclusive(write=False):
                found = self._call("get", self._col().get, include=["embeddings"], limit=batch, offset=offset)
            if not found["ids"]:
                return
            yield list(found["ids"]), np.asarray(found["embeddings"], dtype=np.float32)
            offset += len(found["ids"])

    def count(self) -> int:
        with self._exclusive(write=False):
            return int(self._call("count", self._col().count))

    def _delete_collection(self) -> None:
        """Drop the collection (one that is already gone is fine); the caller holds the exclusive lock."""
        with contextlib.suppress(Exception):
            self._client.delete_collection(self._collection_name)
        self._collection = None

    def reset(self, fingerprint: str) -> None:
        with self._exclusive(write=True):
            self._delete_collection()
            self.adopt_fingerprint(fingerprint)

    def drop(self) -> None:
        """Delete this index's collection and, for a rebuild's own directory, the directory."""
        with self._exclusive(write=True):
            self._delete_collection()
        if self.path is not None and self.path.name.startswith("chroma-"):
            import shutil

            shutil.rmtree(self.path, ignore_errors=True)

    def size_bytes(self) -> int | None:
        if self.path is None:
            return None
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
