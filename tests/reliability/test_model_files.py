"""Row 12 and part of 16: every model file, the tokenizer included, is checked against its manifest
sha256 at load; a tampered tokenizer degrades search with the reason instead of giving silently
different vectors, and degraded search does not hash the model again on every query."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import elephant
from elephant.errors import ModelError
from elephant.retrieval.doctor import check_store
from elephant.retrieval.embedding import onnx_embedder
from tests.reliability.conftest import run_cli

pytestmark = pytest.mark.model


@pytest.fixture
def model_copy(built_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The built model with its own manifest and tokenizer (the large weights linked, not copied)."""
    target = tmp_path / "models"
    target.mkdir()
    for item in built_model_dir.iterdir():
        if item.suffix in {".onnx", ".data"}:
            (target / item.name).symlink_to(item.resolve())
        elif item.is_file():
            shutil.copy(item, target / item.name)
    monkeypatch.setenv("ELEPHANT_MODEL_DIR", str(target))
    monkeypatch.setenv("ELEPHANT_MODEL", "int8")
    from elephant.settings import get_settings

    get_settings.cache_clear()
    return target


def tamper(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"[UNK]"', '"[UNKNOWN]"', 1), encoding="utf-8")


def test_a_tampered_tokenizer_is_refused_and_search_says_why(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tamper(model_copy / "tokenizer.json")
    with elephant.open() as db:
        db.put({"kind": "note", "key": "tok/one", "title": "tokenizer check", "body": "pangolinword"})
        found = db.search("pangolinword", k=3)
        assert found.degraded and "tokenizer" in (found.reason or "")
        assert [h.key for h in found.results] == ["tok/one"]  # lexical still answers
        hashed: list[Path] = []
        real = onnx_embedder.sha256_file
        monkeypatch.setattr(onnx_embedder, "sha256_file", lambda p: hashed.append(p) or real(p))
        for _ in range(3):
            assert db.search("pangolinword again", k=3).degraded
        assert hashed == []  # the failed verification is remembered while the file is unchanged
        report = check_store(db)
        assert not report.ok and "tokenizer" in report.checks["model"]
    result = run_cli("embed", "some text")
    assert result.exit_code == 1 and "tokenizer" in result.output


def test_verification_is_redone_once_the_file_changes(model_copy: Path) -> None:
    tokenizer = model_copy / "tokenizer.json"
    original = tokenizer.read_bytes()
    tamper(tokenizer)
    with pytest.raises(ModelError):
        onnx_embedder.verify_file(tokenizer, _manifest_sha(model_copy), "embedding tokenizer")
    tokenizer.write_bytes(original)
    assert onnx_embedder.verify_file(tokenizer, _manifest_sha(model_copy)) == _manifest_sha(model_copy)
    with elephant.open() as db:
        assert check_store(db).checks["model"] == "ok"


def _manifest_sha(directory: Path) -> Any:
    import json

    return json.loads((directory / "manifest.json").read_text())["tokenizer"]["sha256"]
