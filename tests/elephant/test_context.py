"""Context packs: within budget whatever the budget, most useful first, cited, current versions only."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elephant.answers.context import ContextPack, build_context, render_fact
from elephant.errors import InvalidInput, UsageError

RECORDS: list[dict[str, Any]] = [
    {"kind": "optimization", "key": "ranker/int8-dynamic-2026-03", "title": "INT8 dynamic quantization of ranker v3",
     "model": "ranker", "occurred_at": "2026-03-12", "tags": ["latency", "onnx"],
     "fields": {"technique": "quantization_int8", "outcome": "rolled_back", "accuracy_metric": "ndcg@10",
                "baseline": {"latency_ms_p99": 45, "throughput_qps": 1200, "accuracy": 0.412},
                "result": {"latency_ms_p99": 18, "throughput_qps": 2100, "accuracy": 0.404},
                "reason": "NDCG dropped 0.8 pt on the long-tail queries"},
     "body": "Dynamic INT8 with onnxruntime, per-channel weights."},
    {"kind": "optimization", "key": "ranker/fp16-2026-01", "title": "FP16 ranker on T4",
     "model": "ranker", "occurred_at": "2026-01-20",
     "fields": {"technique": "quantization_fp16", "outcome": "adopted",
                "baseline": {"latency_ms_p99": 60}, "result": {"latency_ms_p99": 45}}},
    {"kind": "benchmark", "key": "ranker/bench-2026-03-10", "title": "ranker v3 baseline benchmark",
     "model": "ranker", "occurred_at": "2026-03-10",
     "fields": {"hardware": "c6i.2xlarge", "scenario": "server", "batch_size": 8, "concurrency": 16,
                "latency_ms": {"p50": 21, "p99": 45}, "throughput_qps": 1200, "accuracy": {"ndcg@10": 0.412}}},
    {"kind": "incident", "key": "ranker/inc-2026-03-14", "title": "ranker p99 spike after INT8 rollout",
     "model": "ranker", "occurred_at": "2026-03-14",
     "fields": {"severity": "sev2", "symptom": "p99 above 80 ms for 20 minutes", "root_cause": "INT8 kernel "
                "saturation on AVX2 hosts", "rollback_key": "ranker/rollback"}},
    {"kind": "rollback_procedure", "key": "ranker/rollback", "title": "Roll the ranker back to the FP16 model",
     "model": "ranker", "fields": {"applies_to": "ranker", "trigger": "p99 over budget for 5 minutes",
                                   "steps": ["pin the previous model version", "drain canary pods"]}},
    {"kind": "serving_config", "key": "ranker/serving", "title": "ranker Triton config", "model": "ranker",
     "fields": {"runtime": "triton", "hardware": "T4", "replicas": 4, "precision": "fp16",
                "batching": {"max_batch_size": 32, "max_queue_delay_ms": 2}}},
    {"kind": "deployment", "key": "search/canary-2026-02", "title": "search encoder canary", "model": "search",
     "occurred_at": "2026-02-02", "fields": {"strategy": "canary", "traffic_percent": 5, "from_version": "v7",
                                             "to_version": "v8", "status": "succeeded"}},
    {"kind": "feature_definition", "key": "features/user-ctr", "title": "user CTR 7d", "model": "ranker",
     "fields": {"feature": "user_ctr_7d", "entity": "user", "parity": "drift", "skew_metric": 0.07}},
    {"kind": "note", "key": "notes/quantization-lessons", "title": "What we learned about quantization",
     "body": "# Lessons\n\nINT8 needs calibration on real traffic; static quantization beat dynamic on CNNs."},
]


@pytest.fixture
def filled(db: Any) -> Any:
    report = db.put_many(RECORDS)
    assert report.ok, report.problems
    return db


def count_tokens(db: Any, text: str) -> int:
    return int(db.embedder.count_tokens(text))


def check_pack(db: Any, pack: ContextPack) -> None:
    """The invariants every pack keeps."""
    assert pack.tokens <= pack.budget
    assert pack.tokens == count_tokens(db, pack.context)
    keys = [c.rsplit("@", 1)[0] for c in pack.citations]
    assert len(keys) == len(set(keys)), "a key is cited twice"
    for citation in pack.citations:
        key, version = citation.rsplit("@", 1)
        stored = db.get(key, version=int(version))
        assert stored.version == db.get(key).version, f"{citation} is not the current version"
        assert f"[{citation}]" in pack.context


def test_pack_cites_current_versions_and_leaves_superseded_out(filled: Any) -> None:
    changed = dict(RECORDS[0], fields={**RECORDS[0]["fields"], "reason": "reverted after the p99 incident"})
    assert filled.put(changed).version == 2
    pack = filled.context("INT8 quantization ranker", budget=2000)
    check_pack(filled, pack)
    assert "ranker/int8-dynamic-2026-03@2" in pack.citations
    assert "ranker/int8-dynamic-2026-03@1" not in pack.context
    assert "reverted after the p99 incident" in pack.context
    assert "long-tail queries" not in pack.context  # the superseded version's reason
    assert pack.tokenizer.endswith("tokenizer")
    assert "Fits 2000 tokens" in pack.context  # the block says how it was counted


def test_deleted_records_are_not_cited(filled: Any) -> None:
    filled.delete("ranker/inc-2026-03-14")
    pack = filled.context("ranker p99 spike INT8 incident", budget=2000)
    check_pack(filled, pack)
    assert not any(c.startswith("ranker/inc-2026-03-14@") for c in pack.citations)


def test_facts_carry_numbers(filled: Any) -> None:
    pack = filled.context("INT8 quantization", budget=2000, model="ranker")
    line = next(x for x in pack.context.splitlines() if "ranker/int8-dynamic-2026-03@1" in x)
    assert "p99 45 → 18 ms (−60 %)" in line
    assert "rolled back" in line
    assert line.startswith("- 2026-03-12")


def test_no_memory_found_is_explicit(db: Any) -> None:
    pack = db.context("INT8 quantization", budget=200)
    assert pack.citations == []
    assert "No memory found" in pack.context
    assert not pack.truncated
    check_pack(db, pack)


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 8, 13, 21, 34, 55])
def test_tiny_budgets_never_overflow(filled: Any, budget: int) -> None:
    pack = filled.context("ranker INT8 quantization p99 incident rollback", budget=budget)
    check_pack(filled, pack)
    assert pack.truncated


def test_bigger_budget_holds_more_and_truncation_is_reported(filled: Any) -> None:
    small = filled.context("ranker quantization", budget=80)
    large = filled.context("ranker quantization", budget=3000)
    check_pack(filled, small)
    check_pack(filled, large)
    assert len(large.citations) > len(small.citations) >= 1
    assert small.truncated and not large.truncated
    assert set(small.citations) <= set(large.citations)


def test_ask_attempts_come_first_and_stale_or_duplicate_hits_collapse(filled: Any) -> None:
    """With answers and search present, attempts lead; a stale index hit (v1) is cited at its current version."""
    filled.put(dict(RECORDS[1], title="FP16 ranker on T4 (re-measured)"))  # v2

    class Answer:
        def to_dict(self) -> dict[str, Any]:
            return {"question": "q", "answer": "", "citations": [], "degraded": False,
                    "attempts": [{"key": "ranker/fp16-2026-01", "version": 1},
                                 {"key": "ranker/int8-dynamic-2026-03", "version": 1}]}

    class Results:
        def to_dict(self) -> dict[str, Any]:
            return {"degraded": True, "results": [{"key": "ranker/int8-dynamic-2026-03", "version": 1},
                                                  {"key": "ranker/bench-2026-03-10", "version": 1},
                                                  {"key": "ranker/fp16-2026-01", "version": 1},
                                                  {"key": "gone/never-existed", "version": 3}]}

    filled.ask = lambda question, model=None: Answer()
    filled.search = lambda query, model=None, k=10, **_: Results()
    pack = build_context(filled, "what did we try", budget=2000)
    check_pack(filled, pack)
    assert pack.citations == ["ranker/fp16-2026-01@2", "ranker/int8-dynamic-2026-03@1", "ranker/bench-2026-03-10@1"]
    assert pack.degraded
    text = pack.context
    assert text.index("What was tried") < text.index("Related records")


def test_same_content_under_two_keys_is_one_fact(db: Any) -> None:
    twin = dict(RECORDS[2], key="mirror/bench-2026-03-10")
    db.put_many([RECORDS[2], twin])
    pack = db.context("ranker v3 baseline benchmark", budget=1000)
    check_pack(db, pack)
    assert len(pack.citations) == 1


@pytest.mark.parametrize("budget", [0, -5, True, 10**9])
def test_bad_budget_is_a_usage_error(db: Any, budget: Any) -> None:
    with pytest.raises(UsageError, match="budget"):
        db.context("x", budget=budget)


def test_empty_query_is_a_usage_error(db: Any) -> None:
    with pytest.raises(UsageError, match="query"):
        db.context("   ", budget=100)


QUERY_WORDS = ["ranker", "INT8", "quantization", "p99", "incident", "rollback", "canary", "FP16", "benchmark",
               "latency", "T4", "triton", "drift", "search", "what", "did", "we", "try", "last", "time", "émoji 🐘",
               "\"quoted\"", "x" * 300]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=50, max_value=2000),
       words=st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=6),
       model=st.sampled_from([None, "ranker", "search", "nope"]))
def test_property_pack_never_exceeds_budget(filled: Any, budget: int, words: list[str], model: str | None) -> None:
    pack = filled.context(" ".join(words), budget=budget, model=model)
    check_pack(filled, pack)
    data = pack.to_dict()
    assert set(data) >= {"context", "tokens", "budget", "citations", "truncated"}
    assert data["budget"] == budget


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(min_size=1, max_size=300).filter(str.strip), budget=st.integers(min_value=1, max_value=3000))
def test_property_any_text_query_packs_or_is_refused_cleanly(filled: Any, query: str, budget: int) -> None:
    try:
        pack = filled.context(query, budget=budget)
    except (UsageError, InvalidInput):  # InvalidInput: text no database can store (a NUL), named as such
        return
    check_pack(filled, pack)


def test_render_fact_short_form_keeps_citation() -> None:
    fact = render_fact(RECORDS[3], 7, section="related")
    assert fact.line.endswith("[ranker/inc-2026-03-14@7]")
    assert fact.short == "- **ranker p99 spike after INT8 rollout** [ranker/inc-2026-03-14@7]"
    assert "severity sev2" in fact.line


@pytest.mark.model
def test_real_tokenizer_counts_the_pack(real_model: Any) -> None:
    import elephant

    with elephant.open() as db:
        db.put_many(RECORDS)
        count = db.embedder.count_tokens
        for budget in (40, 120, 400, 2000):
            pack = db.context("INT8 quantization of the ranker", budget=budget)
            assert pack.tokens <= budget
            assert pack.tokens == count(pack.context)
            assert "all-MiniLM-L6-v2 tokenizer" in pack.tokenizer
            assert not pack.degraded
            # Packing adds up per-line counts; WordPiece splits on whitespace first, so that sum is exact.
            assert sum(count(line) for line in pack.context.splitlines()) == pack.tokens
        full = db.context("INT8 quantization", budget=2000)
        assert "all-MiniLM-L6-v2 tokenizer" in full.context
        assert "ranker/int8-dynamic-2026-03@1" in full.citations
        # Word pieces, not words: "quantization" and the numbers split into several tokens.
        assert full.tokens > len(full.context.split())


def test_without_the_model_the_pack_is_degraded_but_still_fits(filled: Any, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Any) -> None:
    """No built model: tokens are over-estimated (never under), search falls back to lexical, and it says so."""
    import elephant
    from elephant.errors import ModelError

    monkeypatch.setenv("ELEPHANT_MODEL", "int8")
    monkeypatch.setenv("ELEPHANT_MODEL_DIR", str(tmp_path / "no-models"))
    with elephant.open() as db:
        with pytest.raises(ModelError):
            _ = db.embedder
        pack = db.context("INT8 quantization ranker", budget=400)
        assert pack.degraded
        assert "estimate" in pack.tokenizer
        assert pack.tokens <= 400
        assert pack.tokens >= len(pack.context.split())  # an over-estimate of any word-piece count
        assert pack.citations and pack.citations[0].startswith("ranker/")


def test_index_built_by_another_model_degrades_to_the_answer(filled: Any) -> None:
    from elephant.errors import FingerprintMismatch

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise FingerprintMismatch("index built with another embedder: run elephant reindex")

    filled.search = refuse
    pack = filled.context("what did we try last time to cut ranker p99?", budget=800)
    check_pack(filled, pack)
    assert pack.degraded
    assert "ranker/int8-dynamic-2026-03@1" in pack.citations
    assert "Related records" not in pack.context
