"""Where the memory is and the conventions around it: home discovery (like git), `init`, `info`, `ls`,
`new KIND`, `schema KIND`, `put -`, `ingest -q`, `--version`, completion, and `serve` on a busy port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from elephant.cli.main import app
from elephant.settings import discover_home, settings_for, user_home

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def no_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ELEPHANT_HOME; a private user home; the working directory a fresh folder inside it."""
    monkeypatch.delenv("ELEPHANT_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    user = tmp_path / "user"
    work = user / "work" / "project"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(user))
    monkeypatch.chdir(work)
    return work


# ---------------------------------------------------------------- discovery
def test_home_is_found_walking_up_else_the_per_user_home(no_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert discover_home() == user_home() == (no_home.parents[1] / ".local" / "share" / "elephant").resolve()
    monkeypatch.setenv("XDG_DATA_HOME", str(no_home.parents[1] / "data"))
    assert discover_home() == (no_home.parents[1] / "data" / "elephant").resolve()
    (no_home.parent / ".elephant").mkdir()
    deeper = no_home / "a" / "b"
    deeper.mkdir(parents=True)
    assert discover_home(deeper) == (no_home.parent / ".elephant").resolve()
    assert settings_for().home_source == "found from the working directory"
    monkeypatch.setenv("ELEPHANT_HOME", str(no_home / "explicit"))
    assert settings_for().resolved_home == (no_home / "explicit").resolve()  # the variable wins


def test_read_only_commands_never_create_a_home_in_the_working_directory(no_home: Path) -> None:
    for args in (["info"], ["ls"], ["ask", "did we try INT8 on the ranker?"], ["stats"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
    assert not (no_home / ".elephant").exists()
    assert str(user_home()) in run("info").output


def test_init_makes_a_home_that_commands_below_find(no_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("init", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == {"home": str((no_home / ".elephant").resolve()), "created": True,
                    "database_url": f"sqlite:///{(no_home / '.elephant').resolve() / 'elephant.db'}"}
    assert json.loads(run("init", "--json").output)["created"] is False
    sub = no_home / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    note = sub / "n.yaml"
    note.write_text("kind: note\nkey: team/x\ntitle: X\n", encoding="utf-8")
    assert run("put", str(note)).exit_code == 0
    info = json.loads(run("info", "--json").output)
    assert info["home"] == str((no_home / ".elephant").resolve())
    assert info["home_source"] == "found from the working directory"
    assert info["live_records"] == 1 and info["records"] == {"note": 1}
    assert not (sub / ".elephant").exists()


def test_init_refuses_a_missing_folder_and_an_explicit_home(no_home: Path) -> None:
    result = run("init", "nowhere")
    assert result.exit_code == 1 and "nowhere: no such folder" in result.output
    result = run("--home", str(no_home / "h"), "init")
    assert result.exit_code == 2 and "already chosen" in result.output  # misuse: exit 2


def test_nothing_in_memory_names_the_home(no_home: Path) -> None:
    result = run("ask", "did we try INT8 on the ranker?")
    assert result.exit_code == 0
    assert f"searched the memory at {user_home()}" in result.output and "0 live records" in result.output
    assert f"searched the memory at {user_home()}" in run("brief").output
    data = json.loads(run("ask", "did we try INT8 on the ranker?", "--json").output)
    assert data["found"] is False and data["home"] == str(user_home())


# ---------------------------------------------------------------- info
def test_info_redacts_the_database_password_and_reports_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from elephant.cli.home_commands import redact_url

    assert redact_url("postgresql+psycopg://bob:s3cret@db:5432/mem") == "postgresql+psycopg://bob:***@db:5432/mem"
    assert redact_url("sqlite:////x/elephant.db") == "sqlite:////x/elephant.db"
    info = json.loads(run("info", "--json").output)
    assert set(info) >= {"home", "home_source", "database_url", "vector_index", "model", "records", "index_jobs"}
    assert info["home_source"] == "set by ELEPHANT_HOME or --home"
    assert info["model"]["variant"] == "fake" and info["index_jobs"] == {"pending": 0, "parked": 0}
    human = run("info").output
    for label in ("home", "database", "vector index", "model files", "records", "index jobs"):
        assert label in human


@pytest.mark.model
def test_info_verifies_the_real_model(real_model: Path) -> None:
    info = json.loads(run("info", "--json").output)
    assert info["model"]["name"] == "all-MiniLM-L6-v2" and info["model"]["variant"] == "int8"
    assert info["model"]["dir"] == str(real_model.resolve()) and info["model"]["checksums"].startswith("ok (")


def test_info_shows_a_missing_model_as_a_problem_not_a_traceback(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEPHANT_MODEL", "int8")
    monkeypatch.setenv("ELEPHANT_MODEL_DIR", str(tmp_path / "no-model"))
    result = run("info", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"]["checksums"].startswith("problem: ")


def test_the_model_is_looked_for_in_the_home_then_the_user_cache(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELEPHANT_MODEL_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert settings_for().resolved_model_dir == (tmp_path / "user" / ".cache" / "elephant" / "models").resolve()
    built = tmp_path / "home" / "models"
    built.mkdir(parents=True)
    (built / "manifest.json").write_text("{}", encoding="utf-8")
    assert settings_for().resolved_model_dir == built.resolve()


# ---------------------------------------------------------------- ls
def _put_demo() -> None:
    assert run("put", str(REPO / "fixtures" / "demo" / "ranker.yaml")).exit_code == 0


def test_ls_lists_keys_with_kind_model_version_and_filters() -> None:
    assert "no records" in run("ls").output
    _put_demo()
    data = json.loads(run("ls", "--json").output)
    keys = [r["key"] for r in data["records"]]
    assert keys == sorted(keys) and "ranker/int8-dynamic-2026-03" in keys
    row = next(r for r in data["records"] if r["key"] == "ranker/int8-dynamic-2026-03")
    assert row["kind"] == "optimization" and row["model"] == "ranker" and row["version"] == 1 and row["updated"]
    only = json.loads(run("ls", "--kind", "benchmark", "--json").output)["records"]
    assert [r["kind"] for r in only] == ["benchmark"]
    assert [r["key"] for r in json.loads(run("ls", "ranker/int8", "--json").output)["records"]] == [
        "ranker/int8-dynamic-2026-03"]
    assert len(json.loads(run("ls", "-n", "2", "--json").output)["records"]) == 2
    assert json.loads(run("ls", "--tag", "baseline", "--json").output)["records"][0]["key"] == "ranker/bench-2026-03-10"
    run("rm", "ranker/int8-dynamic-2026-03")
    assert "ranker/int8-dynamic-2026-03" not in run("ls").output
    deleted = json.loads(run("ls", "--deleted", "ranker/int8", "--json").output)["records"]
    assert deleted[0]["deleted"] is True and deleted[0]["version"] == 2
    piped = run("ls").output.splitlines()  # not a terminal: tab-separated, a header first
    assert piped[0].split("\t") == ["key", "kind", "model", "v", "updated", "title"]


def test_ls_with_an_unknown_kind_is_an_error_naming_the_kinds() -> None:
    result = run("ls", "--kind", "benchmarks")
    assert result.exit_code == 1 and "benchmark" in result.output


# ---------------------------------------------------------------- new, schema, put -
def test_new_prints_a_commented_template_with_every_field_of_the_kind() -> None:
    from elephant.kinds import all_kinds

    for spec in all_kinds():
        result = run("new", spec.name)
        assert result.exit_code == 0, result.output
        data = yaml.safe_load(result.output)
        assert data["kind"] == spec.name and "title" in data and "occurred_at" in data
        assert set(data["fields"] or {}) == set(spec.fields_model.model_fields), spec.name
    text = run("new", "optimization").output
    assert "outcome:  # one of adopted, rejected, rolled_back, in_progress" in text
    assert "latency_ms_p99:  # number" in text
    assert run("new", "nonsense").exit_code == 1


def test_new_filled_in_goes_straight_into_put_from_stdin() -> None:
    template = run("new", "note", "--key", "team/hello", "--title", "Hello").output
    result = run("put", "-", input=template)
    assert result.exit_code == 0, result.output
    assert "team/hello@1 created" in result.output
    assert json.loads(run("get", "team/hello", "--json").output)["title"] == "Hello"


def test_an_unfilled_template_is_refused_naming_the_field() -> None:
    result = run("put", "-", input=run("new", "note").output)
    assert result.exit_code == 1 and "<stdin>" in result.output and "title" in result.output


def test_put_stdin_reads_yaml_json_and_front_matter_markdown() -> None:
    assert run("put", "-", input='{"kind": "note", "key": "a/json", "title": "J"}').exit_code == 0
    md = "---\nkind: note\nkey: a/md\ntitle: M\n---\n# Notes\n\nThe body.\n"
    assert run("put", "-", input=md).exit_code == 0
    assert "The body." in json.loads(run("get", "a/md", "--json").output)["body"]
    assert run("put", "-", input="").exit_code == 1
    result = run("put", "-", "other.yaml", input="kind: note\n")
    assert result.exit_code == 2 and "stdin alone" in result.output


def test_schema_is_the_json_schema_of_the_kind() -> None:
    result = run("schema", "benchmark")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["properties"]["kind"] == {"const": "benchmark", "title": "Kind", "type": "string"}
    assert "latency_ms" in schema["properties"]["fields"]["properties"]
    assert set(schema["required"]) >= {"kind", "key", "title"}
    assert json.loads(run("schema", "benchmark", "--json").output) == schema
    assert run("schema", "nonsense").exit_code == 1


def test_schema_accepts_what_put_accepts() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    records = yaml.safe_load((REPO / "fixtures" / "demo" / "ranker.yaml").read_text(encoding="utf-8"))["records"]
    for record in records:
        record = json.loads(json.dumps(record, default=str))  # dates as the strings JSON would carry
        jsonschema.validate(record, json.loads(run("schema", record["kind"]).output))


# ---------------------------------------------------------------- ingest -q, --version, completion, serve
def test_ingest_quiet_prints_one_line_and_no_skipped_lines(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "artifacts"
    shutil.copytree(REPO / "fixtures" / "artifacts", root)
    (root / "empty.yaml").write_text("", encoding="utf-8")
    first = run("ingest", str(root))
    assert first.exit_code == 0, first.output
    assert "skipped 1: " in first.output and "-v lists them" in first.output  # counted, not listed
    assert "skipped empty.yaml" in run("ingest", "-v", str(root)).output
    again = run("ingest", "-q", str(root))
    lines = again.output.strip().splitlines()
    assert len(lines) == 1 and "unchanged" in lines[0] and "skipped " not in again.output


def test_version_and_completion() -> None:
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        result = run(flag)
        assert result.exit_code == 0 and result.output.strip() == f"elephant {version('elephant-memory')}"
    help_text = run("--help").output
    assert "--install-completion" in help_text and "--show-completion" in help_text
    for command in ("init", "info", "ls", "new", "schema"):
        assert "Example:" in run(command, "--help").output, command


def test_serve_on_a_busy_port_exits_1_with_a_message(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "ELEPHANT_HOME": str(tmp_path / "h")}
        done = subprocess.run([sys.executable, "-m", "elephant.cli.main", "serve", "--port", str(port)], env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr and "Traceback" not in done.stderr
