"""Dependencies point one way: the core library pulls in no web, CLI or torch code."""

from __future__ import annotations

import subprocess
import sys


def modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, timeout=120)
    return set(out.stdout.split())


def test_import_elephant_is_light():
    loaded = modules_after("import elephant")
    for banned in ("fastapi", "typer", "click", "torch", "sentence_transformers", "starlette", "uvicorn",
                   "ingest", "api", "cli", "chromadb"):
        assert banned not in loaded, banned


def test_import_elephant_loads_neither_pydantic_nor_sqlalchemy():
    """They load with the first store the caller opens: the CLI's start-up and `import elephant` stay fast
    (elephant.errors, loaded at once, holds a JSON type but configures pydantic without importing it)."""
    loaded = modules_after("import elephant")
    assert "pydantic" not in loaded and "sqlalchemy" not in loaded


def test_core_never_imports_adapters_statically():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "elephant"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "build.py" and path.parent.name == "embedding":
            continue  # `elephant model build` is the one place torch is allowed, imported lazily
        text = path.read_text(encoding="utf-8")
        for banned in ("import torch", "from torch", "import fastapi", "from fastapi", "import typer", "from typer", "import click",
                       "from click", "from ingest", "import ingest", "from api", "import api", "from cli",
                       "import cli"):
            if any(line.strip().startswith(banned) for line in text.splitlines()):
                offenders.append(f"{path.name}: {banned}")
    assert not offenders
