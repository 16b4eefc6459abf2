"""`elephant ingest PATH...`: parse real artifacts (MLPerf results, Triton/KServe configs, runbooks,
benchmark tables, record files) into versioned records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from elephant.cli.output import JSON_OPTION, console, emit, err_console, open_db, reporting
from elephant.cli.progress import phase_progress
from elephant.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command(name="ingest")(ingest)


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, metavar="[PATH]...",
                                       help="Files or folders; each is an ingest root (keys are relative to it)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Parse and compare, but write nothing."),
    prune: bool = typer.Option(False, "--prune", help="Tombstone records whose source file under a root is gone."),
    mlflow_uri: str | None = typer.Option(
        None, "--mlflow", metavar="URI",
        help="Import from an MLflow tracking server (default with no PATH: ELEPHANT_MLFLOW_URI); see docs/mlflow.md."),
    full: bool = typer.Option(False, "--full", help="MLflow: list every run again, not only those since the watermark."),
    metric_map: Path | None = typer.Option(None, "--metric-map", metavar="FILE",
                                           help="MLflow: YAML/JSON of benchmark field → metric names, over the defaults."),
    experiments: list[str] = typer.Option(None, "--experiment", metavar="NAME",
                                          help="MLflow: only runs of this experiment (name or id; repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="One summary line; failures still listed, skipped "
                               "files not."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every skipped file with its reason (by "
                                 "default they are counted by reason on one line)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest artifacts idempotently: unchanged files are skipped by hash; changed ones become new versions.

    Exit 1 if any file failed to parse (the others are still written).

    Example: elephant ingest fixtures/ingest --prune

    Example: elephant ingest -q fixtures/ingest   # again: one line, nothing written

    Example: elephant ingest -v fixtures/ingest   # every skipped file with its reason

    Example: elephant ingest --mlflow http://127.0.0.1:5000
    """
    from elephant.ingest.pipeline import ingest_paths

    with reporting(as_json):
        db = open_db(ctx)
        uri = mlflow_uri or (None if paths else db.settings.mlflow_uri)
        if uri:
            _ingest_mlflow(db, uri, paths or [], dry_run=dry_run, full=full, metric_map=metric_map,
                           experiments=experiments or None, as_json=as_json, verbose=verbose)
            return
        if not paths:
            raise UsageError("give a PATH to ingest, or --mlflow URI (or set ELEPHANT_MLFLOW_URI)")
        with phase_progress("ingest", enabled=not as_json and not quiet) as progress:
            report = ingest_paths(db, paths, dry_run=dry_run, prune=prune, progress=progress)
        data = report.to_dict()
        emit(data, as_json=as_json, human=lambda: _print_quiet(data) if quiet else _print_summary(data, verbose=verbose))
        if not report.ok:
            raise typer.Exit(1)


def _ingest_mlflow(db: Any, uri: str, paths: list[Path], *, dry_run: bool, full: bool, metric_map: Path | None,
                   experiments: list[str] | None, as_json: bool, verbose: bool) -> None:
    """MLflow first, then any PATHs given beside it; one exit status for both."""
    from elephant.ingest.mlflow_records import MetricMapping
    from elephant.ingest.mlflow_sync import import_mlflow
    from elephant.ingest.pipeline import ingest_paths

    report = import_mlflow(db, uri, full=full, dry_run=dry_run, mapping=MetricMapping.load(metric_map),
                           experiments=experiments)
    data = report.to_dict()
    files = ingest_paths(db, paths, dry_run=dry_run) if paths else None
    if files is not None:
        data["files"] = files.to_dict()
    emit(data, as_json=as_json, human=lambda: _print_mlflow_summary(data, verbose=verbose))
    if not report.ok or (files is not None and not files.ok):
        raise typer.Exit(1)


