"""Question understanding: model aliases from the store's vocabulary, synonyms, time words."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from elephant.answers.questions import (
    QUANTIZATION,
    Vocabulary,
    _add_model_aliases,
    find_models,
    parse_question,
    parse_time,
    stem,
)

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def vocab(*models: str) -> Vocabulary:
    v = Vocabulary(models=list(models))
    for m in models:
        _add_model_aliases(v, m)
    return v


MLPERF = vocab("llama2-70b-99", "llama2-70b-99.9", "bert-99", "bert-99.9", "resnet50", "recsys-two-tower",
               "churn-model", "search-embedder")


def test_model_names_match_exactly_and_by_alias() -> None:
    assert find_models("what did llama2-70b-99.9 offline get", MLPERF) == ["llama2-70b-99.9"]
    assert find_models("llama-2-70b (99.9) offline on 8xh200", MLPERF) == ["llama2-70b-99.9"]
    assert find_models("bert-99 on h200", MLPERF) == ["bert-99"]
    assert find_models("all llama2-70b results", MLPERF) == ["llama2-70b-99", "llama2-70b-99.9"]
    assert find_models("int8 on the two-tower recommender", MLPERF) == ["recsys-two-tower"]
    assert find_models("the churn model", MLPERF) == ["churn-model"]
    # A generic part of a name ("model", "search") does not stand for the model.
    assert find_models("which model had the best search latency", MLPERF) == []


def test_technique_synonyms() -> None:
    v = vocab("ranker")
    assert parse_question("did we try 8-bit on the ranker", v).techniques == {"quantization_int8"}
    assert parse_question("quantized ranker results", v).techniques == set(QUANTIZATION)
    assert "distillation" in parse_question("a smaller student for the ranker", v).techniques
    assert "tensorrt" in parse_question("TRT engine for the ranker", v).techniques
    assert "quantization_fp16" in parse_question("half precision on GPU", v).techniques


def test_kinds_metrics_and_question_forms() -> None:
    v = vocab("ranker")
    q = parse_question("Did the ranker canary get rolled back? p99 went up", v)
    assert "deployment" in q.kinds and q.wants_rollback and q.is_yes_no
    assert {"p99"} <= q.metrics
    assert parse_question("what happened to the ranker incident", v).is_what_happened
    assert parse_question("feature parity of user_ctr", v).kinds >= {"feature_definition"}


def test_time_words() -> None:
    assert parse_time("in march", NOW).month == 3
    window = parse_time("march 2025", NOW)
    assert window.since.startswith("2025-03-01") and window.until.startswith("2025-04-01")
    this_year = parse_time("this year", NOW)
    assert this_year.since.startswith("2026-01-01") and this_year.until.startswith("2027-01-01")
    assert parse_time("last year", NOW).since.startswith("2025-01-01")
    assert parse_time("on 2026-02-09", NOW).since.startswith("2026-02-09")
    assert parse_time("it may help", NOW) is None  # "may" the verb is not May


def test_before_and_after_anchors() -> None:
    v = vocab("ranker")
    before = parse_question("what did we try before TensorRT on the ranker", v, now=NOW)
    assert before.anchor is not None and before.anchor.direction == "before"
    assert before.anchor.question.techniques == {"tensorrt"}
    assert "tensorrt" not in before.techniques and before.models == ["ranker"]
    after = parse_question("what happened after the canary", v, now=NOW)
    assert after.anchor.direction == "after" and after.oldest_first
    dated = parse_question("ranker attempts before March 2026", v, now=NOW)
    assert dated.anchor is None and dated.window.until.startswith("2026-03-01")


def test_stemming_meets_word_forms() -> None:
    assert stem("quantized") == stem("quantization") == stem("quantize")
    assert stem("rolled") == stem("rolls")
    assert stem("latencies") == stem("latency")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parsing_never_crashes(text: str) -> None:
    question = parse_question(text, MLPERF, now=NOW)
    assert isinstance(question.terms, list)
