"""Fixtures of the library tests: the built embedding model, and a facade on an in-memory vector index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_model_dir() -> Path:
    """A built model shared by every test session: ``$ELEPHANT_TEST_MODEL_DIR`` or ``<repo>/.cache/models``.

    Built once (about a minute and a half) when missing or incomplete; later sessions reuse it.
    Tests that use it are skipped when the build extra (torch, sentence-transformers) is absent and
    no built model exists.
    """
    directory = Path(os.environ.get("ELEPHANT_TEST_MODEL_DIR", REPO / ".cache" / "models"))
    import importlib.util

    from elephant.retrieval.embedding.build import SHIPPED, _is_current, build_models

    if _is_current(directory, SHIPPED) is None:
        missing = [m for m in ("torch", "sentence_transformers", "onnx") if importlib.util.find_spec(m) is None]
        if missing:  # pragma: no cover - build extra not installed
            pytest.skip(f"no built model in {directory} and the build extra is missing ({', '.join(missing)})")
        build_models(directory, variants=SHIPPED)
    return directory


@pytest.fixture
def mem_db(db):
    """The facade (``db``, on each backend) with an in-memory vector index instead of Chroma."""
    from elephant.retrieval.vectors.inmemory import MemoryIndex

    db.indexer.vector_index = MemoryIndex()
    return db
