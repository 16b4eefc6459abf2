"""The embedder seam: what the index, retrieval and context packing rely on, whatever computes the vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension.

    ``fingerprint`` names the model, the variant and the weights' hash; the vector index stores it
    and refuses queries embedded with anything else (no silent embedding skew).
    """

    dim: int

    @property
    def fingerprint(self) -> str:
        """``model:variant:weights-hash`` (or ``fake-hash:v1``)."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row L2-normalised (an empty list gives ``(0, dim)``)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One text as a 1-D ``(dim,)`` vector; repeated queries are served from a cache."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of ``text``, without special tokens and without truncation."""
        ...
