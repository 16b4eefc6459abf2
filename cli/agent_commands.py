"""Agent commands: context packs, prompt templates and the MCP server over stdio."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from elephant.cli.output import JSON_OPTION, emit, err_console, open_db, reporting, require_extra
from elephant.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command(name="context")(context)
    app.command(name="prompt")(prompt)
    app.command(name="mcp")(mcp)


def context(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What the agent is about to work on."),
    budget: int = typer.Option(500, "--budget", "-b", help="Token budget, counted with the embedding model's "
                               "tokenizer."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only records about this model."),
    as_json: bool = JSON_OPTION,
) -> None:
    """A Markdown block for an agent's prompt that fits BUDGET tokens, each fact cited key@version.

    Example: elephant context "INT8 quantization" --budget 300 --model ranker
    """
    with reporting(as_json):
        pack = open_db(ctx).context(query, budget=budget, model=model)
        data = pack.to_dict()

        def human() -> None:
            sys.stdout.write(pack.context + "\n")
            note = f"{pack.tokens}/{pack.budget} tokens ({pack.tokenizer}), {len(pack.citations)} fact(s)"
            if pack.truncated:
                note += ", truncated to fit"
            if pack.degraded:
                note += f", degraded: {pack.reason}" if pack.reason else ", degraded"
            err_console.print(f"[dim]{escape(note)}[/dim]")

        emit(data, as_json=as_json, human=human)


def prompt(
    ctx: typer.Context,
    template: Path = typer.Argument(..., help="Markdown template with {{ elephant.* }} placeholders; - for stdin."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Expand {{ elephant.brief "MODEL" }}, {{ elephant.context "QUERY" budget=N }}, {{ elephant.ask "..." }},
    {{ elephant.search "..." k=N }} and {{ elephant.history "KEY" }} with current memory.

    Example: elephant prompt SOUL.md > /tmp/system-prompt.md
    """
    from elephant.answers.prompting import expand_template

    with reporting(as_json):
        name = str(template)
        if name == "-":
            text = sys.stdin.read()
            name = "<stdin>"
        else:
            try:
                text = template.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise UsageError(f"{template}: no such file") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{template}: cannot read the template: {exc}") from None
        expanded = expand_template(open_db(ctx), text, name=name)
        data = {"template": name, **expanded.to_dict()}

        def human() -> None:
            sys.stdout.write(expanded.text)

        emit(data, as_json=as_json, human=human)


def mcp(ctx: typer.Context) -> None:
    """Serve Elephant's MCP tools (remember, recall, ask, get, history, diff, regressions, brief, context) over stdio.

    Point an MCP client at it, e.g. {"command": "elephant", "args": ["mcp"]}. Over HTTP, the same tools
    are served by `elephant serve` at /mcp.

    Example: elephant --home ~/.elephant mcp
    """
    require_extra("server", command="mcp")
    from elephant.api.mcp_server import run_stdio

    with reporting(False):
        db = open_db(ctx)
        try:
            run_stdio(db)
        finally:
            db.close()
