"""The `elephant` command: thin shells over the library, one module per area."""

from __future__ import annotations

from pathlib import Path

import typer

from elephant.cli import (
    agent_commands,
    answer_commands,
    api_commands,
    home_commands,
    ingest_commands,
    model_commands,
    record_commands,
    search_commands,
)

app = typer.Typer(
    name="elephant",
    help="Elephant: the memory of an ML engineering team — typed, versioned records of serving configs, "
    "benchmarks, optimizations, deployments and incidents, searchable in milliseconds.\n\n"
    "Example: elephant init && elephant put fixtures/demo/ranker.yaml && elephant ls\n\n"
    "Example: elephant ask \"did we try INT8 on the ranker?\"\n\n"
    "The home is --home / ELEPHANT_HOME, else the nearest .elephant from here up, else "
    "~/.local/share/elephant (`elephant info` names it). Exit codes: 0 ok, 1 failed, 2 misuse.",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("elephant-memory")
        except PackageNotFoundError:  # run from a checkout that is not installed
            number = "unknown"
        typer.echo(f"elephant {number}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    _show_version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="Print the version and exit."),
    home: Path | None = typer.Option(None, "--home", envvar="ELEPHANT_HOME",
                                     help="Elephant home directory [default: the nearest .elephant from here "
                                     "up, else ~/.local/share/elephant]."),
    database_url: str | None = typer.Option(None, "--database-url", envvar="ELEPHANT_DATABASE_URL",
                                            help="SQLAlchemy URL (default: SQLite in the home)."),
    chroma_url: str | None = typer.Option(None, "--chroma-url", envvar="ELEPHANT_CHROMA_URL",
                                          help="Chroma server URL (default: embedded in the home)."),
    model: str | None = typer.Option(None, "--model-variant", envvar="ELEPHANT_MODEL",
                                     help="Embedding variant: int8, fp32 or a model directory."),
) -> None:
    """Global options mirror the ELEPHANT_* settings."""
    overrides = {"home": home, "database_url": database_url, "chroma_url": chroma_url, "model": model}
    ctx.obj = {"overrides": {k: v for k, v in overrides.items() if v is not None}}


for _area in (home_commands, record_commands, model_commands, ingest_commands, search_commands, answer_commands,
              agent_commands, api_commands):
    _area.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
