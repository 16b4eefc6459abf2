"""Imports point one way through the layers of docs/design.md §2, with no cycles.

The graph is read from the source with ``ast`` (every ``import``, also those inside functions, which
are dependencies all the same; only ``if TYPE_CHECKING:`` blocks are left out, as they never run).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "elephant"
ADAPTERS = ("api", "cli", "ingest")

# Lowest first. A module may import its own layer and any layer below it, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("elephant.errors", "elephant.settings", "elephant.timeutil", "elephant.osmem")),
    ("kinds", ("elephant.kinds",)),
    ("records", ("elephant.records",)),
    ("storage", ("elephant.storage",)),
    ("retrieval", ("elephant.retrieval",)),
    ("answers", ("elephant.answers",)),
    ("facade", ("elephant.facade", "elephant.client", "elephant.models", "elephant.memory", "elephant.wire",
                "elephant")),
    ("adapters", tuple(f"elephant.{name}" for name in ADAPTERS)),
]
# Packages the core (everything but the adapters) must never import: web, CLI and torch code.
BANNED_IN_CORE = {"fastapi", "starlette", "uvicorn", "typer", "click", "rich", "mcp", "torch",
                  "sentence_transformers", "jinja2", "prometheus_client"}
# `elephant model build` exports the model with torch: the one core module allowed to import it, and
# only inside its functions (docs/design.md §6).
TORCH_ALLOWED = {"elephant.retrieval.embedding.build": {"torch", "sentence_transformers", "onnx"}}
# Prompt templates are Jinja2 in its sandbox (issue 18): the one core module that renders with it; the
# web pages' templates stay in api/.
ALLOWED_IN_CORE = {**TORCH_ALLOWED, "elephant.answers.prompting": {"jinja2"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[tuple[str, Path]]:
    """Every module of the package; the adapters are reached through their links elephant/<name>."""
    paths = sorted(Path(folder) / name for folder, _dirs, names in os.walk(PACKAGE, followlinks=True)
                   for name in names if name.endswith(".py"))
    for path in paths:
        if "migrations" in path.parts and "versions" in path.parts:
            continue  # Alembic revisions are loaded by Alembic, not imported
        yield module_name(path), path


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, bool]]:
    """(imported module, whether the import runs at import time) for every import that can run."""

    def walk(node: ast.AST, top: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for sub in child.orelse:
                    yield from walk(sub, top)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, top
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    yield f"{base}.{alias.name}", top  # resolved to a module or its parent below
            inner_top = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from walk(child, inner_top)

    yield from walk(tree, True)


def build_graph() -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """(module → internal modules it imports, module → outside top-level packages, module → eager imports)."""
    files = dict(source_files())
    internal: dict[str, set[str]] = {name: set() for name in files}
    external: dict[str, set[str]] = {name: set() for name in files}
    eager: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, top in imported_names(tree, name, path.name == "__init__.py"):
            if target.split(".")[0] != "elephant":
                external[name].add(target.split(".")[0])
                continue
            resolved = target
            while resolved not in files and "." in resolved:
                resolved = resolved.rsplit(".", 1)[0]
            if resolved != name:
                internal[name].add(resolved)
                if top:
                    eager[name].add(resolved)
    return internal, external, eager


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return best


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


GRAPH, EXTERNAL, EAGER = build_graph()


def is_package_init(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()


def test_every_module_has_a_layer() -> None:
    for module in GRAPH:
        layer_of(module)


def test_no_import_cycles() -> None:
    # A package's __init__ re-exporting its submodules is not a cycle of design: leave those edges out.
    graph = {m: {t for t in targets if not (is_package_init(m) and t.startswith(m + "."))}
             for m, targets in GRAPH.items()}
    assert find_cycles(graph) == []


def test_no_lower_layer_imports_a_higher_one() -> None:
    upward = sorted(f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
                    for m, targets in GRAPH.items() for t in targets if layer_of(t) > layer_of(m))
    assert upward == []


def test_adapters_do_not_import_each_other_sideways() -> None:
    # The CLI starts the server and the ingestor (it is the outermost shell); api/ and ingest/ stay apart.
    sideways = sorted(f"{m} imports {t}" for m, targets in GRAPH.items() for t in targets
                      for a, b in (("api", "ingest"), ("ingest", "api"), ("api", "cli"), ("ingest", "cli"))
                      if m.startswith(f"elephant.{a}") and (t == f"elephant.{b}" or t.startswith(f"elephant.{b}.")))
    assert sideways == []


def test_the_core_imports_no_web_cli_or_torch_code() -> None:
    offenders = sorted(f"{m} imports {pkg}" for m, packages in EXTERNAL.items()
                       if layer_of(m) < len(LAYERS) - 1
                       for pkg in packages & BANNED_IN_CORE - ALLOWED_IN_CORE.get(m, set()))
    assert offenders == []


def test_torch_is_imported_lazily_where_allowed() -> None:
    for module in TORCH_ALLOWED:
        tree = ast.parse((PACKAGE.parent / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
        top_level = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
                     for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
        assert not top_level & {"torch", "sentence_transformers"}, module


@pytest.mark.parametrize("banned", sorted(BANNED_IN_CORE))
def test_the_graph_sees_imports(banned: str) -> None:
    """The checker must be able to fail: the adapters do import web and CLI code."""
    if banned in {"fastapi", "typer", "rich", "uvicorn", "mcp"}:
        assert any(banned in pkgs for m, pkgs in EXTERNAL.items() if layer_of(m) == len(LAYERS) - 1)


def test_tables_are_defined_in_the_schema_module_only() -> None:
    """Every table in one place (elephant/storage/schema.py), where the migrations are checked against it."""
    found = []
    for module, path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            # SQLAlchemy's Table("name", metadata, ...), not rich's Table in the CLI
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Table"
                    and "sqlalchemy" in EXTERNAL[module]):
                found.append(module)
    assert set(found) == {"elephant.storage.schema"}


def test_adapters_write_through_the_library() -> None:
    """Adapters hold no SQL and open no transactions: writes go through the store's functions."""
    sql = sorted(f"{m} imports {p}" for m, packages in EXTERNAL.items() if layer_of(m) == len(LAYERS) - 1
                 for p in packages & {"sqlalchemy", "sqlmodel", "psycopg", "sqlite3"})
    assert sql == []
    transactions = sorted(m for m, path in source_files() if layer_of(m) >= layer_of("elephant.answers")
                          and ".write_transaction(" in path.read_text(encoding="utf-8"))
    assert transactions == []
