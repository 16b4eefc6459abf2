"""Fixtures for the REST API: an app on the test's isolated home, a TestClient, and keys per scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from elephant.api.app import create_app
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKeys


@pytest.fixture
def settings(backend: str) -> Settings:
    """The test's settings (isolated home; PostgreSQL when ``backend`` says so)."""
    return Settings()


@pytest.fixture
def sqlite_settings() -> Settings:
    return Settings()


@pytest.fixture
def client(sqlite_settings: Settings) -> Iterator[TestClient]:
    """A TestClient (lifespan run) on SQLite; most API tests need only one backend."""
    with TestClient(create_app(sqlite_settings)) as c:
        yield c


@pytest.fixture
def any_client(settings: Settings) -> Iterator[TestClient]:
    """A TestClient on each backend (SQLite and PostgreSQL)."""
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def keys(client: TestClient) -> dict[str, str]:
    """One key per scope; creating them turns auth on for ``client``."""
    api_keys = ApiKeys(client.app.state.ctx.db.store)  # type: ignore[attr-defined]
    return {scope: api_keys.create(scope=scope, name=f"{scope}-user").key for scope in ("read", "write", "admin")}
