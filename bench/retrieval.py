"""Retrieval quality on the development set: hit@1, hit@5 and MRR per retriever, in one run.

    .venv/bin/python bench/retrieval.py [--model int8|fp32|fake] [--corpus] [--questions FILE ...]

Also the held-out team histories of issue 15 (fixtures/eval/team-dev … team-dev15, tuned on, and
team-test … team-test12, only scored: their missed questions are not written): per question family, hit@1, hit@5, the outcome of the top attempt and correct "none" answers
(``found: false`` for ask; an empty list for the others), for ask next to dense-only, lexical-only and
hybrid search on the same questions.

Retrievers are a dict of named functions ``(db, question) -> ranked keys``, so another one (e.g.
``ask``) is one more entry. The history (fixtures/eval/history*.yaml) is loaded into a fresh home;
with ``--corpus`` the shared corpus is ingested too and its questions (expected source paths) are
scored. Writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from stats import write_report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EVAL = REPO / "fixtures" / "eval"
CORPUS = REPO.parent / "shared" / "corpus"
DEPTH = 10

Retriever = Callable[[Any, dict[str, Any]], list[str]]


def _filters(question: dict[str, Any]) -> Any:
    from elephant.retrieval.search import Filters

    return Filters.of(**(question.get("filters") or {}))


def dense(db: Any, question: dict[str, Any]) -> list[str]:
    from elephant.retrieval.search import HybridSearch

    return [k for k, _s in HybridSearch(db.store, db.indexer).dense(question["q"], _filters(question), n=DEPTH)]


def lexical(db: Any, question: dict[str, Any]) -> list[str]:
    from elephant.retrieval.search import HybridSearch

    return [k for k, _s in HybridSearch(db.store, db.indexer).lexical(question["q"], _filters(question), n=DEPTH)]


def hybrid(db: Any, question: dict[str, Any]) -> list[str]:
    return [h.key for h in db.search(question["q"], k=DEPTH, **(question.get("filters") or {})).results]


def ask(db: Any, question: dict[str, Any]) -> list[str]:
    return [a["key"] for a in db.ask(question["q"], k=DEPTH).attempts]


RETRIEVERS: dict[str, Retriever] = {"dense": dense, "lexical": lexical, "hybrid": hybrid, "ask": ask}
DEV_SETS = tuple(["team-dev"] + [f"team-dev{i}" for i in range(2, 16)])
# Held out: only scored, never tuned on — their missed questions are not written anywhere.
TEST_SETS = tuple(["team-test"] + [f"team-test{i}" for i in range(2, 13)])
TEAM_SETS = DEV_SETS + TEST_SETS
HELD_OUT = frozenset(TEST_SETS)


def _answer(db: Any, name: str, question: dict[str, Any]) -> tuple[list[str], bool]:
    """(ranked keys, whether the retriever says something matched) for one family question."""
    if name == "ask":
        response = db.ask(question["q"], k=DEPTH)
        return [a["key"] for a in response.attempts], bool(response.found)
    keys = RETRIEVERS[name](db, question)
    return keys, bool(keys)


def evaluate_families(db: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Per retriever and family: hit@1, hit@5, outcome of the top record, correct "none"; plus the totals."""
    outcomes = {r.key: _outcome(r) for r in db.store.iter_current()}
    out: dict[str, Any] = {}
    for name in RETRIEVERS:
        rows: dict[str, dict[str, float]] = {}
        misses: list[str] = []
        for item in questions:
            keys, found = _answer(db, name, item)
            row = rows.setdefault(item.get("family", "other"), {"n": 0, "hit@1": 0, "hit@5": 0, "outcome_n": 0,
                                                                "outcome": 0, "none_n": 0, "none": 0})
            row["n"] += 1
            if item.get("none"):
                row["none_n"] += 1
                ok = not found
                row["none"] += ok
                row["hit@1"] += ok
                row["hit@5"] += ok
            else:
                wanted = {item["expected"], *(item.get("also") or [])}
                ok = keys[:1] == [item["expected"]]
                row["hit@1"] += ok
                row["hit@5"] += bool(set(keys[:5]) & wanted)
            if item.get("outcome") and not item.get("none"):
                row["outcome_n"] += 1
                row["outcome"] += bool(keys) and outcomes.get(keys[0]) == item["outcome"]
            if not ok:
                misses.append(item["q"])
        out[name] = {"families": {f: _rates(r) for f, r in sorted(rows.items())},
                     "total": _rates({k: sum(r[k] for r in rows.values()) for k in next(iter(rows.values()))}),
                     "missed_at_1": misses}
    return out


