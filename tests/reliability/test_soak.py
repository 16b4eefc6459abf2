"""Rows 3 and 14 of issue 20, end to end: bench/soak.py's short run (fake model, SQLite, two workers,
mixed load) reports no lost and no stale-indexed acknowledged write. Slow: `make reliability`; the
full soak with the real model on both databases is `make soak`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.reliability
def test_a_short_soak_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_") or k.startswith("ELEPHANT_TEST_")}
    result = subprocess.run([sys.executable, str(REPO / "bench" / "soak.py"), "--seconds", "8", "--clients", "8",
                             "--database", "sqlite", "--model", "fake", "--records", "60", "--keys", "30",
                             "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads(out.read_text())["runs"][0]
    consistency = run["consistency"]
    assert consistency["acknowledged_writes"] > 0
    assert consistency["lost"] == 0 and consistency["stale_indexed"] == 0 and consistency["head_behind_ack"] == 0
    assert all(level["unexpected"] == 0 for level in run["levels"])
