"""Issue 15, more shapes found on new dev histories: comparisons stated by one record, team-wide policy
notes, anchors named by an action, state words that name no method, Elephant's own findings beside the
team's, superlatives over what was kept. Each rule with a small history of its own."""

from __future__ import annotations

from typing import Any

from tests.elephant.test_ask_families import keys, lead, opt, record


def models(response: Any) -> list[str]:
    return [s["model"] for s in response.plan["subjects"] if s["model"]]


def farm() -> list[dict[str, Any]]:
    """A farm-advice assistant, a drone pair (mini / max), a soil model and team-wide notes."""
    return [
        record("benchmark", "advisor/bench/bf16", "2025-02-01", "Farm-advice assistant BF16 baseline",
               model="advisor", hardware="L40S", latency_ms={"p50": 1800, "p99": 4200}, throughput_qps=2.1),
        opt("advisor/opt/fp8", "2025-04-01", "quantization_fp8", "adopted", model="advisor",
            title="FP8 weights and activations for the farm-advice assistant",
            base={"latency_ms_p99": 4200, "throughput_qps": 2.1}, result={"latency_ms_p99": 2900, "throughput_qps": 3.6}),
        record("benchmark", "advisor/bench/fp8", "2025-06-01", "Farm-advice assistant v2 (FP8) on L40S",
               model="advisor", hardware="L40S", latency_ms={"p50": 900, "p99": 1900}, throughput_qps=3.6),
        opt("advisor/opt/int4", "2025-05-01", "quantization_int4", "rejected", model="advisor",
            title="AWQ 4-bit weights for the farm-advice assistant",
            base={"latency_ms_p99": 2900}, result={"latency_ms_p99": 2500}),
        record("deployment", "advisor/deploy/ab", "2025-07-01", "advisor v2 A/B test against v1 on half the chats",
               model="advisor", strategy="ab_test", traffic_percent=50, status="succeeded",
               body="v2 won on the agronomist rubric; v1 retired."),
        record("rollback_procedure", "advisor/rollback/pin", None, "Pin the farm-advice assistant to the previous build",
               model="advisor", steps=["pin the previous image", "restart"]),
        opt("planner/opt/warm-start", "2024-08-01", "other", "adopted", model="planner",
            title="Warm-starting the irrigation planner's MPC solver", method="warm start",
            base={"latency_ms_p99": 900}, result={"latency_ms_p99": 540}),
        opt("planner/opt/distill", "2024-11-01", "distillation", "adopted", model="planner",
            title="Distilling the irrigation MPC planner into a small MLP policy",
            base={"latency_ms_p99": 540}, result={"latency_ms_p99": 12}),
        record("deployment", "planner/deploy/canary", "2024-12-01", "planner v2 distilled policy canary on 10 % of valves",
               model="planner", strategy="canary", traffic_percent=10, status="succeeded"),
        opt("drone-mini/opt/frame-gate", "2025-04-09", "other", "rolled_back", model="drone-mini",
            title="Optical-flow gated frame skipping on the on-drone detector", method="motion-gated frame skipping",
            base={"throughput_qps": 20}, result={"throughput_qps": 31}, reason="missed lesions when hovering"),
        opt("soil/opt/film", "2024-09-17", "other", "adopted", model="soil",
            title="One FiLM-conditioned model instead of 14 per-probe models", method="FiLM conditioning",
            base={"latency_ms_p99": 30}, result={"latency_ms_p99": 28}),
        record("benchmark", "drone-max/bench/v1", "2025-06-01", "drone-max v1 on L4", model="drone-max",
               hardware="L4", latency_ms={"p99": 84}, throughput_qps=560),
        record("benchmark", "drone-max/bench/v2", "2025-10-06", "drone-max v2 on L4", model="drone-max",
               hardware="L4", latency_ms={"p99": 112}, throughput_qps=430),
        {"kind": "regression", "key": "drone-max/regression/v2", "title": "drone-max v2 slower than v1 on L4",
         "model": "drone-max", "occurred_at": "2025-10-07",
         "links": [{"rel": "baseline", "key": "drone-max/bench/v1"}, {"rel": "candidate", "key": "drone-max/bench/v2"}],
         "fields": {"status": "resolved", "resolution": "accepted: mAP rose"}},
        record("note", "drone-max/note/budget", "2025-01-24", "drone-max escalation policy and latency budget",
               model="drone-max", body="p99 must stay under 150 ms."),
        record("note", "team/note/edge-quantization", "2024-10-20", "Edge model quantization accuracy policy",
               model=None, body="An edge model may lose at most 1 point of its accuracy metric when quantized."),
        record("note", "team/note/harvest-freeze", "2025-08-25", "Harvest-season change freeze for field models",
               model=None, body="No changes to field-control models from 1 September to 15 October."),
        record("note", "team/note/release", "2024-02-14", "ML release policy - shadow, then canary, then full",
               model=None, body="Canaries start at 5 % and never exceed 25 % of traffic."),
    ]


