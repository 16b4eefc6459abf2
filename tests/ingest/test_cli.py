"""`elephant ingest` as a user runs it: exit codes, --json, --dry-run, the summary, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from elephant.cli.main import app

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "ingest"
runner = CliRunner()


def _tree(tmp_path: Path, *formats: str) -> Path:
    root = tmp_path / "tree"
    for fmt in formats:
        shutil.copytree(FIXTURES / fmt, root / fmt, ignore=shutil.ignore_patterns("*.expected.json"))
    return root


def test_ingest_json_then_noop(tmp_path: Path) -> None:
    root = _tree(tmp_path, "triton", "text")
    first = runner.invoke(app, ["ingest", str(root), "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["ok"] is True and data["counts"]["created"] == 4
    assert {s["path"] for s in data["skipped"]} == {
        "triton/triton-tensorrtllm-backend/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt"}
    assert all(c["status"] == "created" and c["version"] == 1 for c in data["changes"])
    again = json.loads(runner.invoke(app, ["ingest", str(root), "--json"]).output)
    assert again["counts"]["created"] == again["counts"]["updated"] == 0
    assert again["counts"]["files_unchanged"] == 4


def test_dry_run_human_summary(tmp_path: Path) -> None:
    root = _tree(tmp_path, "text")
    result = runner.invoke(app, ["ingest", str(root), "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "dry run" in result.output and "1 created" in result.output
    listed = runner.invoke(app, ["get", "text/notes.txt", "--json"])
    assert listed.exit_code == 1  # nothing was written


def test_failed_file_exits_1_and_names_path_and_reason(tmp_path: Path) -> None:
    root = _tree(tmp_path, "recordfile")
    result = runner.invoke(app, ["ingest", str(root)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "recordfile/broken.yaml" in result.output and "malformed YAML" in result.output
    assert "Traceback" not in result.output
    assert runner.invoke(app, ["get", "ranker/int8-dynamic-2026-03"]).exit_code == 0


def test_real_subprocess_without_tty_prints_no_progress_bar(tmp_path: Path) -> None:
    root = _tree(tmp_path, "text")
    env = {"ELEPHANT_HOME": str(tmp_path / "home"), "ELEPHANT_MODEL": "fake", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "elephant.cli.main", "ingest", str(root), "--prune"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1 created" in proc.stdout
    assert "━" not in proc.stderr  # rich's bar only on a terminal
