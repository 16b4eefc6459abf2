"""Record commands: put, get, history, diff, revert, rm, export, import, stats."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from elephant.answers.write_notes import write_notes
from elephant.cli.formats import FORMAT_OPTION, Cell, Column, ListFormat, list_format, print_rows
from elephant.cli.output import JSON_OPTION, console, emit, err_console, open_db, reporting, to_json
from elephant.errors import ElephantError, FieldProblem, UsageError


def register(app: typer.Typer) -> None:
    for command in (put, get, history, diff, revert, rm, export, import_, stats):
        name = {"import_": "import"}.get(command.__name__, command.__name__)
        app.command(name=name)(command)


def put(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Record files: YAML/JSON (one record or `records: [...]`) "
                                       "or Markdown with YAML front matter; - reads them from stdin."),
    message: str = typer.Option("", "--message", "-m", help="Message stored with each new version."),
    expect: int | None = typer.Option(None, "--expect-version",
                                      help="Refuse the write unless the key's current version is this (one record)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write records from files. Valid records are written together; invalid ones are reported (exit 1).

    Example: elephant put fixtures/demo/ranker.yaml -m "after the INT8 run"

    Example: elephant new note --key team/hello --title "Hello" | elephant put -
    """
    with reporting(as_json):
        db = open_db(ctx)
        if expect is not None:
            from elephant.records.files import read_record_file

            items = [item for f in files for item in read_record_file(f, display=str(f))]
            if len(items) != 1:
                raise UsageError("--expect-version needs exactly one record")
            result = db.put(items[0], expected_version=expect, message=message)
            written = [result]
            data: dict[str, Any] = {"ok": True, "counts": {result.status: 1}, "results": [result.to_dict()],
                                    "problems": []}
        else:
            report = _put_stdin(db, files, message=message) if any(str(f) == "-" for f in files) else \
                db.put_files(files, message=message)
            written = report.results
            data = report.to_dict()
        notes = write_notes(db.store, written)
        data.update(notes.to_dict())

        def human() -> None:
            for r in data["results"]:
                mark = {"unchanged": "[dim]=[/dim]", "created": "[green]+[/green]"}.get(r["status"], "[yellow]~[/yellow]")
                console.print(f"{mark} {escape(r['key'])}@{r['version']} {r['status']}")
            for found in notes.regressions:  # on stdout: part of what the write did (docs/ci.md greps it)
                console.print(f"[yellow]regression:[/yellow] {escape(found.benchmark)}: {escape(found.message)} "
                              f"[dim](finding {escape(found.finding)})[/dim]")
            for warning in notes.warnings:
                err_console.print(f"[yellow]warning:[/yellow] record {escape(warning.key)}: field {warning.field}: "
                                  f"{escape(warning.message)}")
            for p in data["problems"]:
                problem = FieldProblem(field=p["field"], message=p["message"], file=p["file"], key=p["key"],
                                       line=p.get("line"))
                err_console.print(f"[red]error:[/red] {escape(problem.describe())}")
            c = data["counts"]
            console.print(f"{c.get('created', 0)} created, {c.get('updated', 0)} updated, "
                          f"{c.get('unchanged', 0)} unchanged, {c.get('failed', 0)} failed")

        emit(data, as_json=as_json, human=human)
        if data["problems"]:
            raise typer.Exit(1)


