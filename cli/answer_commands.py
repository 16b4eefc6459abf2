"""Answer commands: `elephant ask`, `elephant brief`, `elephant regressions` (and `regressions resolve`)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from elephant.cli.formats import (
    ANSWER_FORMAT_OPTION,
    FORMAT_OPTION,
    PLAIN_OPTION,
    AnswerFormat,
    Cell,
    Column,
    ListFormat,
    answer_is_json,
    list_format,
    print_markdown,
    print_rows,
)
from elephant.cli.output import JSON_OPTION, console, emit, err_console, open_db, reporting

regressions_app = typer.Typer(
    name="regressions",
    help="Regression findings: benchmarks worse than the previous one of the same model, hardware and scenario.\n\n"
    "Example: elephant regressions --model ranker --status all --json",
    invoke_without_command=True,
    no_args_is_help=False,
)


def register(app: typer.Typer) -> None:
    app.command(name="ask")(ask)
    app.command(name="brief")(brief)
    app.add_typer(regressions_app)


def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="A question in words, e.g. \"did we try INT8 on the ranker?\""),
    model: str | None = typer.Option(None, "--model", help="Only this model (else taken from the question)."),
    k: int = typer.Option(10, "-k", "--limit", min=1, max=100, help="At most this many attempts."),
    explain: bool = typer.Option(False, "--explain", help="Print the query plan (subjects, answer kind, time, "
                                 "superlative, comparison) before the answer."),
    fmt: AnswerFormat | None = ANSWER_FORMAT_OPTION,
    plain: bool = PLAIN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """What did we try last time? Attempts newest first, with outcomes, metric deltas and citations.

    The question becomes a typed query plan first (no LLM); --explain prints it, --json includes it as "plan".

    On a terminal the Markdown answer is rendered; piped, or with --plain / --format markdown, it is printed as is.

    Example: elephant ask "what did we try last time to make the ranker faster?"
    """
    as_json = answer_is_json(fmt, as_json=as_json)
    plain = plain or fmt is AnswerFormat.markdown
    with reporting(as_json):
        db = open_db(ctx)
        response = db.ask(question, model=model, k=k)

        def human() -> None:
            if response.degraded:
                err_console.print(f"[yellow]degraded:[/yellow] {escape(str(response.reason))}")
            if explain:
                console.print("Plan:\n" + response.explanation + "\n", markup=False)
            print_markdown(response.answer, plain=plain)

        data = response.to_dict()
        if not response.found:
            data["home"] = str(db.home)  # "nothing in memory" names which memory (docs/design.md §5)
        emit(data, as_json=as_json, human=human)
        if not response.found and not as_json:
            _name_the_home(db)


def _name_the_home(db: object) -> None:
    """After an answer that found nothing: which home was searched and how much it holds."""
    live = db.counts()["_records"]  # type: ignore[attr-defined]
    home = db.home  # type: ignore[attr-defined]
    err_console.print(f"[dim]searched the memory at {escape(str(home))} ({live} live records; "
                      f"`elephant info` shows it, --home or ELEPHANT_HOME chooses another)[/dim]")


def brief(
    ctx: typer.Context,
    model: str | None = typer.Argument(None, help="One model; the models that need attention when left out."),
    at: str | None = typer.Option(None, "--at", metavar="T",
                                  help="Valid time: the brief as it stood in the world at this date or datetime "
                                       "(by occurred_at). `get --as-of` is the other axis: what Elephant knew."),
    budget: int | None = typer.Option(None, "--budget", metavar="TOKENS",
                                      help="Token budget of the brief (default 2000), counted with the embedding "
                                           "model's tokenizer."),
    all_models: bool = typer.Option(False, "--all", help="Every model, not only those that need attention."),
    fmt: AnswerFormat | None = ANSWER_FORMAT_OPTION,
    plain: bool = PLAIN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Startup brief: the models that need attention (open regressions and incidents, in-progress attempts,
    rolled-back deployments), each with serving config, latest percentiles and last deployment.

    Example: elephant brief
    Example: elephant brief ranker
    Example: elephant brief --all --budget 8000
    Example: elephant brief ranker --at 2025-09-10

    Example: elephant brief ranker --plain > brief.md   # the Markdown source (the default when piped)
    """
    as_json = answer_is_json(fmt, as_json=as_json)
    plain = plain or fmt is AnswerFormat.markdown
    with reporting(as_json):
        db = open_db(ctx)
        result = db.brief(model, at=at, budget=budget, all_models=all_models)

        def human() -> None:
            print_markdown(result.markdown(), plain=plain)

        emit(result.to_dict(), as_json=as_json, human=human)
        if model is None and not as_json and not db.counts()["_records"]:
            _name_the_home(db)  # "Nothing in memory yet" says which memory


@regressions_app.callback()
def regressions(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", help="Only this model."),
    status: str = typer.Option("open", "--status", help="open, resolved or all."),
    fmt: ListFormat | None = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List regression findings, newest first (default: the open ones)."""
    if ctx.invoked_subcommand is not None:
        return
    shape = list_format(fmt, as_json=as_json)
    as_json = shape is ListFormat.json
    with reporting(as_json):
        db = open_db(ctx)
        findings = db.regressions(model=model, status=status)
        data = {"regressions": [f.to_dict() for f in findings]}

        def human() -> None:
            if not findings:
                (console if shape is ListFormat.table else err_console).print(
                    f"no {'' if status == 'all' else status + ' '}regressions")
                if shape is ListFormat.table:
                    return
            print_rows(REGRESSION_COLUMNS, [regression_row(f.to_dict()) for f in findings], shape, console)

        emit(data, as_json=as_json, human=human)


REGRESSION_COLUMNS = (
    Column("finding"), Column("status", below=2), Column("date"), Column("model", below=3),
    Column("baseline", below=1), Column("setup", flex=True, min_width=10),
    Column("worse", flex=True, min_width=24, grow=3),
)


def regression_row(item: dict[str, Any]) -> list[Cell]:
    """A finding's row: what got worse, formatted by the regression kind's own figures."""
    from elephant.kinds.render import figures_of

    setup = ", ".join(str(item[name]) for name in ("hardware", "scenario") if item.get(name))
    return [item["citation"], item["status"], str(item["occurred_at"] or "")[:10] or "-", item.get("model") or "-",
            item.get("baseline") or "-", setup, tuple(figures_of("regression", {"metrics": item.get("metrics")}))]


@regressions_app.command("resolve")
def resolve(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The finding's key, e.g. regression/ranker/bench/2026-03-01."),
    note: str = typer.Option("", "--note", "-m", help="Why it is resolved (kept in the new version)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Mark a regression finding resolved (a new version; the history keeps the open one).

    Example: elephant regressions resolve regression/ranker/bench/2026-03-01 -m "noisy neighbour, rerun clean"
    """
    with reporting(as_json):
        db = open_db(ctx)
        result = db.resolve_regression(key, note=note)
        emit(result.to_dict(), as_json=as_json,
             human=lambda: console.print(f"{escape(result.key)}@{result.version} {result.status} (resolved)"))
