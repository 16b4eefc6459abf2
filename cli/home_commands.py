"""Where the memory is and how to start a record: ``init``, ``info``, ``ls``, ``new KIND``, ``schema KIND``.

The home is found as git finds a repository (docs/design.md §5): ``--home``/``ELEPHANT_HOME`` when set,
else the nearest ``.elephant`` from the working directory up, else the per-user home
(``$XDG_DATA_HOME/elephant``, by default ``~/.local/share/elephant``). ``init`` makes a ``.elephant``
where it is asked to; nothing else creates one in the working directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from elephant.cli.formats import FORMAT_OPTION, Cell, Column, ListFormat, list_format, print_rows
from elephant.cli.output import JSON_OPTION, console, emit, err_console, open_db, reporting
from elephant.errors import ElephantError, UsageError


def register(app: typer.Typer) -> None:
    app.command(name="init")(init)
    app.command(name="info")(info)
    app.command(name="ls")(ls)
    app.command(name="new")(new)
    app.command(name="schema")(schema)


# ---------------------------------------------------------------- init
def init(
    ctx: typer.Context,
    directory: Path = typer.Argument(Path("."), help="Folder to hold the memory (as .elephant inside it)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a memory in DIRECTORY/.elephant (default: here); commands run in DIRECTORY or below find it.

    Without `init`, commands use the nearest .elephant above the working directory, else the per-user
    home (~/.local/share/elephant). --home or ELEPHANT_HOME names one and wins over both.

    Example: elephant init && elephant put fixtures/demo/ranker.yaml

    Example: elephant init ~/team-memory --json
    """
    from elephant.settings import HOME_DIR_NAME

    with reporting(as_json):
        root = ctx.find_root()
        overrides = dict(root.obj.get("overrides", {})) if isinstance(root.obj, dict) else {}
        if "home" in overrides:
            raise UsageError("`elephant init` makes DIR/.elephant; with --home or ELEPHANT_HOME set, the home "
                                f"is already chosen ({overrides['home']}): run a command there, it is created on use")
        if not directory.is_dir():
            raise ElephantError(f"{directory}: no such folder")
        home = (directory / HOME_DIR_NAME).resolve()
        existed = home.is_dir()
        overrides["home"] = home
        if isinstance(root.obj, dict):
            root.obj["overrides"] = overrides
            root.obj.pop("settings", None)
        db = open_db(ctx)  # creates and migrates the database
        data = {"home": str(home), "created": not existed, "database_url": redact_url(db.settings.resolved_database_url)}
        emit(data, as_json=as_json, human=lambda: console.print(
            f"{'initialised' if not existed else 'already a memory:'} {escape(str(home))}\n"
            f"[dim]commands run in {escape(str(home.parent))} or below use it; add {HOME_DIR_NAME}/ to .gitignore[/dim]"))


# ---------------------------------------------------------------- info
def redact_url(url: str) -> str:
    """A database URL with its password replaced by ``***`` (``scheme://user:***@host/db``)."""
    import re

    return re.sub(r"^([A-Za-z][\w+.-]*://[^:@/]*):[^@/]*@", r"\1:***@", url)


def _model_state(settings: Any) -> dict[str, Any]:
    from elephant.retrieval.embedding.loader import FAKE_MODEL, model_location, verify_model_files

    if settings.model.strip().lower() == FAKE_MODEL:
        return {"variant": FAKE_MODEL, "dir": None, "name": None, "checksums": "none (the fake embedder has no files)"}
    state: dict[str, Any] = {"variant": settings.model, "dir": None, "name": None}
    try:
        directory, variant = model_location(settings)
        state["dir"] = str(directory)
        from elephant.retrieval.embedding.manifest import read_manifest

        manifest = read_manifest(directory)
        resolved = manifest.resolve(variant)
        state.update(variant=resolved.name, name=manifest.model_name)
        checked = verify_model_files(settings)
        state["checksums"] = f"ok ({checked} files match the manifest)"
    except ElephantError as exc:
        state["checksums"] = f"problem: {exc.message}"
    return state


