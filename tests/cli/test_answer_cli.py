"""`elephant ask`, `brief` and `regressions` as a user runs them: exit codes, messages, --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from elephant.cli.main import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def team_history() -> None:
    for name in ("history.yaml", "history_updates.yaml"):
        result = run("put", str(REPO / "fixtures" / "eval" / name))
        assert result.exit_code == 0, result.output


def test_ask_human_and_json(team_history: None) -> None:
    human = run("ask", "did we try INT8 on the ranker?")
    assert human.exit_code == 0
    assert "**Yes**" in human.output and "ranker/opt/int8-static-calibrated-2025-05@1" in human.output
    data = json.loads(run("ask", "did we try INT8 on the ranker?", "--json").output)
    assert set(data) == {"question", "answer", "attempts", "citations", "degraded", "reason", "found", "plan"}
    assert data["attempts"][0]["key"] == "ranker/opt/int8-static-calibrated-2025-05"
    assert data["attempts"][0]["outcome"] == "adopted"
    assert data["found"] is True
    assert data["plan"]["subjects"] == [{"model": "ranker", "how": "named"}]
    assert data["plan"]["techniques"] == ["quantization_int8"] and data["plan"]["intent"] == "existence"


def test_ask_explain_prints_the_plan(team_history: None) -> None:
    result = run("ask", "which ranker change cut p99 the most?", "--explain")
    assert result.exit_code == 0
    assert "Plan:" in result.output and "superlative: min change of p99 (lower is better)" in result.output
    assert "subjects:    ranker (named)" in result.output


def test_ask_nothing_and_misuse(team_history: None) -> None:
    result = run("ask", "what did we try on the payments-gateway?", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["attempts"] == []
    empty = run("ask", "  ")
    assert empty.exit_code == 2 and "question is empty" in empty.output
    assert "Traceback" not in empty.output


def test_brief_and_regressions(team_history: None, tmp_path: Path) -> None:
    brief = run("brief", "ranker", "--json")
    assert brief.exit_code == 0
    assert json.loads(brief.output)["models"][0]["last_deployment"]["status"] == "rolled_back"
    assert "## ranker" in run("brief").output
    bounded = json.loads(run("brief", "--all", "--budget", "120", "--json").output)
    assert bounded["tokens"] <= 120 and bounded["budget"] == 120 and bounded["quiet_models"] == 0
    zero = run("brief", "--budget", "0")
    assert zero.exit_code == 2 and "budget must be a positive number of tokens" in zero.output
    missing = run("brief", "nosuch")
    assert missing.exit_code == 1 and "no records for model 'nosuch'" in missing.output

    slow = tmp_path / "slow.yaml"
    slow.write_text("kind: benchmark\nkey: ranker/bench/v4-trt-fp16-2026-03\ntitle: slower run\nmodel: ranker\n"
                    "occurred_at: 2026-03-02\nfields: {hardware: g5.xlarge (A10G), scenario: server, batch_size: 32,"
                    " concurrency: 64, latency_ms: {p95: 14, p99: 16}, throughput_qps: 3000}\n", encoding="utf-8")
    assert run("put", str(slow)).exit_code == 0
    listed = json.loads(run("regressions", "--model", "ranker", "--json").output)["regressions"]
    assert [r["key"] for r in listed] == ["regression/ranker/bench/v4-trt-fp16-2026-03"]
    assert listed[0]["baseline"] == "ranker/bench/v4-trt-fp16-2026-02@1"
    assert "p99 11 → 16 ms" in run("regressions").output
    resolved = run("regressions", "resolve", listed[0]["key"], "-m", "noisy host")
    assert resolved.exit_code == 0
    assert json.loads(run("regressions", "--json").output)["regressions"] == []
    assert run("regressions", "--status", "closed").exit_code == 2