def test_a_comparison_one_record_states_comes_first(db: Any) -> None:
    assert db.put_many(farm()).ok
    # The attempt linked... by its numbers: FP8 from the BF16 baseline, before the two benchmarks.
    assert db.put_many([{**opt("advisor/opt/fp8", "2025-04-01", "quantization_fp8", "adopted", model="advisor",
                                title="FP8 weights and activations for the farm-advice assistant",
                                base={"latency_ms_p99": 4200}, result={"latency_ms_p99": 2900}),
                         "links": [{"rel": "baseline", "key": "advisor/bench/bf16"}]}]).ok
    r = db.ask("advisor fp8 vs bf16 - what did it do to latency?")
    assert keys(r)[0] == "advisor/opt/fp8" and set(keys(r)[1:3]) == {"advisor/bench/bf16", "advisor/bench/fp8"}
    assert "Stated by" in lead(r)
    # Benchmarks asked for by name, or hardware named: the measurements themselves.
    assert keys(db.ask("advisor fp8 vs bf16 benchmark numbers"))[0] == "advisor/bench/fp8"
    # The A/B rollout of both versions is the comparison of v1 and v2.
    assert keys(db.ask("advisor v1 vs v2 in the A/B, who won?"))[0] == "advisor/deploy/ab"
    # A regression the team filed on the pair.
    assert keys(db.ask("was drone-max v2 a regression vs v1?"))[0] == "drone-max/regression/v2"


def test_team_wide_policies_are_notes(db: Any) -> None:
    assert db.put_many(farm()).ok
    assert keys(db.ask("how much accuracy may an edge model lose when we quantize it?"))[0] == \
        "team/note/edge-quantization"
    assert keys(db.ask("when is the harvest change freeze?"))[0] == "team/note/harvest-freeze"
    # "max" is a word here, not drone-max.
    r = db.ask("what's the max canary traffic share allowed by our release policy?")
    assert keys(r)[0] == "team/note/release" and models(r) == []
    # A model's name holding "max" asks for no maximum.
    r = db.ask("what is drone-max's latency budget?")
    assert keys(r)[0] == "drone-max/note/budget" and r.plan["superlative"] is None


def test_anchors_named_by_an_action_or_right_next_to_an_event(db: Any) -> None:
    assert db.put_many(farm()).ok
    r = db.ask("what did we try on planner before distilling the MPC planner?")
    assert keys(r)[0] == "planner/opt/warm-start"
    assert r.plan["time"]["anchors"][0]["record"].startswith("planner/opt/distill@")
    r = db.ask("what advisor optimization came right after the fp8 work?")
    assert keys(r)[0] == "advisor/opt/int4"
    # "before rolling back" is a condition, not an event.
    assert db.ask("what do we check before rolling back?").plan["time"]["anchors"] == []


