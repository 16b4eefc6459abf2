"""Heap hygiene for long-running processes (elephant/osmem.py): arena cap and trimming on glibc."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from elephant import osmem

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas and trimming are glibc's")


@glibc
def test_arena_cap_applies_in_a_fresh_process() -> None:
    code = "from elephant.osmem import limit_malloc_arenas, release_free_memory; " \
           "print(limit_malloc_arenas(), type(release_free_memory()).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["True", "bool"]


@glibc
def test_an_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert osmem.limit_malloc_arenas() is False


def test_no_libc_means_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osmem, "_libc", lambda: None)
    assert osmem.limit_malloc_arenas() is False
    assert osmem.release_free_memory() is False
