"""Rows 2, 5-9 of issue 20: bad input at every door is a clear 4xx / exit 1 / MCP tool error naming the
field, before anything is written, on SQLite and PostgreSQL; never a 500 or a traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.conftest import call_mcp, mcp_text, record_count, run_cli


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# (id, envelope changes, field path the error must name)
BAD_RECORDS = [
    ("late-offset", {"occurred_at": "9999-12-31T23:00:00-05:00"}, "occurred_at"),
    ("early-offset", {"occurred_at": "0001-01-01T00:30:00+01:00"}, "occurred_at"),
    ("nested-480", {"fields": {"deep": deep(480)}}, "fields.deep"),
    ("surrogate-body", {"body": "a\ud800b"}, "body"),
    ("nul-body", {"body": "a\x00b"}, "body"),
    ("nul-title", {"title": "a\x00b"}, "title"),
    ("nul-field", {"fields": {"note": "x\x00y"}}, "fields.note"),
    ("nul-field-name", {"fields": {"no\x00te": "x"}}, "fields.no"),
    ("nul-tag", {"tags": ["ok", "b\x00d"]}, "tags[1]"),
    ("long-model", {"model": "m" * 201}, "model"),
    ("long-source-path", {"source": {"path": "p/" * 513}}, "source.path"),
    ("dot-segment-key", {"key": "bad/../up"}, "key"),
    ("too-many-tags", {"tags": [f"t{n}" for n in range(100_000)]}, "tags"),
]
CASES = [pytest.param(changes, path, id=name) for name, changes, path in BAD_RECORDS]


def envelope(changes: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "note", "key": "bad/input", "title": "bad input", **changes}


@pytest.mark.parametrize(("changes", "path"), CASES)
def test_rest_body_is_a_422_naming_the_field(api: Any, changes: dict[str, Any], path: str) -> None:
    db = api.app.state.ctx.db
    response = api.post("/v1/records", content=json.dumps(envelope(changes)),
                        headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert path in response.text
    assert record_count(db) == 0


@pytest.mark.parametrize(("changes", "path"), [c for c in CASES if c.id not in {"surrogate-body", "nul-field-name"}])
def test_cli_file_exits_1_naming_file_and_field(tmp_path: Path, changes: dict[str, Any], path: str) -> None:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(envelope(changes)), encoding="utf-8")
    result = run_cli("put", str(file))
    assert result.exit_code == 1, result.output
    assert "bad.json" in result.output and path.split("[")[0] in result.output
    assert "Traceback" not in result.output
    assert run_cli("stats", "--json").output.count('"_versions": 0') == 1


def test_cli_yaml_with_a_lone_surrogate_escape(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text('kind: note\nkey: bad/s\ntitle: t\nbody: "a\\ud800b"\n', encoding="utf-8")
    result = run_cli("put", str(file))
    assert result.exit_code == 1 and "body" in result.output


@pytest.mark.parametrize(("changes", "path"), [c for c in CASES if c.id not in {"nested-480", "too-many-tags", "long-source-path"}])
def test_mcp_remember_is_an_error_naming_the_field(db: Any, changes: dict[str, Any], path: str) -> None:
    result = call_mcp(db, "remember", envelope(changes))
    assert result.is_error
    assert path.split("[")[0] in mcp_text(result)
    assert record_count(db) == 0


# ---------------------------------------------------------------- row 5: YAML alias expansion
def alias_bomb(levels: int = 9) -> str:
    lines = ["kind: note", "key: bad/bomb", "title: laughs", "fields:", "  l0: &l0 [a, a, a, a, a, a, a, a, a]"]
    for n in range(1, levels):
        lines.append(f"  l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_cli_put_refuses_an_alias_bomb_fast(tmp_path: Path) -> None:
    file = tmp_path / "bomb.yaml"
    file.write_text(alias_bomb(), encoding="utf-8")
    assert len(file.read_bytes()) < 600
    result = run_cli("put", str(file))
    assert result.exit_code == 1
    assert "bomb.yaml" in result.output and "alias" in result.output


def test_rest_ingest_refuses_an_alias_bomb(api: Any) -> None:
    files = [("files", ("bomb.yaml", io.BytesIO(alias_bomb().encode()), "application/yaml"))]
    response = api.post("/v1/ingest", files=files)
    assert response.status_code in (200, 422), response.text[:300]
    assert "alias" in response.text
    assert record_count(api.app.state.ctx.db) == 0


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    file = tmp_path / "ok.yaml"
    file.write_text("kind: note\nkey: ok/alias\ntitle: t\nfields:\n  a: &x {p99: 3}\n  b: *x\n", encoding="utf-8")
    assert run_cli("put", str(file)).exit_code == 0
    got = json.loads(run_cli("get", "ok/alias", "--json").output)
    assert got["fields"]["b"] == {"p99": 3}


# ---------------------------------------------------------------- row 7: times at the edges of the calendar
EDGE_TIMES = ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"]


OUTSIDE = "is outside the years 0001-9999 once converted to UTC"


@pytest.mark.parametrize("moment", EDGE_TIMES)
def test_rest_as_of_and_search_bounds_at_the_edges_are_4xx(api: Any, moment: str) -> None:
    """A well-formed time that leaves the calendar in UTC is a usage error (400) saying so, whether or
    not the key exists: it is never looked up."""
    api.post("/v1/records", json=envelope({"key": "ok/one"}))
    for key in ("ok/one", "no/such-key"):
        response = api.get(f"/v1/records/{key}", params={"as_of": moment})
        assert response.status_code == 400, response.text[:300]
        assert "as-of" in response.json()["detail"] and OUTSIDE in response.json()["detail"]
    for bound in ("since", "until"):
        response = api.post("/v1/search", json={"query": "bad input", bound: moment})
        assert response.status_code == 400, response.text[:300]
        assert bound in response.json()["detail"] and OUTSIDE in response.json()["detail"]


def test_far_dates_without_offsets_work(api: Any) -> None:
    assert api.post("/v1/records", json=envelope({"key": "ok/far", "occurred_at": "9999-12-31"})).status_code == 201
    assert api.post("/v1/records", json=envelope({"key": "ok/early", "occurred_at": "0001-01-01"})).status_code == 201
    found = api.post("/v1/search", json={"query": "bad input", "until": "9999-12-31", "since": "0001-01-01"})
    assert found.status_code == 200
    assert {"ok/far", "ok/early"} <= {hit["key"] for hit in found.json()["results"]}
    asked = api.post("/v1/ask", json={"question": "what did we try before 9999-12-31?"})
    assert asked.status_code == 200, asked.text[:300]


@pytest.mark.parametrize("moment", EDGE_TIMES)
@pytest.mark.parametrize("option", [("search", "x", "--since"), ("search", "x", "--until"),
                                    ("get", "no/key", "--as-of")], ids=["since", "until", "as-of"])
def test_cli_edges_are_misuse_naming_the_option(option: tuple[str, ...], moment: str) -> None:
    """Exit 2 (misuse, like any bad option value), with the option and why."""
    result = run_cli(*option, moment)
    assert result.exit_code == 2, result.output
    assert f"{option[-1]}: " in result.output and OUTSIDE in result.output and "Traceback" not in result.output


def test_cli_far_dates_without_offsets_work() -> None:
    for args in (("search", "x", "--until", "9999-12-31"), ("search", "x", "--since", "0001-01-01"),
                 ("search", "x", "--since", "9999-12-31"), ("ask", "what did we try before 9999-12-31?")):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.output)


@pytest.mark.parametrize("moment", EDGE_TIMES)
def test_mcp_edges_are_errors_naming_the_argument(db: Any, moment: str) -> None:
    for tool, arguments, named in (("recall", {"query": "x", "since": moment}, "since"),
                                   ("recall", {"query": "x", "until": moment}, "until"),
                                   ("get", {"key": "no/key", "as_of": moment}, "as-of")):
        result = call_mcp(db, tool, arguments)
        assert result.is_error, (tool, arguments)
        assert named in mcp_text(result) and OUTSIDE in mcp_text(result)


def test_mcp_ask_before_the_last_day(db: Any) -> None:
    result = call_mcp(db, "ask", {"question": "what did we try before 9999-12-31?"})
    assert not result.is_error, mcp_text(result)


# ---------------------------------------------------------------- row 2: NUL and surrogates in parameters
@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"])
def test_rest_parameters_with_nul_or_surrogates_are_422(api: Any, text: str) -> None:
    for path, body in (("/v1/search", {"query": text}), ("/v1/ask", {"question": text}),
                       ("/v1/context", {"query": text}), ("/v1/search", {"query": "x", "model": [text]})):
        response = api.post(path, content=json.dumps({**body}), headers={"content-type": "application/json"})
        assert response.status_code == 422, (path, response.text[:300])
        assert "SELECT" not in response.text and "INSERT" not in response.text
    assert api.get("/v1/records/a%00b").status_code == 422
    assert api.get("/v1/brief", params={"model": "a\x00b"}).status_code == 422


def test_mcp_recall_with_nul_is_an_error(db: Any) -> None:
    result = call_mcp(db, "recall", {"query": "a\x00b"})
    assert result.is_error and "NUL" in mcp_text(result)


def test_cli_search_with_nul_exits_1() -> None:
    result = run_cli("search", "a\x00b")
    assert result.exit_code == 1 and "NUL" in result.output


# ---------------------------------------------------------------- row 7: uploads and imports
@pytest.mark.parametrize("names", [["a", "a/b.yaml"], ["a/b.yaml", "a"], ["x" * 300 + ".yaml"]],
                         ids=["file-then-folder", "folder-then-file", "name-too-long"])
def test_rest_upload_names_that_cannot_be_stored_are_422(api: Any, names: list[str]) -> None:
    record = yaml.safe_dump(envelope({"key": "up/one"})).encode()
    files = [("files", (name, io.BytesIO(record), "application/yaml")) for name in names]
    response = api.post("/v1/ingest", files=files)
    assert response.status_code == 422, response.text[:300]


@pytest.mark.parametrize("version", ['"x"', "1.5", "true", "0", "99999999999"])
def test_import_of_a_bad_version_exits_1_naming_the_line(tmp_path: Path, version: str) -> None:
    line = ('{"key": "k/1", "version": ' + version + ', "content_hash": "0", "recorded_at": "2026-01-01T00:00:00Z", '
            '"envelope": {"kind": "note", "key": "k/1", "title": "t"}}')
    file = tmp_path / "in.jsonl"
    file.write_text('{"format": "elephant-export/1"}\n' + line + "\n", encoding="utf-8")
    result = run_cli("import", str(file))
    assert result.exit_code == 1, result.output
    assert "in.jsonl:2" in result.output and "version" in result.output


# ---------------------------------------------------------------- row 8: Rich markup in keys and paths
def test_cli_output_escapes_markup_in_keys_and_paths(tmp_path: Path) -> None:
    file = tmp_path / "m.yaml"
    file.write_text("kind: note\nkey: cli/m[/x]\ntitle: '[bold]t[/bold]'\n", encoding="utf-8")
    put = run_cli("put", str(file))
    assert put.exit_code == 0 and "cli/m[/x]@1" in put.output
    got = run_cli("get", "cli/m[/x]")
    assert got.exit_code == 0 and "cli/m[/x]" in got.output
    assert run_cli("history", "cli/m[/x]").exit_code == 0
    folder = tmp_path / "a["
    folder.mkdir()
    (folder / "r.yaml").write_text("kind: note\nkey: cli/folder\ntitle: t\n", encoding="utf-8")
    (folder / "bad[.yaml").write_text("kind: note\nkey: [unclosed\n", encoding="utf-8")
    ingested = run_cli("ingest", str(folder))
    assert ingested.exit_code in (0, 1) and "Traceback" not in ingested.output
    assert "bad[.yaml" in ingested.output
    assert run_cli("search", "t").exit_code == 0
