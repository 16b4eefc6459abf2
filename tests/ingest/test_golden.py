"""Golden tests: every input under fixtures/ingest/<format>/ has its expected records in
``<input>.expected.json`` beside it. Regenerate with ELEPHANT_REGEN_GOLDENS=1 (then review the diff)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from elephant.ingest.pipeline import ParseOutcome, parse_tree

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
SUFFIX = ".expected.json"
FORMATS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
REGENERATE = os.environ.get("ELEPHANT_REGEN_GOLDENS") == "1"


def _outcome_json(outcome: ParseOutcome) -> dict[str, Any]:
    """Stable JSON: the absolute root is machine-specific, so it is left out."""
    if outcome.skipped is not None:
        return {"parser": outcome.parser, "skipped": outcome.skipped}
    if outcome.failed is not None:
        return {"parser": outcome.parser, "failed": outcome.failed}
    records = []
    for record in outcome.records:
        envelope = record.envelope()
        envelope["source"].pop("root", None)
        records.append(envelope)
    data: dict[str, Any] = {"parser": outcome.parser, "records": records}
    if outcome.joined:
        data["joined"] = outcome.joined
    return data


def _cases() -> list[Any]:
    cases = []
    for fmt in FORMATS:
        for path in sorted((FIXTURES / fmt).rglob("*")):
            if path.is_file() and not path.name.endswith(SUFFIX):
                cases.append(pytest.param(fmt, path.relative_to(FIXTURES / fmt).as_posix(),
                                          id=f"{fmt}/{path.relative_to(FIXTURES / fmt).as_posix()}"))
    return cases


_TREES: dict[str, dict[str, ParseOutcome]] = {}


def _tree(fmt: str) -> dict[str, ParseOutcome]:
    if fmt not in _TREES:
        _TREES[fmt] = parse_tree(FIXTURES / fmt, exclude_suffixes=(SUFFIX,))
    return _TREES[fmt]


@pytest.mark.parametrize(("fmt", "rel"), _cases())
def test_golden(fmt: str, rel: str) -> None:
    tree = _tree(fmt)
    expected_path = FIXTURES / fmt / (rel + SUFFIX)
    joined_into = [o.path for o in tree.values() if rel in o.joined]
    if rel not in tree:
        # An MLPerf member file: it has no records of its own, it is joined into a result.
        assert joined_into, f"{rel} was neither parsed nor joined into a result"
        assert not expected_path.exists()
        return
    actual = _outcome_json(tree[rel])
    if REGENERATE:
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    assert expected_path.exists(), f"no golden {expected_path.name}; run with ELEPHANT_REGEN_GOLDENS=1"
    expected = json.loads(expected_path.read_text())
    assert actual == expected


def test_every_format_has_cases() -> None:
    assert {"mlperf", "triton", "kserve", "markdown", "tables", "recordfile", "text"} <= set(FORMATS)
