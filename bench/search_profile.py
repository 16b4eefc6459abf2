"""Where a search's time goes: CPU and wall milliseconds per stage, per filter shape, in process.

    .venv/bin/python bench/search_profile.py --home DIR [--queries 100] [--cprofile SHAPE] [--out FILE]

Searches a loaded home (``bench/scale.py --home DIR --load-only`` makes one) with the same queries and
filter shapes as bench/scale.py, result cache off, and times each stage of ``HybridSearch.search``
by wrapping it: query embedding, lexical ranking (document-frequency probes included), SQL candidates
of tag/field filters, the dense side (matrix product or ANN query), liveness reads, fusion and hits.
CPU time (``time.thread_time``) is the figure to compare on a shared machine: it does not count the
time the thread waits for a core. Stages nest (``dense`` includes ``embed`` and ``live``); the table
gives each stage's own time, without the stages inside it. ``--cprofile SHAPE`` prints the top
functions of one shape instead.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from search import MODELS, search_queries

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPES: dict[str, dict[str, Any]] = {
    "unfiltered": {},
    "kind + time": {"kind": "benchmark", "since": "2025-03-01", "until": "2025-09-30"},
    "numeric latency_ms.p99<40": {"where": "latency_ms.p99<40"},
    "model": {"model": None},  # one of MODELS per query, as bench/scale.py does
}


class Stages:
    """Per-stage exclusive CPU and wall time of the current search (nested stages subtract)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []  # [cpu of children, wall of children]

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        self._stack.append([0.0, 0.0])
        try:
            yield
        finally:
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            inner_cpu, inner_wall = self._stack.pop()
            self.cpu[name] += cpu - inner_cpu
            self.wall[name] += wall - inner_wall
            if self._stack:
                self._stack[-1][0] += cpu
                self._stack[-1][1] += wall

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        inner = getattr(owner, attribute)
        stages = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with stages.stage(name):
                return inner(*args, **kwargs)

        static = isinstance(inspect.getattr_static(owner, attribute), staticmethod)
        setattr(owner, attribute, staticmethod(wrapper) if static else wrapper)

    def reset(self) -> None:
        self.cpu.clear()
        self.wall.clear()


def instrument(db: Any, stages: Stages) -> None:
    from elephant.retrieval import lexical, search
    from elephant.retrieval.search import HybridSearch

    embedder = db.indexer.embedder()
    stages.wrap(embedder, "embed_query", "embed")
    # Before the ranking budget (issue 16) the terms were chosen by _affordable_terms.
    chooser = "plan_match" if hasattr(lexical, "plan_match") else "_affordable_terms"
    stages.wrap(lexical, chooser, "lexical: term choice")
    stages.wrap(HybridSearch, "lexical", "lexical: ranking")
    stages.wrap(HybridSearch, "_candidates", "SQL candidates")
    stages.wrap(HybridSearch, "dense", "dense: matrix / ANN")
    stages.wrap(HybridSearch, "_live", "liveness (filtered)")
    stages.wrap(HybridSearch, "_live_keys", "liveness (unfiltered)")
    stages.wrap(HybridSearch, "_stamp", "stamp")
    stages.wrap(search, "fuse", "fusion")
    stages.wrap(HybridSearch, "hits", "hits")
    stages.wrap(HybridSearch, "search", "other (connection, glue)")


def shape_call(db: Any, name: str, queries: list[str]) -> Callable[[int], Any]:
    arguments = SHAPES[name]
    if "model" in arguments:
        return lambda i: db.search(queries[i], model=MODELS[i % len(MODELS)])
    return lambda i: db.search(queries[i], **arguments)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--model", default="fake")
    parser.add_argument("--cprofile", choices=list(SHAPES), default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args()
    os.environ["ELEPHANT_MODEL"] = args.model
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import elephant

    db = elephant.open(args.home, search_cache=0)
    db.indexer.matrix()  # loaded before timing, as a warm worker has it
    queries = search_queries(args.queries + 20)
    if args.cprofile:
        call = shape_call(db, args.cprofile, queries)
        for i in range(5):
            call(i)
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        for i in range(args.queries):
            call(5 + i)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return 0
    stages = Stages()
    instrument(db, stages)
    report: dict[str, Any] = {"records": db.counts().get("_records", 0), "queries": args.queries,
                              "load_average": [round(x, 2) for x in os.getloadavg()], "shapes": {}}
    for name in SHAPES:
        call = shape_call(db, name, queries)
        for i in range(5):
            call(i)
        stages.reset()
        cpu_total, process_total, wall_total = [], [], []
        for i in range(args.queries):
            c0, p0, w0 = time.thread_time(), time.process_time(), time.perf_counter()
            call(5 + i)
            cpu_total.append((time.thread_time() - c0) * 1000)
            process_total.append((time.process_time() - p0) * 1000)
            wall_total.append((time.perf_counter() - w0) * 1000)
        per = {stage: {"cpu_ms": round(stages.cpu[stage] * 1000 / args.queries, 2),
                       "wall_ms": round(stages.wall[stage] * 1000 / args.queries, 2)} for stage in stages.cpu}
        report["shapes"][name] = {"cpu_ms_p50": round(statistics.median(cpu_total), 2),
                                  "cpu_ms_mean": round(statistics.fmean(cpu_total), 2),
                                  "process_cpu_ms_p50": round(statistics.median(process_total), 2),
                                  "wall_ms_p50": round(statistics.median(wall_total), 2),
                                  "wall_ms_mean": round(statistics.fmean(wall_total), 2), "stages": per}
        print(f"\n{name}: CPU p50 {report['shapes'][name]['cpu_ms_p50']} ms (mean "
              f"{report['shapes'][name]['cpu_ms_mean']}; all threads {report['shapes'][name]['process_cpu_ms_p50']}), wall p50 {report['shapes'][name]['wall_ms_p50']} ms")
        for stage, figures in sorted(per.items(), key=lambda kv: -kv[1]["cpu_ms"]):
            print(f"  {stage:<28} CPU {figures['cpu_ms']:>7.2f} ms   wall {figures['wall_ms']:>7.2f} ms  (mean per search)")
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
