"""What every command shares: opening the home from global options, --json vs human output, and
mapping domain errors to exit codes (0 ok, 1 failure, 2 misuse) without tracebacks."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from elephant.errors import ElephantError, InvalidRecord
from elephant.settings import Settings, settings_for

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def settings_from(ctx: typer.Context) -> Settings:
    """Settings from the environment overridden by the global options given before the command."""
    root = ctx.find_root()
    options: dict[str, Any] = dict(root.obj or {}) if isinstance(root.obj, dict) else {}
    if "settings" not in options:
        try:
            options["settings"] = settings_for(**options.get("overrides", {}))
        except Exception as exc:  # pydantic ValidationError on a bad ELEPHANT_* value
            fail(ElephantError(f"bad configuration: {exc}"), as_json=False, code=2)
        if isinstance(root.obj, dict):
            root.obj["settings"] = options["settings"]
    settings: Settings = options["settings"]
    return settings


def open_db(ctx: typer.Context) -> Any:
    """Open the Elephant home for this invocation (closed when the process exits)."""
    import elephant

    return elephant.open(settings=settings_from(ctx))


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def emit(data: Any, *, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``data`` as JSON (stable field names) or call ``human`` for readable output."""
    if as_json:
        sys.stdout.write(to_json(data) + "\n")
    else:
        human()


def fail(err: ElephantError, *, as_json: bool, code: int | None = None) -> NoReturn:
    """Report a domain error (JSON on stdout with --json, a message on stderr otherwise) and exit."""
    exit_code = code if code is not None else err.exit_code
    if as_json:
        sys.stdout.write(to_json({"ok": False, **err.to_dict()}) + "\n")
    elif isinstance(err, InvalidRecord):
        for problem in err.problems:
            err_console.print(f"[red]error:[/red] {escape(problem.describe())}", markup=True)
    else:
        err_console.print(f"[red]error:[/red] {escape(err.message)}", markup=True)
    raise typer.Exit(exit_code)


@contextmanager
def reporting(as_json: bool) -> Iterator[None]:
    """Run a command body, turning ElephantError into a clean message and exit code."""
    try:
        yield
    except ElephantError as err:
        fail(err, as_json=as_json)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None


# The packages each optional extra brings (pyproject's [project.optional-dependencies]).
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "uvicorn", "multipart", "prometheus_client", "mcp", "jinja2", "markdown_it"),
}
DISTRIBUTION = "elephant-memory"


def require_extra(extra: str, *, command: str) -> None:
    """Exit with code 2 and the install line when ``command`` needs an extra that is not installed."""
    import importlib.util

    def is_missing(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except ImportError:  # a broken or blocked install counts as missing
            return True

    missing = [name for name in EXTRAS[extra] if is_missing(name)]
    if missing:
        fail(ElephantError(f"`elephant {command}` needs the [{extra}] extra (missing: {', '.join(missing)}); "
                           f"install it with: pip install '{DISTRIBUTION}[{extra}]'"), as_json=False, code=2)


JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON (stable field names).")
