"""A deterministic stand-in embedder for fast unit tests of the index, retrieval and context packing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from elephant.retrieval.embedding.cache import VectorCache

_WORD = re.compile(r"\w+", re.UNICODE)
_BUCKET_CACHE = 200_000


class HashEmbedder:
    """Hashed bag of words and character trigrams, projected to ``dim`` signed buckets, L2-normalised.

    Texts sharing words land near each other, which is enough for retrieval tests to be meaningful;
    the vectors are the same in every process (blake2b, not Python's salted ``hash``).
    An empty or whitespace-only text gets a fixed unit vector rather than a zero one, so cosine
    similarity stays defined.
    """

    fingerprint = "fake-hash:v1"

    def __init__(self, dim: int = 384, query_cache_size: int = 1024) -> None:
        self.dim = dim
        self._cache = VectorCache(query_cache_size)
        # feature -> (bucket, signed weight): bulk loads hash the same words over and over.
        self._buckets: dict[str, tuple[int, float]] = {}

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        grams = [f"#{w[i:i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        return words + grams

    def _bucket(self, feature: str) -> tuple[int, float]:
        found = self._buckets.get(feature)
        if found is None:
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            sign = 1.0 if digest[4] & 1 else -1.0
            # Whole words weigh more than their trigrams: exact terms should dominate similarity.
            found = (int.from_bytes(digest[:4], "little") % self.dim,
                     sign * (1.0 if not feature.startswith("#") else 0.5))
            if len(self._buckets) >= _BUCKET_CACHE:
                self._buckets.clear()
            self._buckets[feature] = found
        return found

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        pairs = [self._bucket(f) for f in self._features(text) or ["\0empty"]]
        # Added in order, like one += per feature (halves and ones: the float32 sums are exact anyway).
        np.add.at(vector, [b for b, _w in pairs], np.array([w for _b, w in pairs], dtype=np.float32))
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:  # features cancelled out exactly; fall back to the empty-text vector
            return self._vector("")
        return vector / norm

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        return self._cache.put(text, self._vector(text))

    def count_tokens(self, text: str) -> int:
        """Words and punctuation marks: a rough stand-in for the WordPiece count."""
        return len(re.findall(r"\w+|[^\w\s]", text, re.UNICODE))

    def __repr__(self) -> str:
        return f"HashEmbedder(dim={self.dim})"