def _outcome(record: Any) -> str | None:
    from elephant.answers.markdown import outcome_of

    return outcome_of(record.kind, record.envelope.get("fields") or {})


def _rates(row: dict[str, float]) -> dict[str, Any]:
    n = max(1, row["n"])
    return {"n": int(row["n"]), "hit@1": round(row["hit@1"] / n, 3), "hit@5": round(row["hit@5"] / n, 3),
            "outcome": round(row["outcome"] / row["outcome_n"], 3) if row["outcome_n"] else None,
            "none": round(row["none"] / row["none_n"], 3) if row["none_n"] else None}


def print_families(title: str, results: dict[str, Any]) -> None:
    print(f"\n{title}: per family (ask | dense | lexical | hybrid), hit@1 / hit@5 / outcome / none")
    families = list(results["ask"]["families"])
    print(f"{'family':<18} {'n':>3}  {'ask':<23} {'dense':<23} {'lexical':<23} {'hybrid':<23}")
    for family in [*families, "TOTAL"]:
        cells = []
        for name in ("ask", "dense", "lexical", "hybrid"):
            row = results[name]["total"] if family == "TOTAL" else results[name]["families"][family]
            cells.append(" ".join("  - " if row[m] is None else f"{row[m]:.2f}"
                                  for m in ("hit@1", "hit@5", "outcome", "none")))
        n = results["ask"]["total" if family == "TOTAL" else "families"]
        n = n["n"] if family == "TOTAL" else n[family]["n"]
        print(f"{family:<18} {n:>3}  " + " ".join(f"{c:<23}" for c in cells))


def run_team_sets(report: dict[str, Any]) -> None:
    import elephant

    for name in TEAM_SETS:
        folder = EVAL / name
        if not (folder / "questions.yaml").exists():
            continue
        questions = yaml.safe_load((folder / "questions.yaml").read_text())["questions"]
        with tempfile.TemporaryDirectory() as home, elephant.open(home, search_cache=0) as db:
            for file in ("history.yaml", "history_updates.yaml"):
                assert db.put_files([folder / file]).ok
            db.process_outbox()
            results = evaluate_families(db, questions)
        if name in HELD_OUT:
            for row in results.values():
                row.pop("missed_at_1", None)
        report[name] = {"questions": len(questions), "results": results}
        print_families(f"{name} ({len(questions)} questions)", results)
    pooled: dict[str, Any] = {}
    for half, names in (("dev", DEV_SETS), ("test", TEST_SETS)):
        rows = [report[n] for n in names if n in report]
        count = sum(r["questions"] for r in rows)
        if not count:
            continue
        pooled[half] = {"sets": len(rows), "questions": count} | {
            retriever: {m: round(sum(r["results"][retriever]["total"][m] * r["questions"] for r in rows) / count, 3)
                        for m in ("hit@1", "hit@5")} for retriever in RETRIEVERS}
        cells = "  ".join(f"{r} {pooled[half][r]['hit@1']:.3f} / {pooled[half][r]['hit@5']:.3f}" for r in RETRIEVERS)
        print(f"\npooled {half} ({len(rows)} sets, {count} questions), hit@1 / hit@5: {cells}")
    report["pooled"] = pooled


def score(ranked: list[str], expected: set[str]) -> dict[str, float]:
    rank = next((i for i, key in enumerate(ranked, start=1) if key in expected), None)
    return {"hit@1": float(rank == 1), "hit@5": float(rank is not None and rank <= 5),
            "mrr": 1.0 / rank if rank else 0.0}


def evaluate(db: Any, questions: list[dict[str, Any]], expected_of: Callable[[dict[str, Any]], set[str]],
             retrievers: dict[str, Retriever], key_map: Callable[[str], str] = lambda k: k) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, retrieve in retrievers.items():
        totals = {"hit@1": 0.0, "hit@5": 0.0, "mrr": 0.0}
        misses = []
        started = time.perf_counter()
        for question in questions:
            ranked = [key_map(k) for k in retrieve(db, question)]
            got = score(ranked, expected_of(question))
            for metric, value in got.items():
                totals[metric] += value
            if not got["hit@5"]:
                misses.append(question["q"])
        n = max(1, len(questions))
        out[name] = {**{m: round(v / n, 3) for m, v in totals.items()},
                     "ms_per_query": round((time.perf_counter() - started) * 1000 / n, 2), "missed_at_5": misses}
    return out


