"""Human output: tables that fit 80 and 200 columns without cutting keys, kinds, models, dates or hashes;
TSV by default when piped and --format table|tsv|csv|json; search rows with the record's own figures;
Markdown rendered on a terminal and printed as source when piped; a re-ingest summarised on one line."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from elephant.cli.formats import Column, fit, table_lines
from elephant.cli.main import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
LONG_KEY = "ranker/opt/int8-static-calibrated-2025-05@1"


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def demo() -> None:
    run("put", str(REPO / "fixtures" / "eval" / "history.yaml"), str(REPO / "fixtures" / "demo" / "ranker.yaml"),
        str(REPO / "fixtures" / "demo" / "ranker-benchmarks.yaml"))


def widest(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


# ---------------------------------------------------------------- the layout itself
COLUMNS = (Column("key"), Column("kind", below=1), Column("date"), Column("title", flex=True, min_width=12),
           Column("figures", flex=True, min_width=12, grow=2), Column("score", optional=True, right=True))
ROWS = [[LONG_KEY, "optimization", "2025-05-20", "Static INT8 quantization of ranker v2 with calibration",
         ("p99 45 → 22 ms (−51 %)", "throughput 820 → 1,610 qps (+96 %)"), "0.0323"],
        ["team/hello@1", "note", "-", "Hello", (), "0.0100"]]


@pytest.mark.parametrize("width", [60, 80, 100, 140, 200])
def test_a_table_fits_its_width_and_never_cuts_identifiers(width: int) -> None:
    lines = [text for text, _ in table_lines(COLUMNS, ROWS, width)]
    assert max(cell_len(line) for line in lines) <= width
    text = "\n".join(lines)
    for identifier in (LONG_KEY, "optimization", "2025-05-20", "team/hello@1"):
        assert identifier in text
    if width >= 140:
        assert len(lines) == 3 and "score" in lines[0]  # one line per row, the optional column kept
    if width <= 80:
        assert len(lines) == 5 and "…" in text  # two lines per row, the title cut with an ellipsis


def test_figures_are_cut_between_figures_never_inside_a_number() -> None:
    parts = ("p99 45 → 22 ms (−51 %)", "throughput 820 → 1,610 qps (+96 %)")
    assert fit(parts, 30) == "p99 45 → 22 ms (−51 %), …"
    assert fit(parts, 200) == "p99 45 → 22 ms (−51 %), throughput 820 → 1,610 qps (+96 %)"
    assert fit("INT8 dynamic quantization", 10) == "INT8 dyna…" and cell_len(fit("x" * 50, 10)) == 10


# ---------------------------------------------------------------- commands
def test_search_table_at_80_and_200_columns_shows_the_records_figures(demo: None,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    narrow = run("search", "int8 quantization ranker", "--model", "ranker", "-k", "3", "--format", "table")
    assert widest(narrow) <= 80
    assert "ranker/int8-dynamic-2026-03@1" in narrow and "optimization" in narrow and "2026-03-12" in narrow
    assert "rolled_back" in narrow and "p99 45 → 18 ms (−60 %)" in narrow  # the numbers, not only a score
    monkeypatch.setenv("COLUMNS", "200")
    wide = run("search", "int8 quantization ranker", "--model", "ranker", "-k", "3", "--format", "table")
    lines = wide.splitlines()
    assert widest(wide) <= 200 and len(lines) == 4  # header + one line per hit
    assert lines[0].split() == ["key@version", "kind", "model", "date", "outcome", "title", "figures", "score"]
    assert "INT8 dynamic quantization of ranker v3" in wide and "throughput 410 → 980 qps (+139 %)" in wide


def test_piped_search_is_tsv_and_format_chooses_csv_or_json(demo: None) -> None:
    tsv = run("search", "int8 quantization ranker", "--model", "ranker", "-k", "3").splitlines()
    assert tsv[0].split("\t") == ["key@version", "kind", "model", "date", "outcome", "title", "figures", "score"]
    assert len(tsv) == 4 and all(len(line.split("\t")) == 8 for line in tsv)
    first = dict(zip(tsv[0].split("\t"), tsv[1].split("\t"), strict=True))
    assert first["key@version"] == "ranker/int8-dynamic-2026-03@1" and first["outcome"] == "rolled_back"
    assert first["figures"].startswith("p99 45 → 18 ms (−60 %); throughput 410 → 980 qps")
    rows = list(csv.DictReader(io.StringIO(run("search", "int8 ranker", "--model", "ranker", "-k", "3",
                                              "--format", "csv"))))
    assert len(rows) == 3 and rows[0]["kind"] and rows[0]["key@version"].endswith("@1")
    as_format = json.loads(run("search", "int8 ranker", "-k", "3", "--format", "json"))
    assert as_format == json.loads(run("search", "int8 ranker", "-k", "3", "--json"))
    assert [hit["key"] for hit in as_format["results"]]


def test_history_ls_and_regressions_fit_80_columns_and_pipe_as_tsv(demo: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    history = run("history", "ranker/int8-dynamic-2026-03", "--format", "table")
    full_hash = json.loads(run("history", "ranker/int8-dynamic-2026-03", "--json"))["versions"][0]["content_hash"]
    assert widest(history) <= 80 and full_hash[:12] in history and "recorded_at" in history
    listing = run("ls", "ranker/", "--format", "table")
    assert widest(listing) <= 80 and "ranker/opt/int8-static-calibrated-2025-05" in listing
    findings = run("regressions", "--format", "table")
    assert widest(findings) <= 80 and "regression/ranker/bench-2026-04-14@1" in findings
    assert "ranker/bench-2026-03-24@1" in findings and "p95 39.6 → 47.5 ms (+20 %)" in findings
    monkeypatch.setenv("COLUMNS", "200")
    assert len(run("regressions", "--format", "table").splitlines()) == 2  # header + the finding, one line
    piped = run("history", "ranker/int8-dynamic-2026-03").splitlines()
    assert piped[0].split("\t")[:2] == ["v", "recorded_at"] and full_hash in piped[1].split("\t")
    assert run("ls", "ranker/").splitlines()[0] == "key\tkind\tmodel\tv\tupdated\ttitle"
    regressions = run("regressions").splitlines()
    assert regressions[0].startswith("finding\tstatus\tdate") and len(regressions) == 2
    assert list(csv.reader(io.StringIO(run("regressions", "--format", "csv"))))[1][0] == (
        "regression/ranker/bench-2026-04-14@1")


def test_an_empty_list_still_prints_its_header_when_piped_and_says_why_on_stderr() -> None:
    result = CliRunner().invoke(app, ["regressions"], catch_exceptions=False)
    assert result.stdout.splitlines() == ["finding\tstatus\tdate\tmodel\tbaseline\tsetup\tworse"]
    assert "no open regressions" in result.stderr


def _run_on_a_terminal(args: list[str], env: dict[str, str], columns: int) -> str:
    """The real `elephant` in a pseudo-terminal of ``columns`` columns (stdout.isatty() is true there)."""
    main, child = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**env, "TERM": "dumb", "COLUMNS": str(columns)}
    proc = subprocess.Popen([sys.executable, "-m", "elephant.cli.main", *args], stdin=child, stdout=child,
                            stderr=child, env=env, close_fds=True)
    os.close(child)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(main)
    assert proc.returncode == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_on_a_real_terminal_search_is_a_table_and_ask_renders_markdown(demo: None) -> None:
    env = dict(os.environ)
    table = _run_on_a_terminal(["search", "int8 quantization ranker", "--model", "ranker", "-k", "3"], env, 80)
    assert "\t" not in table and table.splitlines()[0].startswith("key@version")
    assert widest(table) <= 80 and "ranker/int8-dynamic-2026-03@1" in table
    rendered = _run_on_a_terminal(["ask", "did we try INT8 on the ranker?"], env, 100)
    assert "**" not in rendered and "INT8" in rendered  # Rich drew the bold instead of printing asterisks


def test_ask_and_brief_print_markdown_source_when_piped_or_asked(demo: None) -> None:
    piped = run("ask", "did we try INT8 on the ranker?")
    assert "**" in piped  # the Markdown itself, for a file or another tool
    assert run("ask", "did we try INT8 on the ranker?", "--plain") == piped
    assert run("ask", "did we try INT8 on the ranker?", "--format", "markdown") == piped
    assert json.loads(run("ask", "did we try INT8 on the ranker?", "--format", "json"))["answer"]
    brief = run("brief", "ranker", "--format", "markdown")
    assert brief.startswith("#") and json.loads(run("brief", "ranker", "--format", "json"))


def test_a_reingest_prints_a_summary_not_a_line_per_skipped_file(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    (root / "LICENSE").write_text("Apache License\nVersion 2.0\n")
    (root / "notes.txt").write_text("a text file\n")
    (root / "bench.yaml").write_text(
        "kind: benchmark\nkey: svc/bench\ntitle: a run\nmodel: svc\nfields:\n  throughput_qps: 10\n")
    run("ingest", str(root))
    again = run("ingest", str(root))
    data = json.loads(run("ingest", str(root), "--json"))
    skipped = len(data["skipped"])
    assert skipped >= 1
    assert "skipped " + str(skipped) + ":" in again and "-v lists them" in again
    assert again.count("\n") <= 5  # summary lines only, however many files were skipped
    verbose = run("ingest", str(root), "-v")
    assert sum(line.startswith("skipped ") and ": " in line for line in verbose.splitlines()) >= skipped
    assert all(item["path"] in verbose for item in data["skipped"])


def test_a_benchmark_row_leads_with_tail_latency_throughput_and_accuracy(demo: None,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    table = run("search", "ranker latency", "--kind", "benchmark", "--model", "ranker", "-k", "2",
                "--format", "table")
    assert widest(table) <= 80 and "p99 " in table and "p50 " not in table  # the tail first; p50 cut first
    rows = [line.split("\t") for line in run("search", "ranker latency", "--kind", "benchmark", "-k", "2").splitlines()]
    figures = dict(zip(rows[0], rows[1], strict=True))["figures"].split("; ")
    assert figures[0].startswith("p99 ") and figures[1].endswith(" qps") and any("p50" in f for f in figures[2:])
