"""`elephant search` and `elephant reindex` as users run them: exit codes, JSON, readable output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from elephant.cli.main import app

EVAL = Path(__file__).resolve().parents[2] / "fixtures" / "eval"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_search_json_and_human_output():
    assert run("put", str(EVAL / "history.yaml")).exit_code == 0
    result = run("search", "int8 quantization", "--model", "ranker", "--kind", "optimization", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["degraded"] is False
    assert [r["model"] for r in data["results"]] == ["ranker"] * 3
    assert data["results"][0]["key"].startswith("ranker/opt/int8")
    filtered = json.loads(run("search", "latency", "--where", "latency_ms.p99<15", "--json").output)
    assert {r["key"] for r in filtered["results"]} == {"ranker/bench/v4-trt-fp16-2026-02",
                                                        "fraud-detector/bench/v7-2025-04"}
    human = run("search", "tokenizer padding")
    assert human.exit_code == 0
    assert "search-embedder/incident/tokenizer-padding-2025-12@1" in human.output.replace("\n", "") or \
        "tokenizer" in human.output


def test_bad_where_is_misuse_with_a_clear_message():
    result = run("search", "x", "--where", "p99 fast")
    assert result.exit_code == 2
    assert "expected FIELD OP VALUE" in result.output
    assert "Traceback" not in result.output


def test_reindex_json():
    assert run("put", str(EVAL / "history.yaml")).exit_code == 0
    result = run("reindex", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["indexed"] == 35 and data["pending"] == 0
    found = json.loads(run("search", "Treelite compiled predictor", "-k", "2", "--json").output)["results"]
    assert "fraud-detector/opt/onnx-treelite-2025-11" in [r["key"] for r in found]
