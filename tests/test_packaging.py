"""The wheel installs one top-level package, ``elephant``, and works beside a project with its own
``ingest/`` and ``api/`` packages (docs/design.md §10, issue 14: a user's ``ingest`` once shadowed ours)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DIST_INFO = "elephant_memory-"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from this checkout (no build isolation: nothing is downloaded)."""
    out = tmp_path_factory.mktemp("wheel")
    # Built from a clean copy: setuptools' build/ folder in a checkout keeps modules since deleted.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "elephant", "api", "cli", "ingest"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], check=True, capture_output=True, text=True, timeout=300)
    (found,) = out.glob("elephant_memory-*.whl")
    return found


def test_wheel_holds_only_the_elephant_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert "elephant" in tops
    assert {top for top in tops if top != "elephant"} == {next(t for t in tops if t.startswith(DIST_INFO))}
    # The adapters travel inside the package, with their data files.
    for inside in ("elephant/ingest/pipeline.py", "elephant/api/app.py", "elephant/cli/main.py",
                   "elephant/api/openapi.json", "elephant/api/web/templates/base.html",
                   "elephant/storage/migrations/script.py.mako", "elephant/py.typed"):
        assert inside in names, inside
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    assert "Name: elephant-memory" in metadata
    assert "Requires-Python: >=3.11\n" in metadata
    # Server and PostgreSQL packages are extras, not requirements of the library.
    core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [line for line in core if any(p in line.lower() for p in ("fastapi", "uvicorn", "mcp", "psycopg", "torch"))]
    assert any("mcp<3,>=2" in line and 'extra == "server"' in line for line in metadata.splitlines())


def test_wheel_works_beside_a_project_with_its_own_ingest_and_api(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    # The dependencies come from this test's environment, after the venv's own site-packages, so that
    # the installed wheel (not this checkout) is what `import elephant` finds; nothing is downloaded.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    project = tmp_path / "project"
    for package in ("ingest", "api"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f"WHO = 'the user project {package}'\n")
    (project / "ingest" / "pipeline.py").write_text("raise RuntimeError('the user project pipeline')\n")
    notes = project / "notes"
    notes.mkdir()
    (notes / "hello.yaml").write_text(textwrap.dedent("""\
        kind: note
        key: demo/hello
        title: Hello from a user project
        """))
    (notes / "runbook.md").write_text("# Roll back the ranker\n\n1. Shift traffic back.\n2. Check p99.\n")
    script = textwrap.dedent("""\
        import json, sys
        import api, ingest
        import elephant
        with elephant.open(sys.argv[1]) as db:
            report = db.ingest(["notes"])
            print(json.dumps({"elephant": elephant.__file__, "ingest": ingest.WHO, "api": api.WHO,
                              "ok": report.ok, "counts": report.counts(),
                              "get": db.get("demo/hello").envelope["title"]}))
        """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELEPHANT_", "PYTHON"))}
    env.update(ELEPHANT_MODEL="fake", ANONYMIZED_TELEMETRY="False")
    run = subprocess.run([str(python), "-c", script, str(tmp_path / "home")], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["elephant"].startswith(str(venv)), seen["elephant"]
    assert seen["ingest"] == "the user project ingest" and seen["api"] == "the user project api"
    assert seen["ok"] is True
    assert seen["counts"]["created"] == 2, seen["counts"]
    assert seen["get"] == "Hello from a user project"


BLOCK_SERVER = textwrap.dedent("""\
    import importlib.abc, sys
    class _NoServer(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"fastapi", "starlette", "uvicorn", "mcp", "jinja2", "multipart",
                                       "prometheus_client", "psycopg", "torch"}:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, _NoServer())
    """)


def test_the_library_runs_without_the_server_extras(tmp_path: Path) -> None:
    script = BLOCK_SERVER + textwrap.dedent("""\
        import elephant
        with elephant.open(sys.argv[1]) as db:
            db.put({"kind": "note", "key": "demo/a", "title": "INT8 quantization of the ranker"})
            hits = db.search("int8 ranker", k=3)
            print(db.get("demo/a").version, [h.key for h in hits.results])
        """)
    env = {**os.environ, "ELEPHANT_MODEL": "fake"}
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "home")], capture_output=True, text=True,
                         timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "['demo/a']"]


def test_serve_without_the_server_extra_names_the_extra(tmp_path: Path) -> None:
    script = BLOCK_SERVER + textwrap.dedent("""\
        from elephant.cli.main import main
        sys.argv = ["elephant", "serve"]
        main()
        """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})
    assert run.returncode == 2, run.stderr
    assert "pip install 'elephant-memory[server]'" in run.stderr
    assert "fastapi" in run.stderr and "Traceback" not in run.stderr
