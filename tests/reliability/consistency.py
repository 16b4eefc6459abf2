"""The invariant the reliability suite and bench/soak.py check: every live key is indexed at its head
version in the lexical and the vector index, and nothing else is."""

from __future__ import annotations

from typing import Any

from elephant.retrieval.doctor import check_store


def assert_indexed_at_heads(db: Any) -> None:
    report = check_store(db, verify_model=False)
    assert report.ok, report.to_dict()