def print_table(title: str, results: dict[str, Any], count: int) -> None:
    print(f"\n{title} ({count} questions)")
    print(f"{'retriever':<10} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'ms/q':>7}")
    for name, row in results.items():
        print(f"{name:<10} {row['hit@1']:>6.3f} {row['hit@5']:>6.3f} {row['mrr']:>6.3f} {row['ms_per_query']:>7.2f}")


def _cpu() -> str:
    name = "unknown CPU"
    try:
        name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("ELEPHANT_MODEL", "int8"))
    parser.add_argument("--corpus", action="store_true", help="also ingest ../shared/corpus and score its questions")
    parser.add_argument("--team-only", action="store_true", help="only the team-dev and team-test sets")
    parser.add_argument("--questions", nargs="*", type=Path, default=None,
                        help="question files over the history (default: fixtures/eval/questions*.yaml)")
    args = parser.parse_args()
    os.environ["ELEPHANT_MODEL"] = args.model
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import elephant

    report: dict[str, Any] = {"model": args.model, "cpu": _cpu(), "date": time.strftime("%Y-%m-%d"),
                              "load_average": [round(x, 1) for x in os.getloadavg()]}
    print(f"CPU: {report['cpu']}, load average {report['load_average'][0]:g}")
    if args.team_only:
        run_team_sets(report)
        out = write_report("retrieval", report)
        print(f"wrote {out.relative_to(REPO)}")
        return 0
    files = args.questions or sorted(EVAL.glob("questions*.yaml"))
    questions = [q for f in files for q in yaml.safe_load(f.read_text())["questions"] if "expected" in q]
    with tempfile.TemporaryDirectory() as home, elephant.open(home, search_cache=0) as db:
        report["embedder"] = db.embedder.fingerprint
        for name in ("history.yaml", "history_updates.yaml"):
            assert db.put_files([EVAL / name]).ok
        db.process_outbox()
        results = evaluate(db, questions, lambda q: set(q["expected"]), RETRIEVERS)
        report["history"] = {"questions": len(questions), "files": [f.name for f in files], "results": results}
        print(f"embedder: {report['embedder']}")
        print_table("team history", results, len(questions))
        # "What did we try" questions (fixtures/eval/ask_questions.yaml): `expected` must come FIRST.
        asked = [q for q in yaml.safe_load((EVAL / "ask_questions.yaml").read_text())["questions"] if q.get("expected")]
        ask_results = evaluate(db, asked, lambda q: {q["expected"]}, RETRIEVERS)
        report["ask_questions"] = {"questions": len(asked), "results": ask_results}
        print_table("what-did-we-try questions (expected first)", ask_results, len(asked))
        margin = ask_results["ask"]["hit@1"] - ask_results["dense"]["hit@1"]
        print(f"ask hit@1 {ask_results['ask']['hit@1']:.3f} (target ≥ 0.9), {margin * 100:+.0f} points over dense-only "
              f"(target ≥ +25)")
    if args.corpus:
        corpus_questions = yaml.safe_load((EVAL / "corpus_questions.yaml").read_text())["questions"]
        with tempfile.TemporaryDirectory() as home, elephant.open(home, search_cache=0) as db:
            started = time.perf_counter()
            db.ingest([CORPUS])
            db.process_outbox()
            print(f"\ningested the corpus in {time.perf_counter() - started:.1f} s")
            paths = {r.key: (r.envelope.get("source") or {}).get("path", "") for r in db.store.iter_current()}
            results = evaluate(db, corpus_questions, lambda q: set(q["expected_paths"]), RETRIEVERS,
                               key_map=lambda k: paths.get(k, k))
            report["corpus"] = {"questions": len(corpus_questions), "results": results}
            print_table("shared corpus", results, len(corpus_questions))
    run_team_sets(report)
    hist = report["history"]["results"]
    beats = all(hist["hybrid"][m] >= max(hist["dense"][m], hist["lexical"][m]) for m in ("mrr", "hit@5"))
    print(f"\nhybrid ≥ dense and lexical on MRR and hit@5: {'yes' if beats else 'NO'}")
    report["hybrid_beats_both"] = beats
    out = write_report("retrieval", report)
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