def test_words_about_use_or_state_name_no_method(db: Any) -> None:
    assert db.put_many(farm()).ok
    r = db.ask("are we still using motion-gated frame skipping on drone-mini?")
    assert r.found and keys(r)[0] == "drone-mini/opt/frame-gate" and lead(r).startswith("**No**")
    r = db.ask("did the single shared FiLM model pan out for soil?")  # "FiLM" written as a name
    assert r.found and lead(r).startswith("**Yes**")
    assert db.ask("did we ever try weight clustering on soil?").found is False


def test_a_named_strategy_never_used_is_never_even_when_asked_as_shipped(db: Any) -> None:
    assert db.put_many(farm()).ok
    r = db.ask("has planner ever had a shadow deployment?")
    assert r.found is False and lead(r).startswith("**Never tried**")


def test_a_first_canary_of_a_policy_model_is_a_rollout_not_a_policy(db: Any) -> None:
    assert db.put_many(farm()).ok
    r = db.ask("how did the first canary of the distilled policy go on planner?")
    assert r.plan["answer_kind"] == "deployment" and keys(r)[0] == "planner/deploy/canary"


def test_superlative_among_what_was_kept(db: Any) -> None:
    assert db.put_many(farm()).ok
    assert keys(db.ask("which advisor change cut p99 the most?"))[0] == "advisor/opt/fp8"
    assert db.put_many([opt("advisor/opt/spec", "2025-09-01", "other", "rolled_back", model="advisor",
                            title="Speculative decoding for the assistant", base={"latency_ms_p99": 2900},
                            result={"latency_ms_p99": 900})]).ok
    assert keys(db.ask("which advisor change cut p99 the most?"))[0] == "advisor/opt/spec"
    assert keys(db.ask("among the adopted advisor optimizations, which one cut p99 the most?"))[0] == "advisor/opt/fp8"
    assert keys(db.ask("which advisor change cut p99 the most, even if we didn't keep it?"))[0] == "advisor/opt/spec"


def test_a_hyphenated_description_names_its_model(db: Any) -> None:
    assert db.put_many(farm()).ok
    r = db.ask("how do we roll back the farm-advice chatbot?")
    assert models(r) == ["advisor"] and keys(r)[0] == "advisor/rollback/pin"


def test_features_that_currently_show_drift_is_a_status(db: Any) -> None:
    assert db.put_many([
        record("feature_definition", "soil/feature/moisture", "2025-01-22", "Moisture delta", model="soil",
               feature="moisture_delta", parity="verified"),
        record("feature_definition", "yield/feature/ndvi", "2025-03-01", "Peak NDVI over 14 days", model="yield",
               feature="ndvi_peak_14d", parity="drift"),
    ]).ok
    r = db.ask("which features currently show train/serve drift?")
    assert r.plan["status"] == "open" and keys(r) == ["yield/feature/ndvi"]


def test_a_question_over_all_models_is_not_voted_to_one(db: Any) -> None:
    assert db.put_many(farm()).ok
    r = db.ask("across all our models, which optimization cut p99 the most?")
    assert models(r) == [] and keys(r)[0] == "planner/opt/distill"


def test_the_teams_regression_speaks_for_the_benchmark_elephant_flagged(db: Any) -> None:
    assert db.put_many(farm()).ok
    # Elephant flagged drone-max v2 itself (p99 84 → 112 ms); the team's resolved record covers it.
    assert db.get("regression/drone-max/bench/v2") is not None
    r = db.ask("any open regressions?")
    assert r.found is False and "drone-max/regression/v2" in r.answer
    assert "regression/drone-max/bench/v2" not in keys(db.ask("drone-max regressions"))


