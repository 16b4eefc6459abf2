"""Rows 2, 4, 5 and 6 at the doors the first tests left out: NUL in a field name through the CLI and in
questions through MCP `ask`/`context` and CLI `ask`/`context`; more than 16 `where` conditions through
MCP `recall`; an alias bomb through `elephant ingest` and `POST /v1/ingest` (status pinned); 100,000
tags through MCP `remember`. Each is a clear exit 1 / 4xx / tool error naming what is wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from tests.reliability.conftest import call_mcp, mcp_text, record_count, run_cli
from tests.reliability.test_bad_input import alias_bomb

NUL = "a\x00b"


def test_cli_put_of_a_field_name_with_nul_exits_1(db: Any, tmp_path: Path) -> None:
    file = tmp_path / "name.json"
    file.write_text(json.dumps({"kind": "note", "key": "bad/name", "title": "t", "fields": {"no\x00te": 1}}),
                    encoding="utf-8")
    result = run_cli("put", str(file))
    assert result.exit_code == 1, result.output
    assert "name.json" in result.output and "fields.no" in result.output and "NUL" in result.output
    assert record_count(db) == 0


def test_mcp_ask_and_context_with_nul_are_errors(db: Any) -> None:
    for tool, arguments, named in (("ask", {"question": NUL}, "question"), ("context", {"query": NUL}, "query"),
                                   ("context", {"query": "x", "model": NUL}, "model")):
        result = call_mcp(db, tool, arguments)
        assert result.is_error, (tool, mcp_text(result))
        assert named in mcp_text(result) and "NUL" in mcp_text(result)


def test_cli_ask_and_context_with_nul_exit_1(db: Any) -> None:
    for args in (("ask", NUL), ("context", NUL)):
        result = run_cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "NUL" in result.output and "Traceback" not in result.output


def test_mcp_recall_refuses_more_than_16_conditions(db: Any) -> None:
    result = call_mcp(db, "recall", {"query": "x", "where": [f"n{i} < {i}" for i in range(17)]})
    assert result.is_error and "at most 16" in mcp_text(result)
    assert not call_mcp(db, "recall", {"query": "x", "where": [f"n{i} < {i}" for i in range(16)]}).is_error


def test_cli_ingest_of_an_alias_bomb_fails_the_file(db: Any, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "bomb.yaml").write_text(alias_bomb(), encoding="utf-8")
    (folder / "fine.yaml").write_text("kind: note\nkey: good/fine\ntitle: t\n", encoding="utf-8")
    result = run_cli("ingest", str(folder))
    assert result.exit_code == 1, result.output
    assert "bomb.yaml" in result.output and "alias" in result.output
    assert record_count(db) == 1


def test_rest_ingest_of_an_alias_bomb_is_a_failed_file(api: Any) -> None:
    """An upload reports per file: 200 with ok false and the bomb in `failed` (422 is for a request
    that cannot be read at all, such as a name that cannot be stored)."""
    files = [("files", ("bomb.yaml", io.BytesIO(alias_bomb().encode()), "application/yaml")),
             ("files", ("fine.yaml", io.BytesIO(b"kind: note\nkey: good/fine\ntitle: t\n"), "application/yaml"))]
    response = api.post("/v1/ingest", files=files)
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["ok"] is False and "bomb.yaml" in json.dumps(body["failed"]) and "alias" in json.dumps(body["failed"])
    assert record_count(api.app.state.ctx.db) == 1


def test_mcp_remember_with_100k_tags_is_an_error_naming_tags(db: Any) -> None:
    result = call_mcp(db, "remember", {"kind": "note", "key": "bad/tags", "title": "t",
                                       "tags": [f"t{n}" for n in range(100_000)]})
    assert result.is_error and "tags" in mcp_text(result)
    assert record_count(db) == 0
