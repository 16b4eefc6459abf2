"""Search commands: `elephant search` (hybrid, with structured filters) and `elephant reindex`."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from elephant.cli.formats import FORMAT_OPTION, Cell, Column, ListFormat, list_format, print_rows
from elephant.cli.output import JSON_OPTION, console, emit, err_console, open_db, reporting
from elephant.cli.progress import phase_progress


def register(app: typer.Typer) -> None:
    app.command(name="search")(search)
    app.command(name="reindex")(reindex)
    app.command(name="status")(status)
    app.command(name="doctor")(doctor)


def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Free text: words, model names, exact terms such as 'int8' or 'p99'."),
    kind: list[str] = typer.Option([], "--kind", help="Only these kinds (repeatable)."),
    model: list[str] = typer.Option([], "--model", help="Only records about these models (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="Only records carrying every one of these tags (repeatable)."),
    since: str | None = typer.Option(None, "--since", help="occurred_at on or after this date/time."),
    until: str | None = typer.Option(None, "--until", help="occurred_at up to this date (inclusive) or time."),
    where: list[str] = typer.Option([], "--where", help="Field condition, e.g. 'latency_ms.p99<40' or "
                                    "'outcome=rolled_back' (repeatable; all must hold)."),
    k: int = typer.Option(10, "-k", "--limit", min=1, max=1000, help="How many results."),
    fmt: ListFormat | None = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Hybrid search (dense + lexical) over the current version of every record.

    Each row shows the record's own figures (p99, qps, accuracy, outcome ...) beside its key@version.

    Example: elephant search "int8 quantization" --model ranker --where 'result.latency_ms_p99<30' -k 5

    Example: elephant search "p99" --kind benchmark --format csv > hits.csv
    """
    shape = list_format(fmt, as_json=as_json)
    as_json = shape is ListFormat.json
    with reporting(as_json):
        db = open_db(ctx)
        response = db.search(query, kind=kind or None, model=model or None, tags=tag or None, since=since,
                             until=until, where=where or None, k=k)
        data = response.to_dict()

        parked, jobs = db.indexer.parked(limit=3)

        def human() -> None:
            if response.degraded:
                err_console.print(f"[yellow]degraded:[/yellow] lexical results only — {escape(str(response.reason))}")
            if parked:  # those records are stored but in no index: this search cannot find them
                named = ", ".join(f"{job['key']} v{job['version']}" for job in jobs) + (" ..." if parked > len(jobs) else "")
                err_console.print(f"[yellow]{parked} index job(s) parked[/yellow] ({escape(named)}): those records "
                                  "cannot be found until indexed; see `elephant status`")
            if not response.results:
                (console if shape is ListFormat.table else err_console).print("no results")
                if shape is ListFormat.table:
                    return
            print_rows(SEARCH_COLUMNS, search_rows(db, response.results), shape, console)

        emit(data, as_json=as_json, human=human)


SEARCH_COLUMNS = (
    Column("key@version"), Column("kind", below=1), Column("model", below=2), Column("date"),
    Column("outcome", below=3),
    Column("title", flex=True, min_width=16), Column("figures", flex=True, min_width=16, grow=2),
    Column("score", optional=True, right=True),
)


def search_rows(db: Any, hits: list[Any]) -> list[list[Cell]]:
    """One row per hit, with the outcome and headline figures its kind's module gives (``elephant.kinds``)."""
    from elephant.kinds.render import headline_of, outcome_of

    current = db.store.current_many([hit.key for hit in hits])
    rows: list[list[Cell]] = []
    for hit in hits:
        stored = current.get(hit.key)
        fields = (stored.envelope.get("fields") or {}) if stored is not None else {}
        rows.append([hit.citation, hit.kind, hit.model or "-", (hit.occurred_at or "")[:10] or "-",
                     outcome_of(hit.kind, fields) or "", hit.title, tuple(headline_of(hit.kind, fields)),
                     f"{hit.score:.4f}"])
    return rows


def reindex(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Rebuild the lexical and vector indexes from the SQL store with the configured embedder.

    Needed after changing ELEPHANT_MODEL (the index refuses queries from another embedder).
    Example: elephant reindex --json
    """
    with reporting(as_json):
        db = open_db(ctx)
        with phase_progress("reindex", enabled=not as_json) as progress:
            report = db.reindex(progress=lambda phase, done, total: progress(phase, done, total, ""))
        data = {"ok": True, "indexed": report.applied, "pending": report.pending,
                "seconds": round(report.seconds, 3)}

        def human() -> None:
            console.print(f"reindexed {report.applied} records in {report.seconds:.1f} s")
            if report.pending:  # e.g. a record the indexer cannot take: retried, then parked
                err_console.print(f"[yellow]{report.pending} index job(s) still pending:[/yellow] their records are "
                                  "stored but not searchable yet; see `elephant status` for the reasons")

        emit(data, as_json=as_json, human=human)


def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The store and its indexes: live records per kind, index jobs pending and parked (with reasons).

    Exit code 1 when index jobs are parked: those records are stored but not searchable.
    Example: elephant status --json
    """
    with reporting(as_json):
        db = open_db(ctx)
        db.process_outbox()
        index = db.index_status()
        data = {"ok": not index["parked"], "records": db.counts(), **index}

        def human() -> None:
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(data["records"].items()) if not kind.startswith("_"))
            console.print(f"records: {counts or 'none'}")
            console.print(f"index jobs pending: {index['pending']}"
                          + (f" (last error: {escape(index['last_error'])})" if index["last_error"] else ""))
            console.print(f"index jobs parked: {index['parked']}")
            for job in index["parked_jobs"]:
                console.print(f"  {escape(job['key'])} v{job['version']} after {job['attempts']} attempts "
                              f"({job['parked_at']}): {escape(job['reason'])}")
            if index["parked"]:
                err_console.print("[yellow]parked records are stored but not searchable:[/yellow] fix and write "
                                  "them again, or run `elephant reindex` once the cause is gone")

        emit(data, as_json=as_json, human=human)
    if index["parked"]:
        raise typer.Exit(1)


def doctor(
    ctx: typer.Context,
    skip_model: bool = typer.Option(False, "--skip-model", help="Do not hash the model files."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check the store against its indexes and say how to repair what is wrong.

    Verifies that every live record is in the lexical and the vector index at its head version, that
    the vector index holds exactly the vectors the store counts, that no index job is parked or stuck,
    and that every model file matches its manifest sha256. Exit code 1 when anything is wrong.
    Example: elephant doctor --json
    """
    from elephant.retrieval.doctor import check_store

    with reporting(as_json):
        report = check_store(open_db(ctx), verify_model=not skip_model)
        data = report.to_dict()

        def human() -> None:
            for check, state in report.checks.items():
                mark = "[green]ok[/green]" if state.startswith("ok") else "[red]problem[/red]"
                console.print(f"{mark}  {check}: {escape(state)}")
            counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.counts.items())
            console.print(f"[dim]{escape(counts)}[/dim]")
            for problem in report.problems:
                err_console.print(f"[yellow]repair ({problem.check}):[/yellow] {escape(problem.repair)}")
            console.print("all checks passed" if report.ok else f"{len(report.problems)} problem(s) found")

        emit(data, as_json=as_json, human=human)
    if not report.ok:
        raise typer.Exit(1)
