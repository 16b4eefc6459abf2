"""The README's main command, `make demo`: the script it runs answers over HTTP on a fresh home."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.model
@pytest.mark.slow
def test_the_demo_ingests_serves_and_answers(real_model: Path, tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "elephant").exists():
        pytest.skip("the demo runs the project's .venv (make setup)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_")}
    env.update(ELEPHANT_HOME=str(tmp_path / "demo-home"), ELEPHANT_MODEL_DIR=str(real_model),
               ELEPHANT_DEMO_CORPUS="")  # the corpus adds a minute and nothing the script's steps need
    done = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "active: all-MiniLM-L6-v2:int8" in out
    assert "ready after" in out
    assert "== POST /v1/ask: did we try INT8 on the ranker? what happened?" in out
    assert "citations: ranker/int8-dynamic-2026-03@1" in out and "degraded: False" in out
    assert "== GET /v1/brief?model=ranker -> 200" in out
    assert "== GET /models/ranker (the ranker's timeline page) -> 200" in out
    assert "== The web UI: http://127.0.0.1:" in out