def lab() -> list[dict[str, Any]]:
    """A protein model, a notebook embedder, a QA model with its filed regression and team-wide notes."""
    return [
        record("benchmark", "foldwise/bench/h100", "2024-06-01", "foldwise baseline on H100", model="foldwise",
               body="The protein structure predictor, one sequence per GPU.", hardware="H100",
               latency_ms={"p50": 300000}, accuracy={"lddt": 0.86}),
        record("benchmark", "foldwise/bench/h200", "2025-10-01", "foldwise on H200", model="foldwise",
               hardware="H200", latency_ms={"p50": 240000}, accuracy={"lddt": 0.86}),
        opt("foldwise/opt/fp8", "2025-04-15", "quantization_fp8", "rejected", model="foldwise",
            title="FP8 trunk for foldwise", base={"latency_ms_p50": 300000, "accuracy": 0.86},
            result={"latency_ms_p50": 200000, "accuracy": 0.79}, accuracy_metric="lddt"),
        opt("foldwise/opt/chunking", "2026-02-03", "other", "in_progress", model="foldwise",
            title="Chunked attention for large inputs", method="chunking",
            base={"latency_ms_p50": 310000, "peak_memory_gb": 131}, result={"latency_ms_p50": 347000, "peak_memory_gb": 74}),
        opt("foldwise/opt/kernels", "2024-09-10", "other", "adopted", model="foldwise",
            title="Fused triangle attention kernels for foldwise", base={"latency_ms_p50": 400000},
            result={"latency_ms_p50": 300000}),
        record("benchmark", "screen/bench/v3", "2025-03-04", "screen v3 INT8, library scoring", model="screen",
               body="Morgan fingerprints folded to 2048 bits; a 3-fold speed-up.", throughput_qps=9000),
        opt("screen/opt/int8", "2024-07-09", "quantization_int8", "adopted", model="screen",
            title="Dynamic INT8 quantization of screen", base={"throughput_qps": 5000}, result={"throughput_qps": 8000}),
        opt("notebook/opt/int4", "2025-07-08", "quantization_int4", "rejected", model="notebook",
            title="INT4 weights for the notebook embedder", base={"latency_ms_p99": 41}, result={"latency_ms_p99": 30}),
        opt("notebook/opt/binary", "2025-09-23", "other", "adopted", model="notebook",
            title="Binary quantized vector index with float rescoring", method="binary quantization",
            base={"latency_ms_p99": 41}, result={"latency_ms_p99": 18}),
        record("benchmark", "qa/bench/v1", "2025-02-05", "qa v1 benchmark", model="qa", hardware="H100",
               latency_ms={"p99": 2100}, accuracy={"answer_f1": 0.67}),
        record("benchmark", "qa/bench/v2", "2025-08-06", "qa v2 benchmark", model="qa", hardware="H100",
               latency_ms={"p99": 3100}, accuracy={"answer_f1": 0.71}),
        {"kind": "regression", "key": "regression/qa/v2-p99", "title": "qa v2 p99 regression", "model": "qa",
         "occurred_at": "2025-08-07", "fields": {"status": "open"},
         "links": [{"rel": "baseline", "key": "qa/bench/v1"}, {"rel": "candidate", "key": "qa/bench/v2"}]},
        opt("qa/opt/cache", "2024-10-01", "caching", "adopted", model="qa", title="Retrieval cache for qa",
            base={"latency_ms_p99": 2500}, result={"latency_ms_p99": 2100}),
        record("deployment", "qa/deploy/canary", "2025-04-02", "qa v2 canary", model="qa", strategy="canary",
               traffic_percent=5, status="succeeded"),
        record("note", "team/note/sev", "2024-01-10", "Severity levels for the ML group", model=None,
               body="Sev1: a model serving wrong answers to users at scale."),
        record("note", "team/note/gpu-2025", "2025-01-06", "2025 GPU and inference budget for the ML group",
               model=None, body="Monthly inference budget: $52,000 for all models."),
        record("rollback_procedure", "team/runbook/failover", None, "Fail over the online feature store",
               model=None, steps=["promote the replica", "repoint the clients"]),
    ]


def test_a_model_named_by_the_start_of_its_name(db: Any) -> None:
    assert db.put_many(lab()).ok
    r = db.ask("latest benchmark of the protein folding model")
    assert models(r) == ["foldwise"] and keys(r)[0] == "foldwise/bench/h200"


