"""The whole shared corpus parsed, pinned record by record: a digest of every record's envelope (and the
reason of every skipped or failed file) in ``fixtures/ingest/corpus.digests.json``.

A parser change that alters any corpus record fails here, naming the keys added, removed and changed, so
it is either a fix (regenerate with ELEPHANT_REGEN_GOLDENS=1 and say what changed in the CHANGELOG) or a
regression. Parses only (no database); skipped when the corpus is absent.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from elephant.ingest.pipeline import parse_tree
from tests.conftest import CORPUS

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "ingest" / "corpus.digests.json"
REGENERATE = os.environ.get("ELEPHANT_REGEN_GOLDENS") == "1"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


def corpus_digests(root: Path) -> dict[str, Any]:
    """{"records": {key: digest}, "files": {path: "skipped: ..."|"failed: ..."}} for every unit under root."""
    records: dict[str, str] = {}
    files: dict[str, str] = {}
    for path, outcome in parse_tree(root).items():
        if outcome.skipped is not None:
            files[path] = f"skipped: {outcome.skipped}"
        elif outcome.failed is not None:
            files[path] = f"failed: {outcome.failed}"
        for record in outcome.records:
            envelope = record.envelope()
            envelope["source"].pop("root", None)  # the corpus's absolute path differs between machines
            text = json.dumps(envelope, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            records[envelope["key"]] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return {"records": dict(sorted(records.items())), "files": dict(sorted(files.items()))}


def test_the_corpus_parses_to_the_pinned_records() -> None:
    actual = corpus_digests(CORPUS)
    if REGENERATE:
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for part in ("records", "files"):
        was, now = expected[part], actual[part]
        added = sorted(set(now) - set(was))
        removed = sorted(set(was) - set(now))
        changed = sorted(k for k in set(now) & set(was) if now[k] != was[k])
        assert not (added or removed or changed), (
            f"corpus {part} differ from {GOLDEN.name} (ELEPHANT_REGEN_GOLDENS=1 regenerates it, for a fix): "
            f"{len(added)} added {added[:10]}, {len(removed)} removed {removed[:10]}, "
            f"{len(changed)} changed {changed[:10]}")
