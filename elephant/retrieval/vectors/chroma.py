"""Chroma, embedded (``PersistentClient``) or as a server (``HttpClient``), behind the ``VectorIndex`` seam.

Chroma's ``where`` filters are deliberately not used for search: at 100k vectors a one-in-three
filter cost 182 ms p50 against 5 ms unfiltered (docs/design.md §7); filtering happens in SQL instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from elephant.errors import IndexUnavailable
from elephant.retrieval.vectors import COLLECTION

FINGERPRINT_KEY = "elephant_fingerprint"
# Chroma caps one upsert at its max batch size (a few thousand); stay well under it.
WRITE_BATCH = 1000


def _chroma_settings() -> Any:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


class ChromaIndex:
    """One Chroma collection of chunk vectors with cosine distance."""

    def __init__(self, client: Any, *, name: str, path: Path | None = None, collection: str = COLLECTION) -> None:
        self._client = client
        self.name = name
        self.path = path
        self._collection_name = collection
        self._collection: Any = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def embedded(cls, path: Path, *, collection: str = COLLECTION) -> ChromaIndex:
        try:
            import chromadb

            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        except Exception as exc:  # chromadb raises assorted Rust-side errors for a broken directory
            raise IndexUnavailable(f"cannot open the embedded Chroma index at {path}: {exc}") from exc
        return cls(client, name="chroma-embedded", path=path, collection=collection)

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
        metadata = self._col().metadata or {}
        value = metadata.get(FINGERPRINT_KEY)
        return str(value) if value else None

    def adopt_fingerprint(self, fingerprint: str) -> None:
        col = self._col()
        metadata = {k: v for k, v in (col.metadata or {}).items() if not k.startswith("hnsw:")}
        self._call("modify", col.modify, metadata={**metadata, FINGERPRINT_KEY: fingerprint})
        self._collection = None

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        col = self._col()
        for start in range(0, len(ids), WRITE_BATCH):
            stop = start + WRITE_BATCH
            self._call("upsert", col.upsert, ids=list(ids[start:stop]),
                       embeddings=np.asarray(vectors[start:stop], dtype=np.float32),
                       metadatas=list(metadatas[start:stop]))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            col = self._col()
            for start in range(0, len(ids), WRITE_BATCH):
                self._call("delete", col.delete, ids=list(ids[start:start + WRITE_BATCH]))

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        if n <= 0:
            return []
        # Chroma 1.x returns what it has when n exceeds the collection, so no count() round trip here.
        found = self._call("query", self._col().query,
                           query_embeddings=np.asarray(vector, dtype=np.float32)[None, :],
                           n_results=n, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(found["ids"][0], found["distances"][0], strict=True)]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        found = self._call("get", self._col().get, ids=list(ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(found["ids"], found["embeddings"], strict=True)}

    def chunks(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """Ids, vectors and metadata of the given chunk ids that exist."""
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32), []
        found = self._call("get", self._col().get, ids=list(ids), include=["embeddings", "metadatas"])
        return list(found["ids"]), np.asarray(found["embeddings"], dtype=np.float32), list(found["metadatas"])

    def iter_vectors(self, batch: int = 20000) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every stored chunk's id and vector, page by page (metadata left out: asking for both made
        each page ~5x slower in chromadb 1.5.9)."""
        col = self._col()
        offset = 0
        while True:
            found = self._call("get", col.get, include=["embeddings"], limit=batch, offset=offset)
            if not found["ids"]:
                return
            yield list(found["ids"]), np.asarray(found["embeddings"], dtype=np.float32)
            offset += len(found["ids"])

    def count(self) -> int:
        return int(self._call("count", self._col().count))

    def reset(self, fingerprint: str) -> None:
        try:
            self._client.delete_collection(self._collection_name)
        except Exception:
            pass
        self._collection = None
        self.adopt_fingerprint(fingerprint)

    def drop(self) -> None:
        """Delete this index's collection and, for a rebuild's own directory, the directory."""
        try:
            self._client.delete_collection(self._collection_name)
        except Exception:
            pass
        self._collection = None
        if self.path is not None and self.path.name.startswith("chroma-"):
            import shutil

            shutil.rmtree(self.path, ignore_errors=True)

    def size_bytes(self) -> int | None:
        if self.path is None:
            return None
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
