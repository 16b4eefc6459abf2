"""The record commands as a user runs them: exit codes, messages naming file and field, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from elephant.cli.main import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
kind: optimization
key: ranker/int8-2026-03
title: INT8 dynamic quantization of ranker v3
model: ranker
occurred_at: 2026-03-12
fields:
  technique: quantization_int8
  outcome: in_progress
  baseline: {latency_ms_p99: 45}
  result: {latency_ms_p99: 18}
"""


def test_put_get_history_diff_revert_rm(tmp_path):
    f = write(tmp_path / "r.yaml", GOOD)
    result = run("put", str(f), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["results"][0]["status"] == "created"
    assert "unchanged" in run("put", str(f)).output
    write(f, GOOD.replace("in_progress", "rolled_back"))
    assert "ranker/int8-2026-03@2 updated" in run("put", str(f)).output
    got = json.loads(run("get", "ranker/int8-2026-03", "--json").output)
    assert got["version"] == 2 and got["fields"]["outcome"] == "rolled_back" and len(got["content_hash"]) == 64
    assert json.loads(run("get", "ranker/int8-2026-03", "--version", "1", "--json").output)["version"] == 1
    hist = json.loads(run("history", "ranker/int8-2026-03", "--json").output)
    assert [v["version"] for v in hist["versions"]] == [1, 2]
    d = json.loads(run("diff", "ranker/int8-2026-03", "1", "2", "--json").output)
    assert d["changes"] == [{"path": "fields.outcome", "change": "changed", "from": "in_progress", "to": "rolled_back"}]
    human = run("diff", "ranker/int8-2026-03", "1", "2").output
    assert "fields.outcome" in human and "rolled_back" in human
    assert json.loads(run("revert", "ranker/int8-2026-03", "1", "--json").output)["version"] == 3
    assert run("rm", "ranker/int8-2026-03").exit_code == 0
    missing = run("get", "ranker/int8-2026-03")
    assert missing.exit_code == 1 and "deleted" in missing.output


def test_markdown_front_matter_and_records_list(tmp_path):
    md = write(tmp_path / "note.md", "---\nkind: note\nkey: team/how-we-bench\ntitle: How we benchmark\n---\n"
                                     "# How we benchmark\n\nAlways report p99.\n")
    many = write(tmp_path / "many.json", json.dumps({"records": [
        {"kind": "note", "key": "a/1", "title": "one"}, {"kind": "note", "key": "a/2", "title": "two"}]}))
    result = run("put", str(md), str(many), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["counts"]["created"] == 3
    assert "Always report p99" in json.loads(run("get", "team/how-we-bench", "--json").output)["body"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.yaml", "kind: note\nkey: [unclosed\n", "malformed YAML at line"),
        ("kind.yaml", "kind: wizardry\nkey: a/b\ntitle: t\n", ":1: record a/b: field kind: unknown kind 'wizardry'"),
        ("types.yaml", "kind: serving_config\nkey: a/b\ntitle: t\nfields: {replicas: lots}\n", ":4: record a/b: field fields.replicas: "),
        ("nokey.yaml", "kind: note\ntitle: t\n", ":1: field key: is required"),
        ("notitle.json", '{"kind": "note", "key": "a/b"}', ": record a/b: field title: is required"),
        ("broken.json", '{"kind": "note",', "malformed JSON"),
        ("empty.yaml", "", "the file is empty"),
    ],
)
def test_bad_input_exits_1_names_file_and_field_and_writes_nothing(tmp_path, name, text, expected):
    f = write(tmp_path / name, text)
    result = run("put", str(f))
    assert result.exit_code == 1
    assert expected in result.output
    assert str(f) in result.output
    assert "Traceback" not in result.output
    stats = json.loads(run("stats", "--json").output)
    assert stats["_versions"] == 0


def test_missing_file_and_misuse(tmp_path):
    result = run("put", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1 and "no such file" in result.output
    assert run("get").exit_code == 2  # missing argument
    assert run("get", "x", "--version", "0").exit_code == 2
    assert run("get", "x", "--version", "1", "--as-of", "2026-01-01").exit_code == 2
    assert run("diff", "x", "one", "2").exit_code == 2


def test_one_bad_record_does_not_stop_good_ones(tmp_path):
    good = write(tmp_path / "good.yaml", GOOD)
    bad = write(tmp_path / "bad.yaml", "kind: note\nkey: a/b\n")
    result = run("put", str(good), str(bad), "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["counts"]["created"] == 1 and data["counts"]["failed"] == 1
    assert data["problems"][0]["file"] == str(bad)


def test_expect_version_conflict(tmp_path):
    f = write(tmp_path / "r.yaml", GOOD)
    run("put", str(f))
    write(f, GOOD.replace("in_progress", "adopted"))
    stale = run("put", str(f), "--expect-version", "5")
    assert stale.exit_code == 1 and "expected v5" in stale.output
    assert run("put", str(f), "--expect-version", "1").exit_code == 0


def test_export_import_round_trip(tmp_path, monkeypatch):
    f = write(tmp_path / "r.yaml", GOOD)
    run("put", str(f))
    run("rm", "ranker/int8-2026-03")
    backup = tmp_path / "backup.jsonl"
    exported = json.loads(run("export", str(backup), "--json").output)
    assert exported["versions"] == 2
    monkeypatch.setenv("ELEPHANT_HOME", str(tmp_path / "second"))
    imported = json.loads(run("import", str(backup), "--json").output)
    assert imported["imported"] == 1
    hist = json.loads(run("history", "ranker/int8-2026-03", "--json").output)
    assert [v["deleted"] for v in hist["versions"]] == [False, True]
    # a conflicting home refuses
    monkeypatch.setenv("ELEPHANT_HOME", str(tmp_path / "third"))
    write(f, GOOD.replace("INT8", "Int8"))
    run("put", str(f))
    refused = run("import", str(backup))
    assert refused.exit_code == 1 and "already exist" in refused.output
    assert run("import", str(tmp_path / "missing.jsonl")).exit_code == 1


def test_real_subprocess_exit_codes(tmp_path):
    env = {**os.environ, "ELEPHANT_HOME": str(tmp_path / "home")}
    bad = write(tmp_path / "bad.yaml", "kind: nope\n")
    proc = subprocess.run([sys.executable, "-m", "elephant.cli.main", "put", str(bad)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "bad.yaml" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "elephant.cli.main", "get", "--help"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--as-of" in proc.stdout and "Example" in proc.stdout


BAD_RECORDS = """\
records:
  - kind: benchmark
    key: svc/bench-1
    title: ""
    model: svc
    colour: blue
    fields:
      latency_ms:
        p99: fast
  - kind: note
    key: svc/fine
    title: a good record beside the bad ones
  - kind: optimization
    key: svc/opt-1
    title: ok
    fields:
      outcome: maybe
  - kind: note
    title: no key here
"""


def test_one_round_reports_envelope_and_field_errors_together_with_yaml_lines(tmp_path):
    f = write(tmp_path / "bad.yaml", BAD_RECORDS)
    result = run("put", str(f))
    assert result.exit_code == 1
    for expected in (f"{f}:4: record svc/bench-1: field title: ",
                     f"{f}:6: record svc/bench-1: field colour: is not an envelope field",
                     f"{f}:9: record svc/bench-1: field fields.latency_ms.p99: ",  # the same round as line 4
                     f"{f}:17: record svc/opt-1: field fields.outcome: ",
                     f"{f}:18: field key: is required"):
        assert expected in result.output, result.output
    data = json.loads(run("put", str(f), "--json").output)
    assert {(p["line"], p["field"]) for p in data["problems"]} == {
        (4, "title"), (6, "colour"), (9, "fields.latency_ms.p99"), (17, "fields.outcome"), (18, "key")}
    assert [r["key"] for r in data["results"]] == ["svc/fine"]  # the valid record is still written


def test_front_matter_and_stdin_records_report_their_lines(tmp_path):
    md = write(tmp_path / "note.md", "---\nkind: note\nkey: a/b\ntitle: t\ntags: {x: 1}\n---\nbody\n")
    result = run("put", str(md))
    assert result.exit_code == 1 and f"{md}:5: record a/b: field tags: " in result.output
    piped = runner.invoke(app, ["put", "-"], input="kind: benchmark\nkey: i/1\ntitle: t\nfields:\n  throughput_qps: many\n")
    assert piped.exit_code == 1 and "<stdin>:5: record i/1: field fields.throughput_qps: " in piped.output


def test_ingest_reports_every_bad_record_of_a_record_file_with_lines(tmp_path):
    root = tmp_path / "records"
    root.mkdir()
    write(root / "bad.yaml", BAD_RECORDS)
    result = run("ingest", str(root))
    assert result.exit_code == 1
    assert "bad.yaml:9: record svc/bench-1: field fields.latency_ms.p99: " in result.output
    assert "bad.yaml:17: record svc/opt-1: field fields.outcome: " in result.output
    failed = json.loads(run("ingest", str(root), "--json").output)["failed"]
    assert "bad.yaml:4: record svc/bench-1: field title" in failed[0]["reason"]


def test_put_warns_about_links_to_missing_keys_and_keeps_them(tmp_path):
    f = write(tmp_path / "n.yaml", "kind: note\nkey: team/a\ntitle: a\nlinks:\n  - {rel: about, key: team/b}\n")
    result = run("put", str(f))
    assert result.exit_code == 0
    assert "warning: record team/a: field links[0]: links (about) to team/b, which is not in memory" in result.output
    data = json.loads(run("put", str(f), "--json").output)
    assert data["warnings"][0]["link"] == {"rel": "about", "key": "team/b"} and data["regressions"] == []
    assert json.loads(run("get", "team/a", "--json").output)["links"] == [{"rel": "about", "key": "team/b"}]


def test_put_names_the_regression_its_benchmark_raised(tmp_path):
    def bench(key, day, p99):
        return (f"kind: benchmark\nkey: {key}\ntitle: run {day}\nmodel: svc\noccurred_at: {day}\n"
                f"fields: {{hardware: h1, scenario: server, latency_ms: {{p99: {p99}}}, throughput_qps: 100}}\n")

    assert run("put", str(write(tmp_path / "b1.yaml", bench("svc/b1", "2026-01-01", 43)))).exit_code == 0
    result = run("put", str(write(tmp_path / "b2.yaml", bench("svc/b2", "2026-01-08", 50))))
    assert result.exit_code == 0
    assert "regression: svc/b2@1: p99 43 → 50 ms (+16 %) vs svc/b1@1 (finding regression/svc/b2@1)" in result.output
    again = json.loads(run("put", str(write(tmp_path / "b3.yaml", bench("svc/b2", "2026-01-08", 51))),
                           "--json").output)
    assert again["regressions"][0]["benchmark"] == "svc/b2@2"
    assert again["regressions"][0]["figures"] == ["p99 43 → 51 ms (+19 %)"]
    assert json.loads(run("put", str(tmp_path / "b1.yaml"), "--json").output)["regressions"] == []  # unchanged
