"""docs/records.md is generated from the kinds registry and must match it (scripts/gen_records_doc.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_field_reference_matches_the_kinds() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_records_doc.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_the_reference_names_every_kind_and_its_fields() -> None:
    from elephant.kinds import all_kinds

    text = (ROOT / "docs" / "records.md").read_text(encoding="utf-8")
    for spec in all_kinds():
        assert f"### `{spec.name}`" in text
        for name, info in spec.fields_model.model_fields.items():
            assert f"| `{info.alias or name}` |" in text, (spec.name, name)
