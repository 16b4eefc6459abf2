"""The demo history the web tests (server-side and in the browser) load, and what they expect to find in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# What `make demo` ingests, in its order: the second file of the eval history supersedes some keys.
DEMO_FILES = [REPO / "fixtures" / "demo" / "ranker.yaml", REPO / "fixtures" / "demo" / "ranker-benchmarks.yaml",
              REPO / "fixtures" / "eval" / "history.yaml"]
DEMO_UPDATES = [REPO / "fixtures" / "eval" / "history_updates.yaml"]

INT8 = "ranker/int8-dynamic-2026-03"  # rolled back, occurred 2026-03-12
RUNBOOK = "ranker/runbook/rollback"  # v1 in history.yaml, v2 in history_updates.yaml
RANKER_SERIES = "c6i.2xlarge (8 vCPU) · server"  # four benchmarks, the 2026-04-14 one a regression
RANKER_SERIES_POINTS = 4
REGRESSION = "regression/ranker/bench-2026-04-14"


def load_demo(db: Any) -> None:
    """Write the demo history into an open ``Elephant`` (the files `make demo` ingests)."""
    for files in (DEMO_FILES, DEMO_UPDATES):
        report = db.put_files([str(p) for p in files], message="demo history")
        assert report.ok, report.problems
