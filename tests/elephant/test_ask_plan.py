"""The query plan (elephant.answers.plan): one question → one typed plan, per family of the issue-15 table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from elephant.answers.plan import QueryPlan, build_plan
from elephant.answers.questions import Vocabulary, _add_model_aliases

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    v = Vocabulary()
    for model in ("ranker", "image-tagger", "scorer", "vision-base", "vision-large", "asr-conformer"):
        v.models.append(model)
        _add_model_aliases(v, model)
    return v


def plan(text: str, vocab: Vocabulary) -> QueryPlan:
    return build_plan(text, vocab, now=NOW)


def test_superlative_change_with_metric_direction(vocab: Vocabulary) -> None:
    p = plan("which change cut the scorer's p99 the most?", vocab)
    assert p.models == ["scorer"] and p.intent == "lookup"
    assert p.superlative is not None
    assert (p.superlative.metric, p.superlative.better, p.superlative.want, p.superlative.measure) == (
        "p99", "lower", "min", "change")
    up = plan("what gave the largest qps improvement on the ranker?", vocab).superlative
    assert up is not None and (up.metric, up.better, up.want, up.measure) == ("throughput", "higher", "max", "change")
    lost = plan("which pruning run lost the most accuracy?", vocab)
    assert lost.superlative is not None and (lost.superlative.metric, lost.superlative.want) == ("accuracy", "min")
    assert lost.techniques == ["pruning"]
    wer = plan("what hurt WER the most on the asr-conformer?", vocab).superlative
    assert wer is not None and (wer.metric, wer.better, wer.want) == ("wer", "lower", "max")


def test_superlative_value_of_benchmarks(vocab: Vocabulary) -> None:
    p = plan("best offline throughput in round v4.1", vocab)
    assert p.superlative is not None and p.superlative.measure == "value" and p.superlative.want == "max"
    low = plan("which ranker benchmark had the lowest p99?", vocab)
    assert low.answer_kind == "benchmark"
    assert low.superlative is not None and (low.superlative.metric, low.superlative.want) == ("p99", "min")


def test_multi_hop_subject_is_described_not_named(vocab: Vocabulary) -> None:
    p = plan("the runbook for the model whose shadow deployment was aborted in June", vocab)
    described = [s for s in p.subjects if s.how == "described"]
    assert described and described[0].description == "shadow deployment was aborted in june"
    assert p.answer_kind == "procedure"
    # The description's month belongs to the sub-search, not to the runbook.
    assert p.time.since is None and p.time.until is None
    slo = plan("what is the latency budget of the model that had the tokenizer incident?", vocab)
    assert [s.how for s in slo.subjects] == ["described"] and slo.answer_kind == "note"


def test_time_anchors_named_by_events_and_quarters(vocab: Vocabulary) -> None:
    before = plan("what did we try on the ranker before the v3 rollout?", vocab)
    assert [(a.bound, a.phrase) for a in before.time.anchors] == [("until", "the v3 rollout")]
    between = plan("what did we change on the ranker between the shadow test and the 50 % ramp?", vocab)
    assert [(a.bound, a.phrase) for a in between.time.anchors] == [("since", "the shadow test"),
                                                                   ("until", "the 50 % ramp")]
    quarter = plan("ranker attempts in Q2 2025", vocab)
    assert quarter.time.since is not None and quarter.time.since.startswith("2025-04-01")
    assert quarter.time.until is not None and quarter.time.until.startswith("2025-07-01")


@pytest.mark.parametrize(("question", "kind"), [
    ("how do we roll back the ranker?", "procedure"),
    ("what precision does the scorer serve at now?", "config"),
    ("what hardware is the image tagger running on now?", "config"),
    ("what is the ranker's latency budget?", "note"),
    ("is feature user_ctr_7d still drifting?", "feature"),
    ("ranker canary last spring", "deployment"),
    ("latest ranker benchmark on the A10G", "benchmark"),
])
def test_answers_that_are_not_attempts(vocab: Vocabulary, question: str, kind: str) -> None:
    assert plan(question, vocab).answer_kind == kind


def test_yes_no_about_the_outcome(vocab: Vocabulary) -> None:
    p = plan("did INT8 work on the ranker?", vocab)
    assert p.intent == "outcome" and p.techniques == ["quantization_int8"] and p.models == ["ranker"]
    assert plan("did the v4 canary succeed?", vocab).intent == "outcome"
    assert plan("did we ever try pruning on the scorer?", vocab).intent == "existence"
    # Being in production, adopted or still under way is an outcome, not the existence of a record.
    for question in ("did we adopt INT8 for the ranker?", "is the ranker's feature cache still enabled?",
                     "is the ranker graph optimization still in progress?", "did INT8 ever ship on the ranker?",
                     "are we still on the INT8 ranker?"):
        assert plan(question, vocab).intent == "outcome", question


def test_status_questions(vocab: Vocabulary) -> None:
    p = plan("any open incidents on the ranker?", vocab)
    assert (p.intent, p.status, p.answer_kind) == ("status", "open", "incident")
    r = plan("unresolved regressions for the scorer?", vocab)
    assert (r.status, r.answer_kind) == ("open", "regression")


def test_comparison_of_two_rounds(vocab: Vocabulary) -> None:
    p = plan("what changed between v4.0 and v4.1 for the ranker?", vocab)
    assert p.comparison is not None and (p.comparison.left, p.comparison.right) == ("v4.0", "v4.1")
    assert p.time.anchors == []  # a comparison, not a time window
    vs = plan("ranker v3 vs v4 latency", vocab)  # sides are phrases; the answer keeps the words one side lacks
    assert vs.comparison is not None and vs.comparison.left.endswith("v3") and vs.comparison.right.startswith("v4")
    either = plan("which was faster on the ranker, int8 or distillation?", vocab)
    assert either.comparison is not None and (either.comparison.left, either.comparison.right) == (
        "int8", "distillation")


def test_descriptive_and_look_alike_model_names(vocab: Vocabulary) -> None:
    assert plan("what did we try on the image tagger?", vocab).models == ["image-tagger"]
    assert plan("int8 on vision-large", vocab).models == ["vision-large"]
    assert plan("int8 on vision-base", vocab).models == ["vision-base"]


def test_techniques_outside_the_fixed_list(vocab: Vocabulary) -> None:
    assert "speculative decoding" in plan("did speculative decoding help the ranker?", vocab).methods
    assert "awq" in plan("4-bit AWQ on the scorer", vocab).methods
    assert "tree compiler" in plan("did we compile the scorer's trees with treelite?", vocab).methods


def test_plan_is_json_and_explains_itself(vocab: Vocabulary) -> None:
    p = plan("which change cut the scorer's p99 the most?", vocab)
    data = p.to_dict()
    assert data["superlative"] == {"metric": "p99", "better": "lower", "want": "min", "measure": "change",
                                   "absolute": False}
    assert data["subjects"] == [{"model": "scorer", "how": "named"}]
    assert "superlative: min change of p99 (lower is better)" in p.explain()
    # Deterministic: the same text, the same plan.
    assert plan("which change cut the scorer's p99 the most?", vocab).to_dict() == data


def test_time_ranges_of_two_times_share_the_year_said_once(vocab: Vocabulary) -> None:
    t = plan("ranker optimizations from January to March 2025", vocab).time
    assert (t.since, t.until) == ("2025-01-01T00:00:00.000000Z", "2025-04-01T00:00:00.000000Z")
    q = plan("what did we try on the scorer between Q1 and Q3 2025?", vocab).time
    assert (q.since, q.until) == ("2025-01-01T00:00:00.000000Z", "2025-10-01T00:00:00.000000Z")
    assert plan("what changed from v4.0 to v4.1 on the ranker?", vocab).time.since is None


@pytest.mark.parametrize("question", ["which GPU does the ranker run on today?", "what chips is the scorer served on?",
                                      "what does the ranker run on now?"])
def test_serving_questions_ask_for_the_config(vocab: Vocabulary, question: str) -> None:
    assert plan(question, vocab).answer_kind == "config"


def test_comparisons_from_a_comparative_between_or_either_side(vocab: Vocabulary) -> None:
    either = plan("for the ranker, did the prefix cache or distillation cut p99 more?", vocab).comparison
    assert either is not None and (either.left, either.right) == ("prefix cache", "distillation")
    between = plan("between GPTQ and AWQ, which lost less quality on the scorer?", vocab).comparison
    assert between is not None and (between.left, between.right) == ("gptq", "awq")
    assert plan("which ranker attempts were rolled back or rejected?", vocab).comparison is None
    assert plan("what did we try on the ranker between the canary and the full rollout?", vocab).comparison is None


def test_comparisons_with_than_two_of_a_kind_and_an_event_between(vocab: Vocabulary) -> None:
    than = plan("is the TensorRT engine faster than the PyTorch baseline on the ranker?", vocab).comparison
    assert than is not None and (than.left, than.right) == ("tensorrt engine", "pytorch baseline")
    two = plan("compare the scorer's two benchmarks", vocab).comparison
    assert two is not None and two.latest_two
    around = plan("scorer serving setup before and after the FIL move", vocab)
    assert around.comparison is not None and around.comparison.around == "the fil move"
    assert around.answer_kind == "config" and around.time.anchors == []


@pytest.mark.parametrize("question", ["scorer attempts in 2025 Q1", "scorer attempts in Q1 of 2025",
                                      "scorer attempts in the first quarter of 2025"])
def test_quarters_however_written(vocab: Vocabulary, question: str) -> None:
    t = plan(question, vocab).time
    assert (t.since, t.until) == ("2025-01-01T00:00:00.000000Z", "2025-04-01T00:00:00.000000Z")


def test_turning_a_thing_off_is_a_procedure_and_what_runs_it_a_config(vocab: Vocabulary) -> None:
    assert plan("how do I turn off the scorer's feature cache?", vocab).answer_kind == "procedure"
    assert plan("what runs the ranker in production?", vocab).answer_kind == "config"


def test_a_move_from_one_side_to_the_other_is_a_comparison(vocab: Vocabulary) -> None:
    moved = plan("what did we gain going from the CPU scorer to Triton FIL?", vocab).comparison
    assert moved is not None and (moved.left, moved.right) == ("cpu scorer", "triton fil")
    assert plan("what did we try on the ranker from January to March 2025?", vocab).comparison is None


def test_time_tokens_are_not_content_and_plan_verbs_describe_no_model(vocab: Vocabulary) -> None:
    p = plan("scorer work in H1 2025", vocab)
    assert p.time.since == "2025-01-01T00:00:00.000000Z" and "h1" not in p.question.terms  # type: ignore[union-attr]


def test_plan_words_found_on_new_histories(vocab: Vocabulary) -> None:
    # "what counts as", "minimum … we accept": notes, and a note's figure is no superlative.
    p = plan("minimum recall we accept for the ranker", vocab)
    assert p.answer_kind == "note" and p.superlative is None
    assert plan("what counts as a sev1?", vocab).answer_kind == "note"
    assert plan("how do we fix the scorer after a bad deploy?", vocab).answer_kind == "procedure"
    # "is X still <doing>?": the outcome of the attempt.
    assert plan("is the scorer still scoring downsampled tiles?", vocab).intent == "outcome"
    # "worst FRR regression": a change, in a figure the records name.
    sup = plan("worst FRR regression among the ranker attempts?", vocab).superlative
    assert sup is not None and sup.measure == "change" and sup.metric == "accuracy"
    # "team-wide" is a word, not an unknown model.
    assert [s.how for s in plan("GPU budget, team-wide?", vocab).subjects] == []
