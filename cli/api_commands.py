"""REST server commands: ``serve`` and API key management (``keys create|list|revoke``)."""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Iterator

import typer
from rich.markup import escape
from rich.table import Table

from elephant.cli.output import (
    JSON_OPTION,
    console,
    emit,
    err_console,
    open_db,
    reporting,
    require_extra,
    settings_from,
)
from elephant.settings import get_settings

# Default worker processes: one per core, up to this many (each holds its own model; the chunk vectors
# are mapped from one file per host, docs/design.md §7.1).
MAX_DEFAULT_WORKERS = 4

keys_app = typer.Typer(help="API keys for `elephant serve` (scopes: read, write, admin).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)
    app.add_typer(keys_app, name="keys")


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    workers: int = typer.Option(0, "--workers", min=0, max=64, show_default=False,
                                help="Worker processes [default: one per core, at most 4]."),
    log_level: str = typer.Option("info", "--log-level", help="critical, error, warning, info or debug."),
    insecure: bool = typer.Option(False, "--insecure",
                                  help="Serve beyond loopback although no API key exists (anyone who can "
                                       "reach the port can read and write)."),
) -> None:
    """Serve the REST API (/v1), /healthz, /readyz, /metrics and MCP at /mcp.

    With no API key the server is open, so it binds beyond loopback (e.g. --host 0.0.0.0) only
    once a key exists, or with --insecure; on loopback a keyless server refuses browsers' cross-site
    writes and foreign Host names (DNS rebinding; more names in ELEPHANT_ALLOWED_HOSTS).

    Each worker is a process with its own model and caches; the chunk vectors are one file per host
    that every worker maps. Requests are spread over them by the kernel, and /metrics adds up all of them.

    Example: elephant keys create --scope admin --name ops && elephant serve --port 8000

    Example: elephant serve --host 0.0.0.0 --port 8000 --workers 2
    """
    import copy
    import tempfile

    require_extra("server", command="serve")
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    settings = settings_from(ctx)
    if not _is_loopback(host):
        _refuse_open_bind(ctx, host, insecure=insecure)
    _check_port_free(host, port)
    cores = os.cpu_count() or 1
    workers = workers or min(cores, MAX_DEFAULT_WORKERS)
    if settings.embed_threads is None and "ELEPHANT_EMBED_THREADS" not in os.environ:
        # Workers share the cores: onnxruntime threads beyond a worker's share only contend.
        os.environ["ELEPHANT_EMBED_THREADS"] = str(max(1, cores // workers))
    # Workers are separate processes that build their own app from the environment: hand the
    # resolved settings over as ELEPHANT_* variables.
    os.environ["ELEPHANT_HOME"] = str(settings.resolved_home)
    for name in ("database_url", "chroma_url", "model", "model_dir"):
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"ELEPHANT_{name.upper()}"] = str(value)
    # uvicorn applies log_config in every worker process; Elephant's loggers (the JSON access log
    # among them) join its config. uvicorn's own access log is off: ours is structured, never
    # carries secrets, and would be duplicated.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["formatters"]["elephant"] = {"format": "%(message)s"}
    log_config["handlers"]["elephant"] = {"class": "logging.StreamHandler", "formatter": "elephant",
                                          "stream": "ext://sys.stderr"}
    log_config["loggers"]["elephant"] = {"handlers": ["elephant"], "level": log_level.upper(), "propagate": False}
    get_settings.cache_clear()  # a single worker runs in this process: it must see the variables above
    with contextlib.ExitStack() as stack:
        if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # Each worker writes its counters here and /metrics, answered by any one of them, sums them.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="elephant-metrics-"))
        if workers > 1:
            stack.enter_context(_workers_skip_the_cli())
        uvicorn.run("elephant.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, log_config=log_config, access_log=False, proxy_headers=False,
                    server_header=False)


def _refuse_open_bind(ctx: typer.Context, host: str, *, insecure: bool) -> None:
    """A bind beyond loopback with no API key: refused (exit 2), or with --insecure a loud warning."""
    from elephant.errors import UsageError
    from elephant.storage.apikeys import ApiKeys

    with reporting(False):
        db = open_db(ctx)
        try:
            keyed = ApiKeys(db.store).is_required()
        finally:
            db.close()
        if not keyed and not insecure:
            raise UsageError(f"refusing to serve on {host} with no API key: anyone who can reach the port could "
                             "read and write. Create a key first (elephant keys create --scope admin --name ops) "
                             "or pass --insecure to serve open anyway")
    if not keyed:
        err_console.print(f"[bold red]warning:[/bold red] serving on {escape(host)} with no API key (--insecure): "
                          "anyone who can reach the port can read and write")


def _is_loopback(host: str) -> bool:
    """Whether ``--host`` listens on loopback only (a name other than localhost may resolve anywhere)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    scope: str = typer.Option(..., "--scope", help="read, write or admin."),
    name: str = typer.Option("", "--name", help="A name for the key's owner (used as the version author)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an API key and print it once; only its hash is stored. From now on the server needs a key.

    Example: elephant keys create --scope write --name ci --json
    """
    from elephant.storage.apikeys import ApiKeys

    with reporting(as_json):
        created = ApiKeys(open_db(ctx).store).create(scope=scope, name=name)

        def human() -> None:
            console.print(f"created {created.info.scope} key {created.info.id}"
                          + (f" ({escape(created.info.name)})" if created.info.name else ""))
            console.print(created.key)
            console.print("[dim]store it now: it is not shown again[/dim]")

        emit({"key": created.key, **created.info.to_dict()}, as_json=as_json, human=human)


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    active: bool = typer.Option(False, "--active", help="Only keys that are not revoked."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List API keys (ids, names, scopes, dates; never secrets).

    Example: elephant keys list --json
    """
    from elephant.storage.apikeys import ApiKeys

    with reporting(as_json):
        keys = ApiKeys(open_db(ctx).store).list_keys(include_revoked=not active)

        def human() -> None:
            if not keys:
                console.print("no API keys: the server is open to anyone who can reach it")
                return
            table = Table("id", "name", "scope", "created", "last used", "revoked")
            for k in keys:
                table.add_row(k.id, escape(k.name), k.scope, k.created_at[:19], (k.last_used_at or "")[:19],
                              (k.revoked_at or "")[:19])
            console.print(table)

        emit({"keys": [k.to_dict() for k in keys]}, as_json=as_json, human=human)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument(..., help="The key's id (from `elephant keys list`)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke an API key; requests with it fail from now on (the server stays locked).

    Example: elephant keys revoke 3f9a1c2b7d4e
    """
    from elephant.storage.apikeys import ApiKeys

    with reporting(as_json):
        key = ApiKeys(open_db(ctx).store).revoke(key_id)
        emit(key.to_dict(), as_json=as_json, human=lambda: console.print(f"revoked key {key.id} ({key.scope})"))


def _check_port_free(host: str, port: int) -> None:
    """Exit 1 with a clear message when ``host:port`` cannot be bound (uvicorn would exit 3 after a log line)."""
    import errno
    import socket

    from elephant.cli.output import fail
    from elephant.errors import ElephantError

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(ElephantError(f"cannot serve on {host}:{port}: {exc.strerror}"), as_json=False, code=2)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                message = (f"port {port} on {host} is already in use (another `elephant serve`?); "
                           f"stop it or choose another with --port")
            else:
                message = f"cannot serve on {host}:{port}: {exc.strerror}"
            fail(ElephantError(message), as_json=False, code=1)


@contextlib.contextmanager
def _workers_skip_the_cli() -> Iterator[None]:
    """Keep spawned workers from re-running this CLI as their ``__main__``.

    multiprocessing's spawn re-imports the parent's main module in every child, so each uvicorn
    worker imported the whole CLI (typer, rich, every command) before the app: 0.25 s of its cold
    start on a 2-core Xeon. A worker needs only ``api.app``; a main module without a spec or a file
    is not re-imported. The parent only supervises meanwhile.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
