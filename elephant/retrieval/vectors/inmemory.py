"""An in-memory vector index (exact cosine with numpy) for fast unit tests of the indexer and search."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


class MemoryIndex:
    """Exact search over a dict of vectors; same contract as ``ChromaIndex``."""

    name = "memory"

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._fingerprint: str | None = None
        self.upserts = 0  # chunk writes, so tests can see that nothing is indexed twice

    def fingerprint(self) -> str | None:
        return self._fingerprint

    def adopt_fingerprint(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        for i, item in enumerate(ids):
            self._vectors[item] = np.asarray(vectors[i], dtype=np.float32)
            self._meta[item] = dict(metadatas[i])
        self.upserts += len(ids)

    def delete(self, ids: Sequence[str]) -> None:
        for item in ids:
            self._vectors.pop(item, None)
            self._meta.pop(item, None)

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        if not self._vectors or n <= 0:
            return []
        ids = list(self._vectors)
        scores = np.stack([self._vectors[i] for i in ids]) @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(ids[i], float(scores[i])) for i in order]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {i: self._vectors[i] for i in ids if i in self._vectors}

    def chunks(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        present = [i for i in ids if i in self._vectors]
        vectors = np.stack([self._vectors[i] for i in present]) if present else np.zeros((0, 0), np.float32)
        return present, vectors, [self._meta[i] for i in present]

    def iter_vectors(self, batch: int = 20000) -> Iterator[tuple[list[str], np.ndarray]]:
        ids = list(self._vectors)
        for start in range(0, len(ids), batch):
            present, vectors, _metas = self.chunks(ids[start:start + batch])
            yield present, vectors

    def metadata(self, item: str) -> dict[str, Any] | None:
        return self._meta.get(item)

    def count(self) -> int:
        return len(self._vectors)

    def reset(self, fingerprint: str) -> None:
        self._vectors.clear()
        self._meta.clear()
        self._fingerprint = fingerprint

    def size_bytes(self) -> int | None:
        return sum(v.nbytes for v in self._vectors.values())
