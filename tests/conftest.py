"""Shared fixtures: every test gets its own ELEPHANT_HOME; store tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    # Imported first on purpose: when schemathesis (tests/api) is collected before onnx is first
    # imported, onnx's ml_dtypes import recurses inside numpy's lazy attributes and the build tests
    # fail to collect. Importing it up front sidesteps that ordering problem.
    import onnx  # noqa: F401
except ImportError:  # the model-build extra is not installed
    pass

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO.parent / "shared" / "corpus").resolve()
PG_ADMIN_URL = os.environ.get("ELEPHANT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MODEL_CACHE = Path(os.environ.get("ELEPHANT_TEST_MODEL_DIR", REPO / ".cache" / "models"))


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh home per test, no stray ELEPHANT_* settings, the fast fake embedder unless asked."""
    for name in list(os.environ):
        if name.startswith("ELEPHANT_") and not name.startswith("ELEPHANT_TEST_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ELEPHANT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ELEPHANT_MODEL_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("ELEPHANT_MODEL", "fake")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    from elephant.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# ---------------------------------------------------------------- PostgreSQL
def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # any failure means: skip, with the reason
        return f"PostgreSQL at {PG_ADMIN_URL} not reachable: {exc}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway database for this test session; dropped at the end."""
    reason = _pg_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    name = f"elephant_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A fresh schema in the session database, selected through the connection's search_path."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{pg_database.replace('postgresql://', 'postgresql+psycopg://', 1)}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on SQLite and once on PostgreSQL (ELEPHANT_DATABASE_URL)."""
    if request.param == "postgres":
        monkeypatch.setenv("ELEPHANT_DATABASE_URL", request.getfixturevalue("pg_url"))
    return str(request.param)


@pytest.fixture
def db(backend: str) -> Iterator[object]:
    import elephant

    handle = elephant.open()
    try:
        yield handle
    finally:
        handle.close()


# ---------------------------------------------------------------- the real ONNX model
@pytest.fixture(scope="session")
def built_model_dir() -> Path:
    """The real embedding model, built once into a cache shared by test runs (not per test)."""
    if not (MODEL_CACHE / "manifest.json").exists():
        env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_")}
        env["ELEPHANT_MODEL_DIR"] = str(MODEL_CACHE)
        subprocess.run([sys.executable, "-m", "elephant.cli.main", "model", "build"], cwd=REPO, env=env, check=True)
    return MODEL_CACHE


@pytest.fixture
def real_model(built_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the real default (INT8) ONNX embedder in this test."""
    monkeypatch.setenv("ELEPHANT_MODEL_DIR", str(built_model_dir))
    monkeypatch.setenv("ELEPHANT_MODEL", "int8")
    from elephant.settings import get_settings

    get_settings.cache_clear()
    return built_model_dir


@pytest.fixture
def make_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    """A factory for further, empty Elephant homes on the same backend (a new schema on PostgreSQL)."""
    import elephant

    opened: list[object] = []

    def factory(name: str) -> object:
        url = request.getfixturevalue("pg_url") if backend == "postgres" else None
        if url is not None:
            import psycopg

            schema = f"t_{uuid.uuid4().hex[:12]}"
            base = url.split("?", 1)[0]
            with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            url = f"{base}?options=-csearch_path%3D{schema}"
        handle = elephant.open(tmp_path / name, database_url=url) if url else elephant.open(
            tmp_path / name, database_url=f"sqlite:///{tmp_path / name / 'elephant.db'}")
        opened.append(handle)
        return handle

    yield factory
    for handle in opened:
        handle.close()  # type: ignore[attr-defined]