def info(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Where this memory is and what it holds: the home (and how it was found), the database (password
    hidden), the vector index, the embedding model and its checksums, records per kind, index jobs.

    Example: elephant info

    Example: elephant --home /srv/elephant info --json
    """
    with reporting(as_json):
        db = open_db(ctx)
        settings = db.settings
        counts = db.counts()
        index = db.index_status(limit=5)
        data = {
            "home": str(db.home),
            "home_source": db.home_source,
            "database_url": redact_url(settings.resolved_database_url),
            "vector_index": settings.chroma_url or str(db.home / "chroma"),
            "model": _model_state(settings),
            "records": {k: v for k, v in sorted(counts.items()) if not k.startswith("_")},
            "live_records": counts["_records"], "deleted_keys": counts["_deleted"], "versions": counts["_versions"],
            "index_jobs": {"pending": index["pending"], "parked": index["parked"]},
        }

        def human() -> None:
            m = data["model"]
            rows = [("home", f"{data['home']}  ({data['home_source']})"),
                    ("database", data["database_url"]),
                    ("vector index", data["vector_index"]),
                    ("model", " ".join(x for x in (m["name"], m["variant"]) if x)
                     + (f" in {m['dir']}" if m["dir"] else "")),
                    ("model files", m["checksums"]),
                    ("records", f"{data['live_records']} live, {data['deleted_keys']} deleted, "
                                f"{data['versions']} versions"),
                    *((f"  {kind}", str(n)) for kind, n in data["records"].items()),
                    ("index jobs", f"{index['pending']} pending, {index['parked']} parked"
                     + ("  (see `elephant status`)" if index["parked"] else ""))]
            width = max(len(name) for name, _ in rows)
            for name, value in rows:
                console.print(f"{name:<{width}}  {escape(value)}")

        emit(data, as_json=as_json, human=human)


# ---------------------------------------------------------------- ls
def ls(
    ctx: typer.Context,
    prefix: str = typer.Argument("", help="Only keys that start with this, e.g. ranker/."),
    kind: list[str] = typer.Option([], "--kind", help="Only this kind (repeatable)."),
    model: str | None = typer.Option(None, "--model", help="Only records about this model."),
    tag: str | None = typer.Option(None, "--tag", help="Only records with this tag."),
    deleted: bool = typer.Option(False, "--deleted", help="Include deleted keys."),
    limit: int = typer.Option(0, "--limit", "-n", min=0, help="At most this many (0: all)."),
    fmt: ListFormat | None = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List record keys with kind, model, current version and when it was last written, in key order.

    Example: elephant ls ranker/

    Example: elephant ls --kind benchmark --model ranker --json
    """
    from elephant.kinds import kind_spec

    shape = list_format(fmt, as_json=as_json)
    as_json = shape is ListFormat.json
    with reporting(as_json):
        for name in kind:
            kind_spec(name)  # an unknown kind is an error naming the known ones, not an empty list
        db = open_db(ctx)
        rows: list[dict[str, Any]] = []
        for stored in db.store.iter_current(model=model, kind=kind[0] if len(kind) == 1 else None,
                                            include_deleted=deleted):
            env = stored.envelope
            if prefix and not stored.key.startswith(prefix):
                continue
            if kind and stored.kind not in kind:
                continue
            if tag and tag not in (env.get("tags") or []):
                continue
            rows.append({"key": stored.key, "kind": stored.kind, "model": env.get("model"),
                         "version": stored.version, "updated": stored.recorded_at,
                         "deleted": stored.is_deleted, "title": env.get("title")})
            if limit and len(rows) >= limit:
                break

        def human() -> None:
            if not rows:
                # The header still goes to stdout when piped (scripts read columns); the words go to stderr.
                (console if shape is ListFormat.table else err_console).print(
                    f"no records{' under ' + escape(prefix) if prefix else ''} in {escape(str(db.home))}")
                if shape is ListFormat.table:
                    return
            cells: list[list[Cell]] = [
                [r["key"], r["kind"], r["model"] or "-", str(r["version"]) + (" (deleted)" if r["deleted"] else ""),
                 str(r["updated"])[:16].replace("T", " "), r["title"] or ""] for r in rows]
            print_rows(LS_COLUMNS, cells, shape, console)

        emit({"home": str(db.home), "records": rows}, as_json=as_json, human=human)


LS_COLUMNS = (Column("key"), Column("kind", below=2), Column("model", below=3), Column("v", right=True),
              Column("updated", below=1), Column("title", flex=True, min_width=16))


# ---------------------------------------------------------------- new / schema
def new(
    kind: str = typer.Argument(..., help="The record kind, e.g. optimization (see `elephant schema --help`)."),
    key: str = typer.Option("", "--key", help="Fill in the key."),
    title: str = typer.Option("", "--title", help="Fill in the title."),
    model: str = typer.Option("", "--model", help="Fill in the model."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print a YAML template for a new record of KIND: the envelope and every field of the kind, each
    commented with its type; fill it in and `elephant put` it.

    Example: elephant new optimization > int8.yaml && $EDITOR int8.yaml && elephant put int8.yaml

    Example: elephant new note --key team/hello --title "Hello" | elephant put -
    """
    from elephant.kinds import kind_spec

    with reporting(as_json):
        spec = kind_spec(kind)
        text = record_template(spec, key=key, title=title, model=model)
        emit({"kind": kind, "template": text}, as_json=as_json, human=lambda: print(text, end=""))


def schema(
    kind: str = typer.Argument(..., help="The record kind, e.g. benchmark."),
    as_json: bool = typer.Option(False, "--json", help="Accepted for symmetry: the schema is always JSON."),
) -> None:
    """Print the JSON schema of a record of KIND (envelope and fields), for editors and validators.

    Example: elephant schema benchmark > benchmark.schema.json
    """
    import json

    from elephant.kinds import kind_spec

    with reporting(as_json):
        sys.stdout.write(json.dumps(record_schema(kind_spec(kind).name), indent=2, ensure_ascii=False) + "\n")


def record_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of one kind's records: the envelope's, with ``kind`` fixed and ``fields`` the kind's."""
    from elephant.kinds import kind_spec
    from elephant.records.envelope import Record

    envelope = Record.model_json_schema()
    fields = kind_spec(kind).fields_model.model_json_schema()
    defs = {**envelope.pop("$defs", {}), **fields.pop("$defs", {})}
    envelope["title"] = f"Elephant {kind} record"
    envelope["properties"]["kind"] = {"const": kind, "title": "Kind", "type": "string"}
    envelope["properties"]["fields"] = fields
    if defs:
        envelope["$defs"] = defs
    envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return envelope


def _type_words(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A property's type as a reader wants it: number, text, one of a/b, list of text, object."""
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        if "enum" in target:
            return "one of " + ", ".join(str(v) for v in target["enum"])
        return "object"
    if "anyOf" in prop:
        words = [_type_words(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(dict.fromkeys(w for w in words if w))
    if "enum" in prop:
        return "one of " + ", ".join(str(v) for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        return "list of " + (_type_words(prop.get("items", {}), defs) or "anything")
    if kind == "object":
        return "map" if "additionalProperties" in prop and not prop.get("properties") else "object"
    return {"string": "text", "number": "number", "integer": "integer", "boolean": "true/false"}.get(kind or "", "")


def _nested(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a property holds (through ``$ref`` or ``X | None``), if it holds one."""
    for candidate in [prop, *prop.get("anyOf", [])]:
        target = defs.get(candidate["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in candidate else candidate
        if target.get("type") == "object" and target.get("properties"):
            return target
    return None


def record_template(spec: Any, *, key: str = "", title: str = "", model: str = "") -> str:
    """A YAML record of ``spec``'s kind with every field present and commented (docs/records.md lists them)."""
    import json
    from datetime import date

    def scalar(value: str) -> str:
        return json.dumps(value, ensure_ascii=False) if value else '""'

    fields_schema = spec.fields_model.model_json_schema()
    defs = fields_schema.get("$defs", {})
    lines = [f"# A new {spec.name} record: fill it in, then `elephant put FILE`. Reference: docs/records.md#{spec.name}",
             f"kind: {spec.name}",
             f"key: {scalar(key or (model or 'MODEL') + '/' + spec.name.replace('_', '-') + '-NAME')}"
             "   # stable identity: the same key again makes the next version",
             f"title: {scalar(title)}   # required: one line",
             f"model: {scalar(model) if model else ''}   # the model this is about, e.g. ranker",
             "model_version:   # e.g. v3",
             f"occurred_at: {date.today().isoformat()}   # when it happened in the world (date or datetime)",
             "tags: []",
             "links: []   # e.g. [{rel: baseline, key: ranker/bench-2026-03-10}]",
             "body: |",
             "  What happened, why, and what to remember.",
             "fields:"]

    def walk(schema: dict[str, Any], depth: int) -> None:
        for name, prop in schema.get("properties", {}).items():
            pad = "  " * depth
            nested = _nested(prop, defs)
            words = _type_words(prop, defs)
            note = prop.get("description")
            comment = "  # " + "; ".join(x for x in (words, note) if x) if (words or note) else ""
            if nested is not None:
                lines.append(f"{pad}{name}:{comment if words != 'object' else ''}")
                walk(nested, depth + 1)
            else:
                lines.append(f"{pad}{name}:{comment}")

    walk(fields_schema, 1)
    if len(lines) and lines[-1] == "fields:":
        lines[-1] = "fields: {}"
    return "\n".join(lines) + "\n"
