"""What every benchmark script shares: one percentile definition and one way to save figures."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted samples (q in 0..1); NaN when there are none."""
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_summary(samples: list[float], *, points: tuple[int, ...] = (50, 99), digits: int = 2,
                    suffix: str = "_ms", extra: tuple[str, ...] = ()) -> dict[str, float]:
    """``{"p50_ms": ..., "p99_ms": ...}`` (median for p50); ``extra`` may add "mean" and "n"."""
    ordered = sorted(samples)
    out: dict[str, float] = {}
    for point in points:
        value = (statistics.median(ordered) if ordered else float("nan")) if point == 50 else percentile(
            ordered, point / 100)
        out[f"p{point}{suffix}"] = round(value, digits)
    if "mean" in extra:
        out["mean"] = round(statistics.fmean(ordered), digits) if ordered else float("nan")
    if "n" in extra:
        out["n"] = len(ordered)
    return out


def write_report(name: str, report: dict[str, Any], path: Path | None = None) -> Path:
    """Save a benchmark's figures as ``bench/results/<name>.json`` (or ``path``) and return where."""
    out = path or RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out
