"""Progress through every phase of ingest and reindex (issue 16): what the library reports, and how the
CLI shows it (a bar on a terminal, periodic lines otherwise)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from elephant.cli import progress as progress_module
from elephant.cli.progress import phase_progress, progress_line, rate_and_eta
from elephant.ingest.pipeline import ingest_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"


def test_rate_and_eta() -> None:
    assert rate_and_eta(100, 400, 2.0) == (50.0, 6.0)
    assert rate_and_eta(0, 400, 0.0) == (0.0, None)
    assert progress_line("reindex", "embed", 1200, 5000, 5.0) == \
        "reindex: embedding every record 1,200/5,000 (240/s, ETA 16 s)"
    assert progress_line("ingest", "index", 10, 10, 1.0).endswith("10/10 (10/s)")


def test_lines_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(progress_module, "LINE_EVERY_S", 0.0)
    with phase_progress("ingest", stream=out, is_tty=False) as report:
        report("files", 1, 2, "a.yaml")
        report("index", 5, 10, "")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ingest: reading files 1/2 (")
    assert lines[1].startswith("ingest: indexing (embedding, vectors, lexical) 5/10 (")


def test_a_short_run_prints_no_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    with phase_progress("ingest", stream=out, is_tty=False) as report:
        report("files", 1, 2, "a.yaml")
    assert out.getvalue() == ""


def test_ingest_reports_files_then_index(db: Any, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "kserve", root / "kserve", ignore=shutil.ignore_patterns("*.expected.json"))
    seen: list[tuple[str, int, int]] = []
    report = ingest_paths(db, [root], progress=lambda phase, done, total, _d: seen.append((phase, done, total)))
    assert report.ok and report.created > 0
    phases = list(dict.fromkeys(p for p, _d, _t in seen))
    assert phases == ["files", "index"]
    last_index = [s for s in seen if s[0] == "index"][-1]
    assert last_index[1] == last_index[2] > 0


def test_reindex_reports_every_phase(db: Any) -> None:
    db.put_many([{"kind": "note", "key": f"n/{i}", "title": f"note {i}"} for i in range(30)])
    seen: list[tuple[str, int, int]] = []
    db.reindex(progress=lambda phase, done, total: seen.append((phase, done, total)))
    phases = list(dict.fromkeys(p for p, _d, _t in seen))
    assert phases[:2] == ["embed", "lexical"]
    embeds = [s for s in seen if s[0] == "embed"]
    assert embeds[0] == ("embed", 0, 30) and embeds[-1][1] <= 30
