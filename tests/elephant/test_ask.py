"""``ask``: recency, current outcomes, time bounds, unknown models and degraded mode, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elephant.answers import Answerer
from elephant.errors import UsageError


def opt(key: str, when: str, technique: str, outcome: str, *, model: str = "ranker", title: str | None = None,
        p99: tuple[float, float] = (45, 20), links: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"kind": "optimization", "key": key, "title": title or f"{technique} on {model} ({when})", "model": model,
            "occurred_at": when, "links": links or [],
            "fields": {"technique": technique, "outcome": outcome,
                       "baseline": {"latency_ms_p99": p99[0]}, "result": {"latency_ms_p99": p99[1]}, **extra}}


def deploy(key: str, when: str, strategy: str, status: str, *, model: str = "ranker", title: str = "") -> dict[str, Any]:
    return {"kind": "deployment", "key": key, "title": title or f"{strategy} of {model}", "model": model,
            "occurred_at": when, "fields": {"strategy": strategy, "traffic_percent": 10, "status": status}}


def keys(response: Any) -> list[str]:
    return [a["key"] for a in response.attempts]


def test_latest_attempt_first_and_current_outcome_of_a_superseded_version(db: Any) -> None:
    db.put_many([
        opt("ranker/int8-2025", "2025-01-10", "quantization_int8", "adopted", title="Dynamic INT8 of the ranker"),
        opt("ranker/int8-2026", "2026-03-01", "quantization_int8", "in_progress", title="Static INT8 of the ranker",
            p99=(45, 18)),
        opt("ranker/distill", "2026-04-01", "distillation", "adopted"),
    ])
    # The 2026 attempt was recorded in progress, then rolled back: the answer must say so.
    db.put(opt("ranker/int8-2026", "2026-03-01", "quantization_int8", "rolled_back", title="Static INT8 of the ranker",
               p99=(45, 18), reason="calibration drift"))
    response = db.ask("did we already try int8 on the ranker? what happened?")
    assert keys(response)[:2] == ["ranker/int8-2026", "ranker/int8-2025"]
    assert "ranker/distill" not in keys(response)
    first = response.attempts[0]
    assert first["outcome"] == "rolled_back" and first["version"] == 2
    assert response.answer.startswith("**Yes**")
    assert "rolled back: calibration drift" in response.answer
    assert "in progress" not in response.answer
    assert "p99 45 → 18 ms (−60 %)" in response.answer
    assert response.citations[0] == "ranker/int8-2026@2"


def test_a_cached_record_is_read_again_once_it_changes(db: Any) -> None:
    db.put(opt("ranker/int8", "2025-01-10", "quantization_int8", "in_progress", title="Static INT8 of the ranker"))
    assert db.ask("did int8 work for the ranker?").attempts[0]["outcome"] == "in_progress"
    db.put(opt("ranker/int8", "2025-01-10", "quantization_int8", "rolled_back", title="Static INT8 of the ranker",
               reason="calibration drift", links=[{"rel": "caused", "key": "ranker/inc"}]))
    db.put({"kind": "incident", "key": "ranker/inc", "title": "Accuracy alert", "model": "ranker",
            "occurred_at": "2025-01-12", "fields": {"severity": "sev2"}})
    response = db.ask("did int8 work for the ranker?")
    first = response.attempts[0]
    assert (first["key"], first["version"], first["outcome"]) == ("ranker/int8", 2, "rolled_back")
    assert "rolled back: calibration drift" in response.answer and "ranker/inc@1" in response.citations


def test_a_small_word_cache_keeps_its_bound_and_the_same_answers(db: Any) -> None:
    from elephant.answers.attempts import WordCache

    db.put_many([opt(f"ranker/try-{i}", f"2025-01-{10 + i}", "quantization_int8", "adopted") for i in range(6)])
    expected = db.ask("int8 on the ranker").to_dict()
    small = Answerer(db.store)
    small.words = WordCache(size=2)
    assert small.ask("int8 on the ranker").to_dict() == expected  # no search needed: model and technique named
    assert len(small.words) == 2


def test_priming_digests_the_newest_records_and_answers_stay_the_same(db: Any) -> None:
    import threading

    from elephant.answers.attempts import WordCache

    db.put_many([opt(f"ranker/try-{i}", f"2025-01-{10 + i}", "quantization_int8", "adopted") for i in range(6)])
    db.delete("ranker/try-0")
    expected = db.ask("int8 on the ranker").to_dict()
    primed = Answerer(db.store)
    primed.words = WordCache(size=4)
    assert primed.prime(batch=3, pause_s=0) == 4  # the newest 4 live records, within the cache's size
    assert {key for key in primed.words._entries} == {f"ranker/try-{i}" for i in (2, 3, 4, 5)}
    assert primed.prime() == 0  # nothing left to digest
    assert primed.ask("int8 on the ranker").to_dict() == expected
    stopped = Answerer(db.store)
    stop = threading.Event()
    stop.set()
    assert stopped.prime(stop=stop) == 0 and len(stopped.words) == 0


def test_a_model_question_reads_its_pool_once_even_when_search_adds_a_second_pass(db: Any, monkeypatch: Any) -> None:
    from elephant.answers import ask as ask_module

    db.put_many([opt("ranker/int8", "2025-01-10", "quantization_int8", "adopted"),
                 opt("ranker/distill", "2025-02-10", "distillation", "rejected")])
    loads: list[list[str]] = []
    real = ask_module.load_pool

    def counting(conn: Any, question: Any, cache: Any, **kw: Any) -> Any:
        loads.append(list(question.models))
        return real(conn, question, cache, **kw)

    gathers: list[bool] = []
    real_gather = ask_module.Answerer._gather

    def gather(self: Any, *args: Any, **kw: Any) -> Any:
        gathers.append(bool(kw["ranked"]))
        return real_gather(self, *args, **kw)

    monkeypatch.setattr(ask_module, "load_pool", counting)
    monkeypatch.setattr(ask_module.Answerer, "_gather", gather)
    # "zeppelin" is in no record: search runs and the answer is gathered a second time.
    response = db.ask("did int8 work for the ranker zeppelin?")
    assert keys(response)[0] == "ranker/int8"
    assert gathers == [False, True] and loads == [["ranker"]]


def test_synonyms_reach_the_technique(db: Any) -> None:
    db.put_many([opt("ranker/q", "2025-05-01", "quantization_int8", "adopted", title="Static calibration run"),
                 opt("ranker/d", "2025-06-01", "distillation", "rejected", title="Four-layer variant"),
                 deploy("ranker/canary", "2025-07-01", "canary", "succeeded")])
    assert keys(db.ask("have we tried 8-bit weights on the ranker?"))[0] == "ranker/q"
    assert keys(db.ask("did a smaller student model work for the ranker?"))[0] == "ranker/d"
    assert keys(db.ask("how did the ranker canary go?"))[0] == "ranker/canary"


def test_before_x_lists_the_attempts_that_preceded_it_newest_first(db: Any) -> None:
    db.put_many([
        opt("ranker/int8", "2025-01-10", "quantization_int8", "rejected"),
        opt("ranker/prune", "2025-05-10", "pruning", "adopted"),
        opt("ranker/trt", "2025-09-10", "tensorrt", "adopted", title="TensorRT engine for the ranker"),
        opt("ranker/distill", "2025-12-10", "distillation", "adopted"),
    ])
    response = db.ask("what did we try before TensorRT on the ranker?")
    assert keys(response) == ["ranker/prune", "ranker/int8"]
    assert "ranker/trt@1" in response.citations  # the anchor is cited
    after = db.ask("what did we try on the ranker after TensorRT?")
    assert keys(after) == ["ranker/distill"]


def test_first_time_orders_oldest_first(db: Any) -> None:
    db.put_many([opt("ranker/a", "2025-01-10", "quantization_int8", "rejected"),
                 opt("ranker/b", "2025-06-10", "quantization_int8", "adopted")])
    assert keys(db.ask("what was our first int8 attempt on the ranker?")) == ["ranker/a", "ranker/b"]


def test_month_and_year_bounds(db: Any) -> None:
    db.put_many([deploy("ranker/d-2025-03", "2025-03-05", "canary", "succeeded"),
                 deploy("ranker/d-2026-03", "2026-03-05", "canary", "rolled_back"),
                 deploy("ranker/d-2026-05", "2026-05-05", "canary", "succeeded")])
    # "in March" without a year: the most recent March that has matching records.
    assert keys(db.ask("what did we deploy on the ranker in March?")) == ["ranker/d-2026-03"]
    assert keys(db.ask("ranker deployments in March 2025")) == ["ranker/d-2025-03"]
    answerer = Answerer(db.store)
    this_year = answerer.ask("which ranker deployments this year?", now=datetime(2025, 8, 1, tzinfo=UTC))
    assert keys(this_year) == ["ranker/d-2025-03"]
    nothing = answerer.ask("ranker canary in July?")
    assert keys(nothing) == [] and "Nothing matches" in nothing.answer


def test_a_model_without_records_says_so_and_shows_the_closest(db: Any) -> None:
    db.put_many([opt("ranker/int8", "2025-01-10", "quantization_int8", "adopted")])
    response = db.ask("did we try int8 on the payments-gateway model?")
    assert response.attempts == []
    assert response.answer.startswith("**Nothing in memory about 'payments-gateway'**")
    assert "ranker/int8@1" in response.citations  # shown as closest, not as an answer
    explicit = db.ask("did we try int8?", model="fraud")
    assert explicit.attempts == [] and "'fraud'" in explicit.answer


def test_empty_store_and_unmatched_question(db: Any) -> None:
    response = db.ask("what did we try last time?")
    assert response.attempts == [] and response.citations == []
    assert "nothing in memory" in response.answer.lower()


def test_links_are_followed_and_cited(db: Any) -> None:
    db.put_many([
        {"kind": "benchmark", "key": "ranker/bench", "title": "FP32 baseline", "model": "ranker",
         "occurred_at": "2025-01-01", "fields": {"latency_ms": {"p99": 45}}},
        opt("ranker/int8", "2025-01-10", "quantization_int8", "rolled_back",
            links=[{"rel": "baseline", "key": "ranker/bench"}]),
        {"kind": "incident", "key": "ranker/inc", "title": "Accuracy alert after INT8", "model": "ranker",
         "occurred_at": "2025-01-12", "links": [{"rel": "caused_by", "key": "ranker/int8"}],
         "fields": {"severity": "sev2", "resolved_at": "2025-01-12T10:00:00Z"}},
    ])
    response = db.ask("what happened with int8 on the ranker?")
    assert keys(response)[0] == "ranker/int8"
    assert "↳ baseline: benchmark FP32 baseline" in response.answer
    assert "ranker/bench@1" in response.citations and "ranker/inc@1" in response.citations


def test_json_shape_is_the_design_contract(db: Any) -> None:
    db.put_many([opt("ranker/int8", "2025-01-10", "quantization_int8", "adopted")])
    data = db.ask("int8 on the ranker").to_dict()
    assert set(data) == {"question", "answer", "attempts", "citations", "degraded", "reason", "found", "plan"}
    item = data["attempts"][0]
    assert set(item) == {"key", "version", "kind", "title", "model", "occurred_at", "score", "source", "outcome"}
    assert item["occurred_at"] == "2025-01-10" and item["outcome"] == "adopted"
    assert set(item["source"]) == {"path", "anchor"}


def test_answers_without_search_are_marked_degraded(db: Any) -> None:
    db.put_many([opt("ranker/int8", "2025-01-10", "quantization_int8", "adopted")])

    def broken(text: str, models: list[str] | None, k: int) -> tuple[list[str], bool, str | None]:
        raise RuntimeError("chroma directory unreadable")

    answerer = Answerer(db.store, search=broken)
    # No model named: search is a candidate source here, and its failure must show.
    response = answerer.ask("which int8 attempts did we make?")
    assert response.degraded and "chroma directory unreadable" in (response.reason or "")
    assert keys(response) == ["ranker/int8"]
    healthy = db.ask("which int8 attempts did we make?")
    assert healthy.degraded is False and keys(healthy) == ["ranker/int8"]
    # A complete structured answer (model and technique named, every word matched) needs no search at all.
    assert answerer.ask("int8 on the ranker").degraded is False


def test_the_vocabulary_follows_new_writes(db: Any) -> None:
    db.put(opt("ranker/int8", "2025-01-10", "quantization_int8", "adopted"))
    assert db.ask("int8 on the ranker").attempts
    db.put(opt("reranker-xl/int8", "2025-02-10", "quantization_int8", "rejected", model="reranker-xl"))
    assert keys(db.ask("int8 on reranker-xl")) == ["reranker-xl/int8"]


def test_bad_questions_are_usage_errors(db: Any) -> None:
    with pytest.raises(UsageError):
        db.ask("   ")
    with pytest.raises(UsageError):
        db.ask("x" * 5000)
    with pytest.raises(UsageError):
        db.ask("int8", k=0)


def test_a_bare_model_question_lists_its_records_newest_first(db: Any) -> None:
    db.put_many([opt("ranker/int8", "2025-01-10", "quantization_int8", "adopted"),
                 deploy("ranker/canary", "2025-07-01", "canary", "succeeded"),
                 {"kind": "note", "key": "ranker/note", "title": "musings", "model": "ranker", "occurred_at": "2025-09-01"}])
    assert keys(db.ask("what's the latest on the ranker?")) == ["ranker/canary", "ranker/int8"]


def test_failures_are_understood(db: Any) -> None:
    db.put_many([opt("ranker/ok", "2025-06-10", "quantization_int8", "adopted"),
                 opt("ranker/bad", "2025-01-10", "quantization_int8", "rejected", reason="NDCG −1.9 pt"),
                 opt("fraud/bad", "2025-03-10", "batching", "rolled_back", model="fraud")])
    failed = db.ask("which quantization attempts failed?")
    assert keys(failed)[0] == "ranker/bad"
    # The adopted attempt and the other model's failure are only related: listed after, under "Related".
    assert "\nRelated:\n" in failed.answer and set(keys(failed)[1:]) == {"ranker/ok", "fraud/bad"}
    assert keys(db.ask("what failed on the ranker?"))[0] == "ranker/bad"


def test_a_plain_word_model_that_does_not_exist(db: Any) -> None:
    db.put_many([opt("ranker/int8", "2025-01-10", "quantization_int8", "adopted")])
    response = db.ask("did we try int8 on the pricing model?")
    assert response.attempts == [] and "'pricing'" in response.answer


def test_quarters_bound_a_bare_model_question(db: Any) -> None:
    db.put_many([opt("ranker/q1", "2025-02-10", "quantization_int8", "adopted"),
                 deploy("ranker/q3", "2025-08-01", "canary", "succeeded"),
                 deploy("ranker/q4", "2025-11-01", "canary", "succeeded")])
    assert keys(db.ask("what happened to the ranker in Q3 2025?")) == ["ranker/q3"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# NUL is refused at the door (elephant.records.limits): an InvalidInput, tested in tests/reliability.
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
               max_size=120).filter(str.strip))
def test_any_question_gets_an_answer_whose_citations_resolve(db: Any, text: str) -> None:
    if not db.counts().get("_records"):
        db.put_many([opt("ranker/int8", "2025-01-10", "quantization_int8", "rolled_back"),
                     deploy("ranker/canary", "2025-07-01", "canary", "succeeded")])
    response = db.ask(text)
    assert response.answer
    for citation in response.citations:
        key, _, version = citation.rpartition("@")
        assert db.get(key, version=int(version)).key == key
    assert [a["key"] for a in response.attempts] == list(dict.fromkeys(a["key"] for a in response.attempts))


def test_pools_follow_writes_and_deletes_without_a_model_named(db: Any) -> None:
    """The in-memory catalog that chooses pools catches up with each write, new version and delete."""
    def rec(key: str, when: str, outcome: str, title: str) -> dict[str, Any]:
        return {"kind": "optimization", "key": key, "title": title, "model": key.split("/")[0],
                "occurred_at": when, "fields": {"technique": "pruning", "outcome": outcome}}

    def first() -> str | None:
        attempts = db.ask("which pruning attempts were rolled back?").attempts
        return attempts[0]["key"] if attempts else None

    assert db.put_many([rec("a/opt/prune", "2025-01-01", "adopted", "Pruning model a")]).ok
    assert first() == "a/opt/prune"
    assert db.put_many([rec("b/opt/prune", "2025-02-01", "rolled_back", "Pruning model b")]).ok
    assert first() == "b/opt/prune"
    assert db.put_many([rec("a/opt/prune", "2025-03-01", "rolled_back", "Pruning model a again")]).ok
    assert first() == "a/opt/prune"
    db.delete("a/opt/prune")
    assert first() == "b/opt/prune"
