"""Row 16 of issue 20: ``ask`` and ``context`` say why they are degraded, as ``search`` does, in the
library, over REST and in the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import elephant
from elephant.api.app import create_app
from elephant.settings import Settings, get_settings
from tests.reliability.conftest import run_cli


@pytest.fixture
def no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real model configured but its files missing: search falls back to lexical, with a reason."""
    monkeypatch.setenv("ELEPHANT_MODEL", "int8")
    monkeypatch.setenv("ELEPHANT_MODEL_DIR", str(tmp_path / "no-models"))
    get_settings.cache_clear()


def seed(db: Any) -> None:
    db.put({"kind": "optimization", "key": "ranker/opt/int8", "model": "ranker", "title": "int8 quantization",
            "body": "Tried int8 on the ranker.", "fields": {"outcome": "adopted"}})


def test_library_ask_and_context_give_the_reason(no_model: None) -> None:
    with elephant.open() as db:
        seed(db)
        answer = db.ask("did int8 work?")
        assert answer.degraded and answer.reason and "model" in answer.reason
        assert answer.to_dict()["reason"] == answer.reason
        pack = db.context("int8 quantization of the ranker", budget=200)
        assert pack.degraded and pack.reason and "model" in pack.reason
        assert pack.to_dict()["reason"] == pack.reason


def test_rest_ask_and_context_give_the_reason(no_model: None) -> None:
    with TestClient(create_app(Settings())) as client:
        seed(client.app.state.ctx.db)  # type: ignore[attr-defined]
        for path, body in (("/v1/ask", {"question": "did int8 work?"}),
                           ("/v1/context", {"query": "int8 ranker", "budget": 200})):
            data = client.post(path, json=body).json()
            assert data["degraded"] is True and data["reason"], (path, data)


def test_healthy_answers_have_no_reason() -> None:
    with elephant.open() as db:
        seed(db)
        answer = db.ask("what did we try on the ranker?")
        assert not answer.degraded and answer.to_dict()["reason"] is None


def test_cli_context_prints_the_reason(no_model: None) -> None:
    with elephant.open() as db:
        seed(db)
    result = run_cli("context", "int8 ranker", "--budget", "200")
    assert result.exit_code == 0, result.output
    assert "degraded:" in result.output
