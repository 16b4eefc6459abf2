"""Ingest with the real ONNX embedder: ingested records are indexed and found by meaning."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from elephant.ingest.pipeline import ingest_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"


@pytest.mark.model
def test_ingested_runbooks_are_searchable_with_the_real_model(real_model: Path, tmp_path: Path) -> None:
    import elephant

    root = tmp_path / "tree"
    for fmt in ("kserve", "markdown"):
        shutil.copytree(FIXTURES / fmt, root / fmt, ignore=shutil.ignore_patterns("*.expected.json"))
    db: Any = elephant.open()
    try:
        report = ingest_paths(db, [root])
        assert report.created > 10
        found = db.search("how do I roll back a KServe canary to the previous good model", k=5)
        assert not found.degraded
        keys = [hit.key for hit in found.results]
        assert any("rollout/pinned.yaml" in k or "rollback-and-pin-the-model" in k for k in keys), keys
        failover = db.search("LLM provider outage: switch code generation to the backup provider", k=3)
        assert any("code_suggestion_failover" in hit.key for hit in failover.results)
    finally:
        db.close()