def _print_mlflow_summary(data: dict[str, Any], *, verbose: bool) -> None:
    c, m = data["counts"], data["mlflow"]
    prefix = "[yellow]dry run[/yellow]: would write " if data["dry_run"] else ""
    console.print(f"{prefix}MLflow {m['tracking_uri']}: {m['runs_listed']} runs and {m['models_listed']} registered "
                  f"models listed ({'full' if m['full'] else 'since ' + str(m['watermark_before'] or 'the start')}); "
                  f"{c['files_seen']} items seen, {c['files_unchanged']} unchanged, {c['files_skipped']} skipped, "
                  f"{c['files_failed']} failed")
    console.print(f"records: [green]{c['created']} created[/green], [yellow]{c['updated']} updated[/yellow], "
                  f"{c['unchanged']} unchanged")
    _print_skipped(data["skipped"], verbose=verbose)
    _print_failed(data["failed"])
    console.print(f"[dim]{data['timings_s']['total']:.2f}s; watermark now {m['watermark_after']}[/dim]")
    if "files" in data:
        _print_summary(data["files"], verbose=verbose)


def _print_quiet(data: dict[str, Any]) -> None:
    """``-q``: the counts on one line; only failures get a line of their own."""
    c = data["counts"]
    prefix = "dry run: would write " if data["dry_run"] else ""
    console.print(f"{prefix}{c['files_seen']} files ({c['files_unchanged']} unchanged, {c['files_skipped']} skipped, "
                  f"{c['files_failed']} failed): {c['created']} created, {c['updated']} updated, "
                  f"{c['unchanged']} unchanged, {c['deleted']} deleted in {data['timings_s']['total']:.1f}s",
                  markup=False)
    _print_failed(data["failed"])


def _print_summary(data: dict[str, Any], *, verbose: bool = False) -> None:
    c = data["counts"]
    prefix = "[yellow]dry run[/yellow]: would write " if data["dry_run"] else ""
    console.print(
        f"{prefix}{c['files_seen']} files seen ({c['files_unchanged']} unchanged, {c['files_parsed']} parsed, "
        f"{c['files_joined']} joined into MLPerf results, {c['files_skipped']} skipped, {c['files_failed']} failed)"
    )
    console.print(f"records: [green]{c['created']} created[/green], [yellow]{c['updated']} updated[/yellow], "
                  f"{c['unchanged']} unchanged, [red]{c['deleted']} deleted[/red]")
    _print_skipped(data["skipped"], verbose=verbose)
    _print_failed(data["failed"])
    t = data["timings_s"]
    console.print(f"[dim]{t['total']:.2f}s (parse {t['parse']:.2f}s, store {t['store']:.2f}s, "
                  f"index {t['index']:.2f}s)[/dim]")


def _print_failed(failed: list[dict[str, Any]]) -> None:
    """One line per failed file; a record file with several bad records or fields gets one line for each
    (``file:line: record KEY: field PATH: message``), as `elephant put` prints them."""
    for item in failed:
        path, reason = str(item["path"]), str(item["reason"])
        problems = reason.split(f"; {path}:")
        if len(problems) == 1:
            err_console.print(f"[red]failed[/red] {escape(path)}: {escape(reason)}")
            continue
        err_console.print(f"[red]failed[/red] {escape(path)}: {len(problems)} problems")
        for n, problem in enumerate(problems):
            err_console.print(f"  {escape(problem if n == 0 else path + ':' + problem)}")


def skipped_by_reason(skipped: list[dict[str, Any]]) -> dict[str, int]:
    """Skipped files counted by the general part of their reason ('not a result', 'provenance, not a record'),
    most frequent first: the part after the last ': ' (the rest names the particular file's detail)."""
    counts: dict[str, int] = {}
    for item in skipped:
        reason = str(item.get("reason") or "no reason given").rsplit(": ", 1)[-1]
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))


def _print_skipped(skipped: list[dict[str, Any]], *, verbose: bool) -> None:
    """Every skipped file with -v; otherwise one line of counts (a re-ingest of a corpus skips the same
    files every time, and 83 identical lines hid the one that mattered)."""
    if verbose:
        for item in skipped:
            console.print(f"[dim]skipped[/dim] {escape(item['path'])}: {escape(item['reason'])}")
        return
    if skipped:
        reasons = "; ".join(f"{n} {reason}" for reason, n in skipped_by_reason(skipped).items())
        console.print(f"[dim]skipped {len(skipped)}: {escape(reasons)} (-v lists them)[/dim]")
