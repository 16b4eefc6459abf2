"""The vector index seam: embedded Chroma, a Chroma server, or an in-memory numpy index for unit tests.

Every implementation holds chunk vectors under ids ``key#n`` with ``{"key", "version", "chunk"}``
metadata, and remembers the fingerprint of the embedder that built it. Chroma is imported only
when an index is opened, so ``import elephant`` stays light.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from elephant.errors import FingerprintMismatch

COLLECTION = "elephant_records"


@runtime_checkable
class VectorIndex(Protocol):
    """Chunk vectors by id; similarity is cosine (vectors are L2-normalised)."""

    name: str

    def fingerprint(self) -> str | None:
        """The embedder fingerprint the stored vectors were made with (None for an empty, new index)."""
        ...

    def adopt_fingerprint(self, fingerprint: str) -> None:
        """Record ``fingerprint`` on an index that has none."""
        ...

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` nearest chunk ids with cosine similarity, best first."""
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the given ids (missing ids are left out)."""
        ...

    def chunks(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """Ids, vectors and metadata of those of ``ids`` that exist."""
        ...

    def iter_vectors(self, batch: int = 20000) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every stored chunk's id and vector, in pages."""
        ...

    def count(self) -> int: ...

    def reset(self, fingerprint: str) -> None:
        """Drop every vector and start over for ``fingerprint``."""
        ...

    def size_bytes(self) -> int | None: ...


def chunk_id(key: str, chunk: int) -> str:
    return f"{key}#{chunk}"


def key_of(chunk_id_: str) -> str:
    return chunk_id_.rsplit("#", 1)[0]


def check_fingerprint(index: VectorIndex, fingerprint: str) -> None:
    """Refuse to mix or compare vectors of two different embedders (no silent embedding skew)."""
    stored = index.fingerprint()
    if stored is None:
        index.adopt_fingerprint(fingerprint)
    elif stored != fingerprint:
        raise fingerprint_mismatch(stored, fingerprint)


def fingerprint_mismatch(stored: str, fingerprint: str) -> FingerprintMismatch:
    return FingerprintMismatch(
        f"the vector index was built with embedder {stored!r} but the configured one is "
        f"{fingerprint!r}; run `elephant reindex` to rebuild it (or set ELEPHANT_MODEL back)",
        index_fingerprint=stored, embedder_fingerprint=fingerprint)


def open_vector_index(settings: Any, slot: int = 0) -> VectorIndex:
    """The configured index: a Chroma server if ``chroma_url`` is set, else embedded Chroma in home.

    ``slot`` numbers the storage a rebuild writes (``elephant reindex`` fills slot n+1 and switches
    to it on success): a directory ``chroma-<n>`` beside ``chroma``, or a collection ``<name>-<n>``.
    """
    from elephant.retrieval.vectors.chroma import ChromaIndex

    if settings.chroma_url:
        return ChromaIndex.connect(settings.chroma_url, collection=COLLECTION if not slot else f"{COLLECTION}-{slot}")
    return ChromaIndex.embedded(_slot_path(settings, slot))


def _slot_path(settings: Any, slot: int) -> Path:
    return Path(settings.resolved_home) / ("chroma" if not slot else f"chroma-{slot}")


def embedded_directory(settings: Any, slot: int = 0) -> Path | None:
    """The embedded Chroma directory of ``slot``; None when a Chroma server holds the vectors."""
    return None if settings.chroma_url else _slot_path(settings, slot)


SQLITE_MAGIC = b"SQLite format 3\x00"


def embedded_files_problem(directory: Path) -> str | None:
    """Why an embedded Chroma directory cannot hold any vectors, judged from its database file alone
    (without opening Chroma, which a small store's searches never do): missing, emptied, or not an
    SQLite database. A file truncated part way is found when Chroma opens it."""
    database = directory / "chroma.sqlite3"
    try:
        with database.open("rb") as handle:
            magic = handle.read(len(SQLITE_MAGIC))
    except OSError:
        return f"the embedded Chroma database {database} is missing (a deleted Chroma directory?)"
    if magic != SQLITE_MAGIC:
        return f"the embedded Chroma database {database} is empty or not a database (a truncated file?)"
    return None


__all__ = ["COLLECTION", "VectorIndex", "check_fingerprint", "chunk_id", "embedded_directory", "embedded_files_problem",
           "fingerprint_mismatch", "key_of", "open_vector_index"]
