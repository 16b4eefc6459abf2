"""Retrieval quality on the development set: hit@1, hit@5 and MRR per retriever, in one run.

    .venv/bin/python bench/retrieval.py [--model int8|fp32|fake] [--corpus] [--questions FILE ...]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("ELEPHANT_MODEL", "int8"))
    parser.add_argument("--corpus", action="store_true", help="also ingest ../shared/corpus and score its questions")
    parser.add_argument("--questions", nargs="*", type=Path, default=None,
                        help="question files over the history (default: fixtures/eval/questions*.yaml)")
    args = parser.parse_args()
    os.environ["ELEPHANT_MODEL"] = args.model
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import elephant

    report: dict[str, Any] = {"model": args.model}
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
    hist = report["history"]["results"]
    beats = all(hist["hybrid"][m] >= max(hist["dense"][m], hist["lexical"][m]) for m in ("mrr", "hit@5"))
    print(f"\nhybrid ≥ dense and lexical on MRR and hit@5: {'yes' if beats else 'NO'}")
    report["hybrid_beats_both"] = beats
    out = write_report("retrieval", report)
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
