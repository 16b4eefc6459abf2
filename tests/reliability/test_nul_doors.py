"""Row 2, the doors the first tests left out: a NUL in a record key (POST/PUT body, CLI put, MCP
remember), in a `where` condition (REST, CLI, MCP recall), in `as_of` and in a version message is a
clear 4xx / exit 1 / tool error naming the field, with nothing written; on PostgreSQL, where text
cannot hold NUL, search with and without `where` still works afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.reliability.conftest import call_mcp, mcp_text, ready, record_count, run_cli

NUL = "a\x00b"
GOOD = {"kind": "note", "key": "good/one", "title": "the good one", "body": "caracalword", "fields": {"n": 3}}


def post(api: Any, path: str, body: Any, **params: str) -> Any:
    """A raw JSON body: the NUL travels as the JSON escape \\u0000, as a client would send it."""
    return api.post(path, content=json.dumps(body), params=params, headers={"content-type": "application/json"})


def assert_problem(response: Any, field: str, *, says_nul: bool = True) -> None:
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    named = {body.get("parameter")} | {problem["field"] for problem in body.get("errors", [])}
    assert field in named, body
    assert "NUL" in body["detail"] or not says_nul
    assert "SELECT" not in response.text and "INSERT" not in response.text


def assert_search_still_works(api: Any) -> None:
    """The PostgreSQL half of the reproduction: a NUL once broke every search, with `where` or not."""
    plain = post(api, "/v1/search", {"query": "caracalword"})
    assert plain.status_code == 200, plain.text[:300]
    assert [hit["key"] for hit in plain.json()["results"]] == ["good/one"]
    filtered = post(api, "/v1/search", {"query": "caracalword", "where": ["n = 3", "title = the good one"]})
    assert filtered.status_code == 200, filtered.text[:300]
    assert [hit["key"] for hit in filtered.json()["results"]] == ["good/one"]
    answer = ready(api)
    assert answer.status_code == 200, answer.text


# ---------------------------------------------------------------- a NUL in a record key
def test_rest_key_with_nul_in_the_body_is_a_422(api: Any) -> None:
    assert post(api, "/v1/records", GOOD).status_code == 201
    db = api.app.state.ctx.db
    assert_problem(post(api, "/v1/records", {**GOOD, "key": NUL}), "key")
    batch = post(api, "/v1/records", {"records": [{**GOOD, "key": f"bad/{NUL}"}]})
    assert_problem(batch, "key")
    assert_problem(api.put("/v1/records/bad/a%00b", json={"kind": "note", "title": "t"}), "key")
    assert_problem(api.put("/v1/records/good/one", content=json.dumps({**GOOD, "key": f"good/one{NUL}"}),
                           headers={"content-type": "application/json"}), "key", says_nul=False)  # differs
    assert record_count(db) == 1
    assert_search_still_works(api)


def test_cli_put_of_a_key_with_nul_exits_1_naming_file_and_field(db: Any, tmp_path: Path) -> None:
    file = tmp_path / "nulkey.json"
    file.write_text(json.dumps({"kind": "note", "key": f"bad/{NUL}", "title": "t"}), encoding="utf-8")
    result = run_cli("put", str(file))
    assert result.exit_code == 1, result.output
    assert "nulkey.json" in result.output and "key" in result.output and "Traceback" not in result.output
    assert record_count(db) == 0


def test_mcp_remember_with_nul_in_the_key_is_an_error_naming_it(db: Any) -> None:
    result = call_mcp(db, "remember", {"kind": "note", "key": f"bad/{NUL}", "title": "t"})
    assert result.is_error and "key" in mcp_text(result) and "NUL" in mcp_text(result)
    assert record_count(db) == 0


# ---------------------------------------------------------------- a NUL inside a `where` condition
def test_rest_where_with_nul_is_a_422_and_search_still_works(api: Any) -> None:
    assert post(api, "/v1/records", GOOD).status_code == 201
    for condition in (f"title = {NUL}", f"fi{NUL}eld = 3", f"n = 3{NUL}"):
        response = post(api, "/v1/search", {"query": "caracalword", "where": [condition]})
        assert_problem(response, "where")
    assert_search_still_works(api)


def test_cli_search_where_with_nul_exits_1(db: Any) -> None:
    result = run_cli("search", "x", "--where", f"title = {NUL}")
    assert result.exit_code == 1, result.output
    assert "where" in result.output and "NUL" in result.output and "Traceback" not in result.output


def test_mcp_recall_where_with_nul_is_an_error(db: Any) -> None:
    result = call_mcp(db, "recall", {"query": "x", "where": [f"title = {NUL}"]})
    assert result.is_error and "where" in mcp_text(result) and "NUL" in mcp_text(result)


# ---------------------------------------------------------------- a NUL in as_of and in a version message
def test_rest_as_of_and_message_with_nul_are_422(api: Any) -> None:
    assert post(api, "/v1/records", GOOD).status_code == 201
    db = api.app.state.ctx.db
    assert_problem(api.get("/v1/records/good/one", params={"as_of": f"2026-01-01{NUL}"}), "as_of")
    assert_problem(post(api, "/v1/records", {**GOOD, "body": "changed"}, message=NUL), "message")
    assert_problem(api.put("/v1/records/good/one", json={**GOOD, "body": "changed"}, params={"message": NUL}),
                   "message")
    assert_problem(api.delete("/v1/records/good/one", params={"message": NUL}), "message")
    assert record_count(db) == 1
    assert_search_still_works(api)


def test_cli_as_of_and_message_with_nul_exit_1(db: Any, tmp_path: Path) -> None:
    db.put(GOOD)
    got = run_cli("get", "good/one", "--as-of", f"2026-01-01{NUL}")
    assert got.exit_code == 1 and "as_of" in got.output and "Traceback" not in got.output
    file = tmp_path / "changed.yaml"
    file.write_text("kind: note\nkey: good/one\ntitle: t\nbody: changed\n", encoding="utf-8")
    put = run_cli("put", str(file), "--message", NUL)
    assert put.exit_code == 1 and "message" in put.output and "Traceback" not in put.output
    deleted = run_cli("rm", "good/one", "--message", NUL)
    assert deleted.exit_code == 1 and "message" in deleted.output
    assert record_count(db) == 1


def test_mcp_as_of_and_message_with_nul_are_errors(db: Any) -> None:
    db.put(GOOD)
    got = call_mcp(db, "get", {"key": "good/one", "as_of": f"2026-01-01{NUL}"})
    assert got.is_error and "as_of" in mcp_text(got)
    remembered = call_mcp(db, "remember", {"kind": "note", "key": "good/one", "title": "t", "message": NUL})
    assert remembered.is_error and "message" in mcp_text(remembered)
    assert record_count(db) == 1
