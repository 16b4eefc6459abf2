"""Closing a handle releases what it opened: a process that opens many homes (a test suite, a tool that
walks stores) must not run out of file descriptors (embedded Chroma kept ~11 per home open)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import elephant


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_closing_a_home_releases_its_vector_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEPHANT_MODEL", "fake")

    def use(home: Path) -> None:
        with elephant.open(home) as db:
            assert db.put_many([{"kind": "note", "key": f"n/{i}", "title": f"note {i}", "body": "x"}
                                for i in range(3)]).ok
            db.process_outbox()
            assert db.search("note").results  # opens the vector index (embedded Chroma)

    use(tmp_path / "warm")
    before = _descriptors()
    for i in range(6):
        use(tmp_path / f"home-{i}")
    assert _descriptors() - before < 6  # not ~11 more per home


def test_two_handles_on_one_home_close_independently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEPHANT_MODEL", "fake")
    first = elephant.open(tmp_path)
    second = elephant.open(tmp_path)
    try:
        assert first.put_many([{"kind": "note", "key": "n/1", "title": "shared note", "body": "x"}]).ok
        first.process_outbox()
        assert first.search("shared note").results
        assert second.search("shared note").results
        first.close()  # the other handle's embedded Chroma stays open
        assert second.search("shared note").results
    finally:
        second.close()
