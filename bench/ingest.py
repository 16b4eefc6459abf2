"""Ingest throughput: first ingest of the shared corpus vs re-ingest of the unchanged tree.

Prints files/s and records/s for both runs, where the time goes (walk, hash, parse, store, index), and
the budget next to ours (docs/design.md §11: re-ingest ≥ 10× faster than the first ingest). Each run uses a fresh
home; the embedder is ELEPHANT_MODEL (default: the fake one, so the figure is the pipeline's own cost;
pass --model int8 for the real ONNX embedder once `elephant model build` has run).
Writes bench/results/ingest.json.

    .venv/bin/python bench/ingest.py [--corpus ../shared/corpus] [--model fake|int8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stats import write_report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BUDGET_SPEEDUP = 10.0


def _run(corpus: Path, model: str) -> dict[str, Any]:
    os.environ["ELEPHANT_MODEL"] = model
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    import elephant
    from elephant.ingest.pipeline import ingest_paths

    with tempfile.TemporaryDirectory(prefix="elephant-bench-ingest-") as home:
        db = elephant.open(home)
        try:
            t0 = time.perf_counter()
            first = ingest_paths(db, [corpus])
            first_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            second = ingest_paths(db, [corpus])
            second_s = time.perf_counter() - t1
        finally:
            db.close()
    records = first.created + first.updated
    return {
        "first": {"seconds": first_s, "files": first.files_seen, "records": records,
                  "files_per_s": first.files_seen / first_s, "records_per_s": records / first_s,
                  "failed": len(first.failed), "skipped": len(first.skipped), "timings_s": first.timings_s},
        "reingest": {"seconds": second_s, "files": second.files_seen,
                     "files_per_s": second.files_seen / second_s,
                     "records_written": second.records_written, "files_unchanged": second.files_unchanged,
                     "timings_s": second.timings_s},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--model", default=os.environ.get("ELEPHANT_MODEL", "fake"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [_run(args.corpus.resolve(), args.model) for _ in range(args.repeat)]
    first_s = statistics.median(r["first"]["seconds"] for r in runs)
    second_s = statistics.median(r["reingest"]["seconds"] for r in runs)
    speedup = first_s / second_s
    best = min(runs, key=lambda r: abs(r["first"]["seconds"] - first_s))
    phases = best["first"]["timings_s"]
    result = {
        "corpus": str(args.corpus), "model": args.model, "repeat": args.repeat,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "first_ingest": {"median_s": round(first_s, 3), "files": best["first"]["files"],
                         "records": best["first"]["records"],
                         "files_per_s": round(best["first"]["files"] / first_s, 1),
                         "records_per_s": round(best["first"]["records"] / first_s, 1),
                         "failed": best["first"]["failed"], "skipped": best["first"]["skipped"],
                         "phases_s": {k: round(v, 3) for k, v in phases.items()}},
        "reingest": {"median_s": round(second_s, 3), "files_per_s": round(best["reingest"]["files"] / second_s, 1),
                     "records_written": best["reingest"]["records_written"],
                     "phases_s": {k: round(v, 3) for k, v in best["reingest"]["timings_s"].items()}},
        "speedup_x": round(speedup, 1),
        "budget": {"reingest_speedup_min_x": BUDGET_SPEEDUP, "met": speedup >= BUDGET_SPEEDUP
                   and best["reingest"]["records_written"] == 0},
        "runs": runs,
    }
    print(f"corpus: {args.corpus} ({best['first']['files']} files), embedder: {args.model}, "
          f"median of {args.repeat} runs")
    print(f"first ingest : {first_s:7.2f} s  {result['first_ingest']['files_per_s']:8.1f} files/s  "
          f"{result['first_ingest']['records_per_s']:8.1f} records/s  ({best['first']['records']} records)")
    print("  where the time goes: " + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items() if k != "total"))
    print(f"re-ingest    : {second_s:7.2f} s  {result['reingest']['files_per_s']:8.1f} files/s  "
          f"({best['reingest']['records_written']} records written)")
    print(f"speedup      : {speedup:.1f}x   budget (docs/design.md §11): ≥ {BUDGET_SPEEDUP:.0f}x  -> "
          f"{'met' if result['budget']['met'] else 'NOT met'}")
    out = REPO / "bench" / "results" / "ingest.json"
    write_report("ingest", result, out)
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