def test_an_unknown_quality_figure_is_ranked_as_the_records_accuracy(db: Any) -> None:
    assert db.put_many(lab()).ok
    r = db.ask("which foldwise experiment degraded lddt the most?")
    assert keys(r)[0] == "foldwise/opt/fp8"  # peak_memory_gb is no accuracy figure ("em" is inside "memory")


def test_a_technique_named_in_the_title_of_an_other_attempt(db: Any) -> None:
    assert db.put_many(lab()).ok
    r = db.ask("fused triangle kernels on foldwise - results?")
    assert r.found and keys(r)[0] == "foldwise/opt/kernels"


def test_a_named_precision_is_not_any_quantization(db: Any) -> None:
    assert db.put_many(lab()).ok
    assert db.ask("any fp16 quantization experiments on screen?").found is False
    assert db.ask("any quantization experiments on screen?").found


def test_the_attempt_holding_the_words_asked_answers_the_outcome(db: Any) -> None:
    assert db.put_many(lab()).ok
    r = db.ask("did the binary quantized index for notebook ship?")
    assert keys(r)[0] == "notebook/opt/binary" and lead(r).startswith("**Yes**")


def test_what_changed_between_two_events_of_different_kinds_is_a_window(db: Any) -> None:
    assert db.put_many(lab()).ok
    r = db.ask("what changed on qa between the retrieval cache and the v2 canary?")
    assert r.plan["comparison"] is None and keys(r)[0] == "qa/bench/v1"
    # Two benchmarks are compared; the team's regression on the pair states it.
    r = db.ask("what changed between the qa v1 and v2 benchmarks?")
    assert r.plan["comparison"] is not None and keys(r)[0] == "regression/qa/v2-p99"


def test_team_wide_definitions_budgets_and_runbooks(db: Any) -> None:
    assert db.put_many(lab()).ok
    assert keys(db.ask("what counts as a sev1 for the ml group?"))[0] == "team/note/sev"
    assert keys(db.ask("how much can we spend on GPUs per month in 2025, team-wide?"))[0] == "team/note/gpu-2025"
    assert keys(db.ask("how do we fail over the online feature store?"))[0] == "team/runbook/failover"


def test_an_anchor_ends_where_the_question_goes_on(db: Any) -> None:
    assert db.put_many(lab()).ok
    r = db.ask("before the v2 canary what did qa benchmark at?")
    assert r.plan["answer_kind"] == "benchmark" and keys(r)[0] == "qa/bench/v1"
    assert r.plan["time"]["anchors"][0]["phrase"] == "the v2 canary"


def test_words_that_describe_a_model_named_by_one_word_are_spent(db: Any) -> None:
    assert db.put_many([
        record("deployment", "stay-ranker/deploy/v3", "2025-06-10", "Hotel ranker v3 fully rolled out",
               model="stay-ranker", strategy="full", traffic_percent=100, status="succeeded"),
        opt("stay-ranker/opt/cache", "2025-07-01", "caching", "adopted", model="stay-ranker",
            title="Property feature cache", base={"latency_ms_p99": 30}, result={"latency_ms_p99": 20}),
        opt("stay-ranker/opt/distill", "2025-10-07", "distillation", "rejected", model="stay-ranker",
            title="Distill the hotel ranker into a 3-layer student", base={"latency_ms_p99": 20},
            result={"latency_ms_p99": 12}),
        record("benchmark", "stay-ranker/bench/v3", "2025-06-01", "Hotel ranker v3 on A10G", model="stay-ranker",
               latency_ms={"p99": 30}),
    ]).ok
    # "the hotel ranker" names stay-ranker; "hotel" then selects nothing among its records.
    r = db.ask("first optimization on the hotel ranker after the v3 full rollout")
    assert keys(r)[0] == "stay-ranker/opt/cache"