def get(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Record key, e.g. ranker/int8-dynamic-2026-03."),
    version: int | None = typer.Option(None, "--version", "-v", help="Read this version."),
    as_of: str | None = typer.Option(None, "--as-of", help="Read what Elephant knew at this time (ISO-8601)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read a record: the current version, a given version, or as of a time.

    --as-of is transaction time (when Elephant recorded a version, see `history`), not occurred_at.

    Example: elephant get ranker/int8-dynamic-2026-03 --as-of 2026-11-26T09:00:00Z
    """
    with reporting(as_json):
        if version is not None and version < 1:
            raise UsageError("--version must be 1 or more")
        stored = open_db(ctx).get(key, version=version, as_of=as_of)
        data = stored.to_dict()

        def human() -> None:
            state = " [red](deleted)[/red]" if stored.is_deleted else ""
            console.print(f"[bold]{escape(stored.key)}[/bold]@{stored.version}{state}  {stored.kind}  "
                          f"recorded {stored.recorded_at}")
            import yaml

            shown = {k: v for k, v in stored.envelope.items() if k not in {"key"}}
            console.print(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True).rstrip(), markup=False)

        emit(data, as_json=as_json, human=human)


def history(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Record key."),
    fmt: ListFormat | None = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List every version of a record, oldest first.

    recorded_at is what `get --as-of` takes; the hash is the first 12 hex digits in a table (whole in TSV/CSV).

    Example: elephant history ranker/int8-dynamic-2026-03 --json
    """
    shape = list_format(fmt, as_json=as_json)
    as_json = shape is ListFormat.json
    with reporting(as_json):
        versions = open_db(ctx).history(key)
        data = {"key": key, "versions": [v.to_dict() for v in versions]}

        def human() -> None:
            short = shape is ListFormat.table
            rows: list[list[Cell]] = [
                [str(v.version), v.recorded_at, "deleted" if v.is_deleted else "", v.author or "-",
                 v.content_hash[:12] if short else v.content_hash, v.title, v.message]
                for v in versions]
            print_rows(HISTORY_COLUMNS, rows, shape, console)

        emit(data, as_json=as_json, human=human)


HISTORY_COLUMNS = (
    Column("v", right=True), Column("recorded_at"), Column("status", below=2), Column("author", below=1),
    Column("hash"), Column("title", flex=True, min_width=12), Column("message", flex=True, min_width=8),
)


def diff(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Record key."),
    from_version: int = typer.Argument(..., metavar="A", help="Version to compare from."),
    to_version: int = typer.Argument(..., metavar="B", help="Version to compare to."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show field-level changes between two versions.

    Example: elephant diff ranker/int8-dynamic-2026-03 1 3
    """
    with reporting(as_json):
        result = open_db(ctx).diff(key, from_version, to_version)

        def human() -> None:
            console.print(f"[bold]{escape(key)}[/bold] v{from_version} → v{to_version}: {len(result.changes)} change(s)")
            for c in result.changes:
                if c.change == "added":
                    console.print(f"  [green]+ {escape(c.path)}[/green]: {escape(repr(c.after))}", markup=True)
                elif c.change == "removed":
                    console.print(f"  [red]- {escape(c.path)}[/red]: {escape(repr(c.before))}", markup=True)
                else:
                    console.print(f"  [yellow]~ {escape(c.path)}[/yellow]: {escape(repr(c.before))} → {escape(repr(c.after))}",
                                  markup=True)

        emit(result.to_dict(), as_json=as_json, human=human)


def _write_result(result: Any, as_json: bool) -> None:
    emit(result.to_dict(), as_json=as_json,
         human=lambda: console.print(f"{escape(result.key)}@{result.version} {result.status}"))


def revert(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Record key."),
    version: int = typer.Argument(..., metavar="N", help="Version whose content becomes current again."),
    message: str = typer.Option("", "--message", "-m", help="Message stored with the new version."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a new version equal to version N (history is kept).

    Example: elephant revert ranker/int8-dynamic-2026-03 1 -m "INT8 rolled back"
    """
    with reporting(as_json):
        db = open_db(ctx)
        result = db.revert(key, version, message=message)
        _write_result(result, as_json)


def rm(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Record key."),
    message: str = typer.Option("", "--message", "-m", help="Why it was deleted."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a record by writing a tombstone version; its history stays readable.

    Example: elephant rm ranker/obsolete-note -m "duplicate"
    """
    with reporting(as_json):
        db = open_db(ctx)
        result = db.delete(key, message=message)
        _write_result(result, as_json)


def export(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="Output JSON Lines file, or - for stdout."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Export every version of every record as JSON Lines.

    Example: elephant export backup.jsonl
    """
    with reporting(as_json):
        db = open_db(ctx)
        if file == "-":
            counts = db.export(sys.stdout)
            return
        target = Path(file)
        tmp = target.with_name(target.name + ".partial")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                counts = db.export(out)
            tmp.replace(target)  # a crash never leaves a truncated export under the real name
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ElephantError(f"{file}: cannot write export: {exc.strerror}") from exc
        data = {"file": str(target), **counts}
        emit(data, as_json=as_json,
             human=lambda: console.print(f"exported {counts['versions']} versions of {counts['keys']} keys to {escape(str(file))}"))


def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A JSON Lines file written by `elephant export`."),
    skip_existing: bool = typer.Option(False, "--skip-existing",
                                       help="Leave keys that already exist with another history alone "
                                       "instead of refusing the whole import."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import a full history (versions, hashes, recorded_at, tombstones) in one transaction.

    Example: elephant --home /tmp/copy import backup.jsonl
    """
    with reporting(as_json):
        if not file.is_file():
            raise ElephantError(f"{file}: no such file")
        db = open_db(ctx)
        try:
            with file.open(encoding="utf-8") as lines:
                report = db.import_(lines, name=str(file), on_conflict="skip" if skip_existing else "refuse")
        except UnicodeDecodeError as exc:
            raise ElephantError(f"{file}: not valid UTF-8 (byte {exc.start})") from exc
        emit(report, as_json=as_json, human=lambda: console.print(
            f"imported {report['imported']} keys ({report['versions']} versions in file); "
            f"{report['identical']} identical, {report['skipped']} skipped"))


def stats(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Count live records per kind, deleted keys and versions.

    Example: elephant stats --json
    """
    with reporting(as_json):
        counts = open_db(ctx).counts()

        def human() -> None:
            table = Table("kind", "records")
            for k, v in sorted(counts.items()):
                if not k.startswith("_"):
                    table.add_row(k, str(v))
            console.print(table)
            console.print(f"{counts['_records']} live records, {counts['_deleted']} deleted, "
                          f"{counts['_versions']} versions")

        emit(counts, as_json=as_json, human=human)


STDIN_NAME = "<stdin>"


def _put_stdin(db: Any, files: list[Path], *, message: str) -> Any:
    """``put -``: the records of one YAML, JSON or front-matter Markdown text read from stdin."""
    from elephant.records.files import MAX_RECORD_FILE_BYTES, parse_record_text, split_front_matter

    if len(files) != 1:
        raise UsageError("`put -` reads the records from stdin alone; give the files in another call")
    raw = sys.stdin.buffer.read(MAX_RECORD_FILE_BYTES + 1)
    if len(raw) > MAX_RECORD_FILE_BYTES:
        raise ElephantError(f"{STDIN_NAME}: more than {MAX_RECORD_FILE_BYTES} bytes; record files are limited to that")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ElephantError(f"{STDIN_NAME}: not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise ElephantError(f"{STDIN_NAME}: no records on stdin")
    front = split_front_matter(text)
    name = STDIN_NAME + (".md" if front is not None and front[1].strip() else "")
    items = parse_record_text(text, name=name)
    return db.put_many(items, message=message, file=STDIN_NAME)


__all__ = ["register", "to_json"]
