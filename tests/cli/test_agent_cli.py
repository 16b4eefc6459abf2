"""`elephant context` and `elephant prompt` as a user runs them: exit codes, messages, --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from elephant.cli.main import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

RECORD = """\
kind: optimization
key: ranker/int8-2026-03
title: INT8 dynamic quantization of ranker v3
model: ranker
occurred_at: 2026-03-12
fields:
  technique: quantization_int8
  outcome: rolled_back
  baseline: {latency_ms_p99: 45}
  result: {latency_ms_p99: 18}
  reason: NDCG dropped 0.8 pt
"""


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def home_with_record(tmp_path: Path) -> Path:
    path = tmp_path / "rec.yaml"
    path.write_text(RECORD, encoding="utf-8")
    assert run("put", str(path)).exit_code == 0
    return path


def test_context_json(home_with_record: Path) -> None:
    result = run("context", "INT8 quantization", "--budget", "150", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"context", "tokens", "budget", "citations", "truncated"} <= set(data)
    assert data["budget"] == 150 and data["tokens"] <= 150
    assert data["citations"] == ["ranker/int8-2026-03@1"]
    assert "p99 45 → 18 ms (−60 %)" in data["context"]


def test_context_human_prints_the_block(home_with_record: Path) -> None:
    result = run("context", "INT8 quantization", "--budget", "300", "--model", "ranker")
    assert result.exit_code == 0
    assert "[ranker/int8-2026-03@1]" in result.stdout
    assert "/300 tokens" in result.stderr


def test_context_bad_budget_is_misuse() -> None:
    result = run("context", "INT8", "--budget", "0")
    assert result.exit_code == 2
    assert "budget" in result.stderr and "Traceback" not in result.output


def test_prompt_expands_soul_md(home_with_record: Path) -> None:
    result = run("prompt", str(REPO / "SOUL.md"))
    assert result.exit_code == 0, result.output
    assert "[ranker/int8-2026-03@1]" in result.stdout
    assert "{{ elephant.context" not in result.stdout
    as_json = json.loads(run("prompt", str(REPO / "SOUL.md"), "--json").stdout)
    assert as_json["template"].endswith("SOUL.md")
    assert "ranker/int8-2026-03@1" in as_json["citations"]
    assert as_json["text"] == result.stdout


def test_prompt_bad_placeholder_names_file_and_line(tmp_path: Path) -> None:
    template = tmp_path / "persona.md"
    template.write_text("# me\n\nbefore\n{{ elephant.contxt \"INT8\" }}\n", encoding="utf-8")
    result = run("prompt", str(template))
    assert result.exit_code == 2
    assert f"{template}:4: unknown placeholder" in result.stderr
    assert "Traceback" not in result.output
    as_json = run("prompt", str(template), "--json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["line"] == 4


def test_prompt_missing_file(tmp_path: Path) -> None:
    result = run("prompt", str(tmp_path / "absent.md"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_prompt_from_stdin(home_with_record: Path) -> None:
    result = runner.invoke(app, ["prompt", "-"], input='{{ elephant.history "ranker/int8-2026-03" }}\n')
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("- v1 ")
