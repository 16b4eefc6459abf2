"""End to end, per family of issue 15: a small history in, the lead sentence, the first key and the deltas out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

TEAM_DEV = Path(__file__).resolve().parents[2] / "fixtures" / "eval" / "team-dev"


def opt(key: str, when: str, technique: str, outcome: str, *, model: str = "scorer", title: str = "",
        base: dict[str, Any] | None = None, result: dict[str, Any] | None = None, body: str = "",
        **extra: Any) -> dict[str, Any]:
    return {"kind": "optimization", "key": key, "title": title or f"{technique} on {model}", "model": model,
            "occurred_at": when, "body": body,
            "fields": {"technique": technique, "outcome": outcome, "baseline": base or {}, "result": result or {},
                       **extra}}


def record(kind: str, key: str, when: str | None, title: str, *, model: str | None = "scorer", body: str = "",
           **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "key": key, "title": title, "model": model, "body": body, "fields": fields}
    if when:
        out["occurred_at"] = when
    return out


def history() -> list[dict[str, Any]]:
    return [
        record("serving_config", "scorer/serving/cpu", "2025-01-05", "Scorer on CPU, the fraud scoring service",
               runtime="onnxruntime", hardware="c7i.2xlarge", precision="fp32", replicas=4),
        opt("scorer/opt/int8", "2025-02-01", "quantization_int8", "adopted", title="INT8 scorer",
            base={"latency_ms_p99": 40, "throughput_qps": 1000}, result={"latency_ms_p99": 22, "throughput_qps": 1800}),
        opt("scorer/opt/cache", "2025-03-01", "caching", "adopted", title="Feature cache for the scorer",
            base={"latency_ms_p99": 22}, result={"latency_ms_p99": 14}),
        opt("scorer/opt/prune", "2025-04-01", "pruning", "rejected", title="Tree pruning of the scorer",
            base={"accuracy": 0.95}, result={"accuracy": 0.91}, accuracy_metric="auc"),
        opt("scorer/opt/nothing-measured", "2025-05-01", "batching", "rejected", title="Batching the scorer"),
        opt("scorer/opt/spec", "2025-06-01", "other", "rolled_back", title="Early-exit trees for the scorer",
            body="We tried early exit: stop after 200 of 800 trees when the margin is large.",
            base={"latency_ms_p99": 12}, result={"latency_ms_p99": 9}, reason="recall fell on rare fraud"),
        record("deployment", "scorer/deploy/shadow", "2025-07-01", "Shadow test of scorer v5",
               strategy="shadow", traffic_percent=100, status="succeeded"),
        opt("scorer/opt/int8-v5", "2025-07-15", "quantization_int8", "rolled_back", title="INT8 scorer v5",
            base={"latency_ms_p99": 20}, result={"latency_ms_p99": 10}, reason="AUC drop on new merchants"),
        record("deployment", "scorer/deploy/ramp", "2025-08-01", "50 % ramp of scorer v5",
               strategy="canary", traffic_percent=50, status="succeeded"),
        record("incident", "scorer/incident/timeouts", "2025-08-10", "Scorer timeouts after the ramp",
               severity="sev2", resolved_at="2025-08-11"),
        record("rollback_procedure", "scorer/runbook/rollback", None, "Rolling back the scorer",
               steps=["pin the previous model version", "restart"], last_tested_at="2025-06-01"),
        record("benchmark", "vision-base/bench/1", "2025-03-01", "vision-base latency", model="vision-base",
               latency_ms={"p99": 30}, throughput_qps=300),
        record("benchmark", "vision-large/bench/1", "2025-03-02", "vision-large latency", model="vision-large",
               latency_ms={"p99": 90}, throughput_qps=80),
        opt("vision-base/opt/int8", "2025-04-01", "quantization_int8", "adopted", model="vision-base",
            title="INT8 small vision model", base={"latency_ms_p99": 30}, result={"latency_ms_p99": 18}),
        opt("vision-large/opt/int8", "2025-04-02", "quantization_int8", "rejected", model="vision-large",
            title="INT8 large vision model", base={"latency_ms_p99": 90}, result={"latency_ms_p99": 50}),
    ]


def load(db: Any) -> None:
    assert db.put_many(history()).ok


def lead(response: Any) -> str:
    return next(line for line in response.answer.splitlines() if line and not line.endswith("→"))


def keys(response: Any) -> list[str]:
    return [a["key"] for a in response.attempts]


def test_superlative_ranks_by_change_and_states_missing_numbers(db: Any) -> None:
    load(db)
    r = db.ask("which scorer change cut p99 the most?")
    assert keys(r)[0] == "scorer/opt/int8-v5"  # 20 → 10 ms is −50 %, the largest cut
    assert "p99 20 → 10 ms (−50 %)" in lead(r)
    assert "lack a p99 figure" in lead(r) and "scorer/opt/nothing-measured@1" in lead(r)
    assert r.plan["superlative"] == {"metric": "p99", "better": "lower", "want": "min", "measure": "change",
                                       "absolute": False}
    lost = db.ask("which scorer attempt lost the most accuracy?")
    assert keys(lost)[0] == "scorer/opt/prune" and "−4 pt" in lead(lost)


def test_outcome_question_never_says_yes_when_the_latest_was_rolled_back(db: Any) -> None:
    load(db)
    r = db.ask("did INT8 work on the scorer?")
    assert lead(r).startswith("**No** — INT8 scorer v5 was rolled back on 2025-07-15")
    assert keys(r)[0] == "scorer/opt/int8-v5" and r.attempts[0]["outcome"] == "rolled_back"
    assert "earlier attempt" in lead(r)  # the adopted first INT8 is mentioned, not hidden


def test_yes_no_leads_answer_adoption_still_on_in_progress_and_ever_shipped(db: Any) -> None:
    load(db)
    # Rejected: not adopted, not still on, not in progress; the lead never says yes from existence.
    for question in ("did we adopt tree pruning on the scorer?", "is the scorer's tree pruning still on?",
                     "is tree pruning of the scorer still in progress?"):
        assert lead(db.ask(question)).startswith("**No** — Tree pruning of the scorer was rejected"), question
    # Rolled back after it shipped: it did ship, but it is not on any more.
    assert lead(db.ask("did early exit ever ship on the scorer?")).startswith("**Yes**")
    assert lead(db.ask("is early exit still enabled on the scorer?")).startswith("**No**")


def test_never_tried_is_found_false(db: Any) -> None:
    load(db)
    r = db.ask("did we ever try distillation on the scorer?")
    assert r.found is False and r.attempts == [] and lead(r).startswith("**Never tried**")
    assert r.to_dict()["found"] is False


def test_status_says_none_open_and_when_the_last_was_resolved(db: Any) -> None:
    load(db)
    r = db.ask("any open incidents on the scorer?")
    assert lead(r).startswith("**No open incidents for scorer**")
    assert "resolved on 2025-08-11" in lead(r) and r.found is False


def test_time_anchors_between_two_events_are_resolved_to_records(db: Any) -> None:
    load(db)
    r = db.ask("what did we try on the scorer between the shadow test and the 50 % ramp?")
    assert keys(r) == ["scorer/opt/int8-v5"]
    anchors = r.plan["time"]["anchors"]
    assert [a["record"] for a in anchors] == ["scorer/deploy/shadow@1", "scorer/deploy/ramp@1"]


def test_answers_that_are_not_attempts(db: Any) -> None:
    load(db)
    assert keys(db.ask("how do we roll back the scorer?"))[0] == "scorer/runbook/rollback"
    assert keys(db.ask("what precision does the scorer serve at now?"))[0] == "scorer/serving/cpu"


def test_look_alike_names_and_descriptions(db: Any) -> None:
    load(db)
    assert keys(db.ask("int8 on vision-large"))[0] == "vision-large/opt/int8"
    assert keys(db.ask("int8 on vision-base"))[0] == "vision-base/opt/int8"
    described = db.ask("what did we try on the fraud scoring service?")
    assert described.plan["subjects"][0]["model"] == "scorer"


def test_technique_outside_the_fixed_list_is_found_in_the_text(db: Any) -> None:
    load(db)
    r = db.ask("did early exit help the scorer?")
    assert keys(r)[0] == "scorer/opt/spec" and lead(r).startswith("**No**")


def test_comparison_computes_deltas(db: Any) -> None:
    load(db)
    r = db.ask("vision-base vs vision-large benchmarks, latency")
    assert set(keys(r)[:2]) == {"vision-base/bench/1", "vision-large/bench/1"}
    assert "p99 30 → 90 ms (+200 %)" in lead(r)


@pytest.mark.parametrize("folder", ["team-dev", "team-dev2", "team-dev3"])
def test_team_dev_quality_floor(db: Any, folder: str) -> None:
    """A regression guard on the DEV sets of held-out team histories (team-dev2 was written later by a
    helper who never read the code), a little below what ask reaches there (1.000 on every figure with
    this test's embedder); bench/retrieval.py prints the figures."""
    for name in ("history.yaml", "history_updates.yaml"):
        assert db.put_files([TEAM_DEV.parent / folder / name]).ok
    questions = yaml.safe_load((TEAM_DEV.parent / folder / "questions.yaml").read_text(encoding="utf-8"))["questions"]
    first = top5 = outcome_ok = outcome_n = nones = none_total = 0
    misses = []
    for item in questions:
        r = db.ask(item["q"])
        if item.get("none"):
            none_total += 1
            nones += r.found is False
            continue
        ok = keys(r)[:1] == [item["expected"]]
        first += ok
        top5 += bool(set(keys(r)[:5]) & {item["expected"], *(item.get("also") or [])})
        if item.get("outcome"):
            outcome_n += 1
            outcome_ok += bool(r.attempts) and r.attempts[0]["outcome"] == item["outcome"]
        if not ok:
            misses.append(f"{item['q']!r}: {keys(r)[:2]}")
    answered = len(questions) - none_total
    assert first / answered >= 0.95, misses
    assert top5 / answered >= 0.95
    assert outcome_ok / outcome_n >= 0.95
    assert nones == none_total  # every "never tried" question is answered as such


def test_docs_examples_run(db: Any) -> None:
    """Every `$ elephant ask "…"` example of docs/answers.md's plan sections prints the lead shown there."""
    import re

    eval_dir = TEAM_DEV.parent
    for name in ("history.yaml", "history_updates.yaml"):
        assert db.put_files([eval_dir / name]).ok
    text = (TEAM_DEV.parents[2] / "docs" / "answers.md").read_text(encoding="utf-8")
    section = text[text.index("### The query plan"):text.index("### JSON")]
    examples = re.findall(r'\$ elephant ask (--explain )?"([^"]+)"\n((?:.*\n)+?)\s*```', section)
    assert len(examples) >= 5
    for explain, question, shown in examples:
        lines = [line.strip() for line in shown.splitlines() if line.strip()]
        expected_lead = next(line for line in lines if line.startswith(("**", "1 record", "_")) and "Plan:" not in line)
        response = db.ask(question)
        assert expected_lead in response.answer, (question, response.answer.splitlines()[0])
        if explain:
            assert all(line in response.explanation for line in lines[1:7]), response.explanation


def test_a_technique_outside_the_enum_is_stored_and_found_by_its_own_words(db: Any) -> None:
    load(db)
    assert db.put_many([
        opt("scorer/opt/lookahead", "2025-05-10", "lookahead_decoding", "rejected", title="Scorer v4 trial",
            base={"latency_ms_p99": 20}, result={"latency_ms_p99": 19}),
        opt("scorer/opt/draft", "2025-05-12", "Speculative Decoding", "adopted", title="Draft trial",
            base={"latency_ms_p99": 20}, result={"latency_ms_p99": 15})]).ok
    assert db.get("scorer/opt/draft").envelope["fields"]["technique"] == "Speculative Decoding"
    r = db.ask("did we try lookahead decoding on the scorer?")
    assert keys(r)[0] == "scorer/opt/lookahead" and r.found
    worked = db.ask("did speculative decoding work on the scorer?")
    assert keys(worked)[0] == "scorer/opt/draft" and lead(worked).startswith("**Yes**")


def doorbell_history() -> list[dict[str, Any]]:
    """A model described by its records ("the doorbell person detector"), with one attempt that a few
    words pick out of many, and a team-wide fraud model known by its initials."""
    out = [record("serving_config", "dbc/serving", "2025-01-01", "Doorbell person detector on Jetson, INT8",
                  model="dbc-yolo", runtime="tensorrt", hardware="jetson orin", precision="int8")]
    for i, month in enumerate(("02", "03", "04", "05")):
        out.append(opt(f"dbc/opt/{i}", f"2025-{month}-01", "pruning", "rejected", model="dbc-yolo",
                       title=f"Doorbell person detector pruning round {i}"))
    out.append(opt("dbc/opt/tiling", "2025-03-15", "other", "adopted", model="dbc-yolo",
                   title="Adaptive frame tiling for the doorbell person detector",
                   body="Tiles only regions with motion."))
    out.append(record("incident", "dbc/incident/glare", "2025-06-01", "Doorbell person detector misses people in glare",
                      model="dbc-yolo", severity="sev3", resolved_at="2025-06-04"))
    out.append(opt("tmf/opt/fp16", "2025-02-01", "quantization_fp16", "adopted", model="tmf-gbdt",
                   title="FP16 scoring of the transaction fraud GBDT"))
    return out


def test_description_words_are_spent_but_words_picking_records_stay(db: Any) -> None:
    assert db.put_many([*history(), *doorbell_history()]).ok
    r = db.ask("adaptive tiling for the doorbell person detector - outcome?")
    assert r.plan["subjects"][0]["model"] == "dbc-yolo" and keys(r)[0] == "dbc/opt/tiling"


def test_hyphenated_words_no_record_holds_are_description_not_an_unknown_model(db: Any) -> None:
    assert db.put_many([*history(), *doorbell_history()]).ok
    r = db.ask("why was the doorbell person-finder pruning rejected?")
    assert r.found and r.plan["subjects"][0]["model"] == "dbc-yolo"
    fp16 = db.ask("the transaction-monitoring-fraud model's half-precision attempt, what happened?")
    assert fp16.found and keys(fp16)[0] == "tmf/opt/fp16"  # tmf: the initials of the phrase
    assert db.ask("did we try pruning on payments-gateway?").found is False


def test_served_and_fixed_name_the_kind_of_answer(db: Any) -> None:
    assert db.put_many([*history(), *doorbell_history()]).ok
    served = db.ask("how is the model that missed people in glare served?")
    assert served.plan["subjects"][0]["model"] == "dbc-yolo" and keys(served)[0] == "dbc/serving"
    fixed = db.ask("was the glare problem on the doorbell detector fixed?")
    assert keys(fixed)[0] == "dbc/incident/glare" and lead(fixed).startswith("**Yes**")


def test_linked_answer_two_of_a_kind_and_an_event_between(db: Any) -> None:
    load(db)
    assert db.put_many([
        record("incident", "scorer/incident/stale", "2025-03-20", "Stale cached features on payday", severity="sev1",
               resolved_at="2025-03-21", links=None),
        record("serving_config", "scorer/serving/gpu", "2025-08-05", "Scorer on GPU with the forest library",
               runtime="triton-fil", hardware="t4", precision="fp32", replicas=2),
    ]).ok
    stale = db.get("scorer/incident/stale").envelope
    stale["links"] = [{"rel": "caused_by", "key": "scorer/opt/cache"}]
    stale["fields"].pop("links", None)
    assert db.put_many([stale]).ok
    caused = db.ask("which optimization caused the payday stale features incident?")
    assert keys(caused)[0] == "scorer/opt/cache" and "scorer/incident/stale@2" in lead(caused)
    around = db.ask("scorer serving setup before and after the 50 % ramp")
    assert keys(around)[:2] == ["scorer/serving/gpu", "scorer/serving/cpu"]
    assert "runtime onnxruntime → triton-fil" in lead(around)
    two = db.ask("compare the two vision-large benchmarks")
    assert two.plan["comparison"]["latest_two"] is True


def test_size_word_decides_between_look_alikes_a_description_points_to(db: Any) -> None:
    assert db.put_many([*history(),
        record("benchmark", "helpdesk-llm-small/bench/1", "2025-01-01", "Small helpdesk assistant benchmark",
               model="helpdesk-llm-small", latency_ms={"p99": 800}),
        record("benchmark", "helpdesk-llm-small/bench/2", "2025-06-01", "Small helpdesk assistant benchmark v2",
               model="helpdesk-llm-small", latency_ms={"p99": 600}),
        record("benchmark", "helpdesk-llm-large/bench/1", "2025-02-01", "Large helpdesk assistant benchmark",
               model="helpdesk-llm-large", latency_ms={"p99": 3000}),
        record("note", "helpdesk-llm-large/note/1", None, "Large helpdesk assistant budget",
               model="helpdesk-llm-large", body="The large helpdesk assistant may use 8 GPUs."),
        record("incident", "helpdesk-llm-large/incident/1", "2025-03-01", "Large helpdesk assistant timeouts",
               model="helpdesk-llm-large", severity="sev3", resolved_at="2025-03-02"),
    ]).ok
    r = db.ask("compare the small helpdesk assistant's two benchmarks")
    assert r.plan["subjects"][0]["model"] == "helpdesk-llm-small"
    assert keys(r)[:2] == ["helpdesk-llm-small/bench/2", "helpdesk-llm-small/bench/1"]
    assert "p99 800 → 600 ms (−25 %)" in lead(r)


def test_attempts_answer_what_did_we_try_before_a_note_sharing_more_words(db: Any) -> None:
    assert db.put_many([*history(), record("note", "scorer/note/merchants", "2025-09-01",
                                           "Scorer notes on new merchants and their fraud patterns", model="scorer",
                                           body="New merchants carry fraud patterns the scorer has not seen.")]).ok
    r = db.ask("what did we try on the scorer for new merchants?")
    assert r.attempts[0]["kind"] == "optimization"


def test_a_superlative_over_a_technique_never_tried_says_so(db: Any) -> None:
    load(db)
    r = db.ask("which distillation experiment on the scorer cut p99 the most?")
    assert r.found is False and lead(r).startswith("**Never tried**")


def test_comparisons_and_superlatives_list_what_else_matched_after_their_answer(db: Any) -> None:
    load(db)
    r = db.ask("did INT8 or pruning cut the scorer's p99 more?")
    assert len(r.attempts) > 2 and "Related:" in r.answer  # the two sides, then the rest of the match
    sup = db.ask("which scorer change cut p99 the most?")
    assert keys(sup)[0] == "scorer/opt/int8-v5"


def test_a_method_no_list_knows_is_never_tried_unless_an_attempt_holds_its_words(db: Any) -> None:
    load(db)
    r = db.ask("did we ever try weight clustering on the scorer?")  # "weight" alone is no such attempt
    assert r.found is False and lead(r).startswith("**Never tried**")
    assert db.ask("did we ever try early-exit trees on the scorer?").found  # the title holds both words


def test_a_yes_no_question_about_an_event_is_not_never_tried(db: Any) -> None:
    load(db)
    assert db.put_many([record("incident", "scorer/incident/label-skew", "2025-09-01",
                               "Scorer chargeback labels shifted by one day", severity="sev3",
                               resolved_at="2025-09-03")]).ok
    # Words no attempt holds, but an incident does: the question is about that incident.
    r = db.ask("has the chargeback label shift on the scorer been fixed?")
    assert r.found and keys(r)[0] == "scorer/incident/label-skew"
    assert not lead(r).startswith("**Never tried**")
    # With no record of any kind holding them, it is still never tried.
    assert db.ask("did we ever try weight clustering on the scorer?").found is False


def test_a_yes_no_about_the_serving_stack_answers_from_the_config_in_force(db: Any) -> None:
    load(db)
    yes = db.ask("are we still serving the scorer on onnxruntime?")
    assert yes.plan["answer_kind"] == "config" and keys(yes)[0] == "scorer/serving/cpu"
    assert lead(yes).startswith("**Yes** — the config in force is Scorer on CPU")
    assert db.put_many([record("serving_config", "scorer/serving/triton", "2025-09-01", "Scorer on Triton GPUs",
                               runtime="triton", hardware="g5.xlarge", precision="fp16", replicas=2)]).ok
    no = db.ask("is the scorer still running on onnxruntime?")
    assert keys(no)[0] == "scorer/serving/triton"
    assert lead(no).startswith("**No** — the config in force is Scorer on Triton GPUs")
    assert "Scorer on CPU" in lead(no)  # the older config that held the words is named as replaced


def test_superlatives_over_fps_and_a_metric_only_the_records_name(db: Any) -> None:
    load(db)
    assert db.put_many([
        opt("vision-base/opt/trt", "2025-05-01", "tensorrt", "adopted", model="vision-base", title="TensorRT engine",
            base={"throughput_qps": 300, "accuracy": 0.80}, result={"throughput_qps": 520, "accuracy": 0.79},
            accuracy_metric="click_acceptance"),
        opt("vision-base/opt/prune", "2025-06-01", "pruning", "rejected", model="vision-base", title="Channel pruning",
            base={"throughput_qps": 300, "accuracy": 0.80}, result={"throughput_qps": 410, "accuracy": 0.72},
            accuracy_metric="click_acceptance"),
    ]).ok
    fps = db.ask("what gave vision-base its biggest fps jump?")
    assert fps.plan["superlative"]["metric"] == "throughput" and keys(fps)[0] == "vision-base/opt/trt"
    cost = db.ask("which vision-base change cost us the most click acceptance?")
    assert cost.plan["superlative"]["metric"] == "accuracy" and keys(cost)[0] == "vision-base/opt/prune"


def test_a_model_named_by_one_word_of_its_name_yields_to_the_description(db: Any) -> None:
    assert db.put_many([
        record("benchmark", "yard-planner/bench/1", "2025-01-01", "Yard planner slot assignment latency",
               model="yard-planner", latency_ms={"p99": 80}),
        opt("yard-planner/opt/int8", "2025-02-01", "quantization_int8", "adopted", model="yard-planner",
            title="INT8 yard planner"),
        record("serving_config", "driver-assistant/serving/vllm", "2025-01-05",
               "Driver assistant LLM on vLLM", model="driver-assistant", runtime="vllm"),
        opt("driver-assistant/opt/awq", "2025-03-01", "other", "rolled_back", model="driver-assistant",
            title="4-bit AWQ weights for the driver assistant LLM", method="awq_int4"),
        record("incident", "driver-assistant/incident/invented-yards", "2025-03-10",
               "Assistant invented yard numbers in replies to drivers", model="driver-assistant",
               severity="sev2", resolved_at="2025-03-12"),
    ]).ok
    assert db.put_many([{**record("incident", "driver-assistant/incident/invented-yards", "2025-03-10",
                                  "Assistant invented yard numbers in replies to drivers", model="driver-assistant",
                                  severity="sev2", resolved_at="2025-03-12"),
                         "links": [{"rel": "caused_by", "key": "driver-assistant/opt/awq"}]}]).ok
    r = db.ask("which change caused the incident where the assistant invented yard numbers?")
    assert r.plan["subjects"][0]["model"] == "driver-assistant"
    assert keys(r)[0] == "driver-assistant/opt/awq"


def test_a_deadline_is_a_note_and_a_ratio_is_one_exact_string(db: Any) -> None:
    from elephant.answers.questions import Vocabulary, parse_question

    assert "2:4" in parse_question("2:4 sparsity on the detector", Vocabulary()).exact
    load(db)
    assert db.put_many([record("note", "scorer/note/batch-deadline", None, "Nightly scorer batch deadline",
                               body="The nightly batch must finish by 05:00 UTC for the morning review.")]).ok
    r = db.ask("by when does the scorer's nightly batch have to be done?")
    assert r.plan["answer_kind"] == "note" and keys(r)[0] == "scorer/note/batch-deadline"


def test_work_under_way_is_a_status_question(db: Any) -> None:
    load(db)
    none = db.ask("what's in flight for the scorer right now?")
    assert none.plan["status"] == "in_progress" and none.found is False
    assert lead(none).startswith("**No attempts or rollouts in progress")
    assert db.put_many([opt("scorer/opt/distill", "2025-10-01", "distillation", "in_progress",
                            title="Distilling the scorer into 200 trees")]).ok
    going = db.ask("what's in flight for the scorer right now?")
    assert going.found and keys(going)[0] == "scorer/opt/distill"


def test_yes_no_reads_the_version_and_the_technique_asked(db: Any) -> None:
    load(db)
    assert db.put_many([
        record("deployment", "scorer/deploy/v6-canary", "2025-09-01", "Canary of scorer v6", strategy="canary",
               traffic_percent=5, status="rolled_back"),
        record("deployment", "scorer/deploy/v6.1-full", "2025-10-01", "Scorer v6.1 to 100 %", strategy="full",
               traffic_percent=100, status="succeeded"),
        record("deployment", "scorer/deploy/early-exit-ab", "2025-06-20", "A/B of early-exit trees",
               strategy="ab_test", traffic_percent=50, status="succeeded"),
    ]).ok
    canary = db.ask("did the scorer v6 canary succeed?")
    assert keys(canary)[0] == "scorer/deploy/v6-canary" and lead(canary).startswith("**No**")
    # The attempt answers "did early exit work out?", not the A/B that followed it.
    assert keys(db.ask("did early exit work out on the scorer?"))[0] == "scorer/opt/spec"


def test_a_feature_named_by_its_words_and_training_vs_serving_is_no_comparison(db: Any) -> None:
    assert db.put_many([
        record("feature_definition", "scorer/feature/card-age", "2025-01-01", "Days since the card was first seen",
               name="card_age_days", parity="drift", parity_checked_at="2025-05-01"),
        record("feature_definition", "scorer/feature/merchant-risk", "2025-01-01", "Merchant risk score",
               name="merchant_risk", parity="verified", parity_checked_at="2025-05-02"),
    ]).ok
    r = db.ask("is the scorer's merchant risk feature still drifting between training and serving?")
    assert r.plan["comparison"] is None
    assert keys(r)[0] == "scorer/feature/merchant-risk" and lead(r).startswith("**No**")
    assert lead(db.ask("is the card age feature still drifting?")).startswith("**Yes**")


def test_between_an_event_and_a_time_and_a_named_strategy_never_run(db: Any) -> None:
    load(db)
    r = db.ask("which scorer optimization came between the shadow test and the end of 2025?")
    anchors = r.plan["time"]["anchors"]
    assert [a["bound"] for a in anchors] == ["since"] and anchors[0]["record"].startswith("scorer/deploy/shadow")
    assert r.plan["time"]["until"].startswith("2026-01-01") and keys(r)[0] == "scorer/opt/int8-v5"
    never = db.ask("any A/B test on the scorer?")  # a shadow test and a canary ramp are no A/B test
    assert never.found is False and lead(never).startswith("**Never tried**: no A/B test")
    assert db.ask("any canary on the scorer?").found


def test_a_specific_precision_is_not_any_quantization_and_go_live_is_a_deployment(db: Any) -> None:
    load(db)
    r = db.ask("int4 quantization for the scorer?")
    assert r.found is False and lead(r).startswith("**Never tried**: no quantization int4 on scorer")
    live = db.ask("when did scorer v5 go fully live?")
    assert live.plan["answer_kind"] == "deployment" and keys(live)[0] == "scorer/deploy/ramp"


def test_the_attempt_filed_under_a_technique_answers_before_one_that_mentions_it(db: Any) -> None:
    load(db)
    assert db.put_many([opt("vision-base/opt/distill", "2025-08-01", "distillation", "adopted", model="vision-base",
                            title="Distil the small vision model, then INT8 again",
                            body="The student was quantized to INT8 like its teacher.")]).ok
    r = db.ask("how did INT8 go for vision-base?")
    assert keys(r)[0] == "vision-base/opt/int8"


def test_a_description_ends_at_a_dash_and_x_ray_is_xray(db: Any) -> None:
    assert db.put_many([
        record("serving_config", "cxr/serving/1", "2025-01-01", "Chest X-ray triage on Triton", model="cxr",
               runtime="triton"),
        opt("cxr/opt/trt", "2025-02-01", "tensorrt", "adopted", model="cxr", title="TensorRT engine for the X-ray model"),
        record("deployment", "cxr/deploy/trt-full", "2025-03-01", "TensorRT X-ray engine to 100 %", model="cxr",
               strategy="full", traffic_percent=100, status="succeeded"),
        record("deployment", "cxr/deploy/v3-canary", "2025-05-01", "X-ray v3 canary", model="cxr",
               strategy="canary", traffic_percent=10, status="rolled_back"),
        record("deployment", "cxr/deploy/v3-full", "2025-07-01", "X-ray v3.1 to 100 %", model="cxr",
               strategy="full", traffic_percent=100, status="succeeded"),
        record("benchmark", "notes-llm/bench/1", "2025-01-01", "Report drafter LLM latency", model="notes-llm",
               latency_ms={"p99": 900}),
        opt("notes-llm/opt/prefix", "2025-04-01", "caching", "adopted", model="notes-llm",
            title="Prefix caching for the report drafter LLM"),
        record("incident", "notes-llm/incident/kv", "2025-06-01", "Drafter p99 spikes with prefix caching on",
               model="notes-llm", severity="sev3"),
    ]).ok
    nxt = db.ask("after the TensorRT xray engine went to 100%, what was the next deployment on that model?")
    assert nxt.plan["subjects"][0]["model"] == "cxr" and keys(nxt)[0] == "cxr/deploy/v3-canary"
    r = db.ask("the LLM that writes report drafts - what happened with prefix caching")
    assert r.plan["subjects"][0]["model"] == "notes-llm" and keys(r)[0] == "notes-llm/opt/prefix"


def test_a_comparison_naming_no_kind_compares_measurements_and_sides_may_be_dates(db: Any) -> None:
    load(db)
    assert db.put_many([
        record("benchmark", "scorer/bench/fp32", "2025-01-10", "Scorer FP32 on c7i", latency_ms={"p99": 40},
               hardware="c7i.2xlarge"),
        record("benchmark", "scorer/bench/int8", "2025-02-10", "Scorer INT8 on c7i", latency_ms={"p99": 22},
               hardware="c7i.2xlarge"),
    ]).ok
    # INT8 is also an attempt, made between the two runs: it states the comparison, the benchmarks follow.
    r = db.ask("scorer fp32 vs int8, what did we gain?")
    assert keys(r)[0] == "scorer/opt/int8" and set(keys(r)[1:3]) == {"scorer/bench/fp32", "scorer/bench/int8"}
    # Hardware named: the measurements themselves.
    r = db.ask("scorer fp32 vs int8 on the c7i, what did we gain?")
    assert set(keys(r)[:2]) == {"scorer/bench/fp32", "scorer/bench/int8"} and keys(r)[0] == "scorer/bench/int8"
    dated = db.ask("scorer benchmark jan 2025 vs feb 2025")
    assert keys(dated)[0] == "scorer/bench/int8" and "scorer/bench/fp32" in keys(dated)[:2]


def test_never_benchmarked_on_that_hardware_and_never_canaried(db: Any) -> None:
    load(db)
    r = db.ask("has the scorer ever been benchmarked on a GPU?")
    assert r.found is False and lead(r).startswith("**Never tried**: no benchmark on GPU")
    assert db.ask("vision-large numbers on a GPU?").found is False
    assert db.put_many([record("benchmark", "vision-large/bench/h100", "2025-05-01", "vision-large on H100",
                               model="vision-large", hardware="NVIDIA H100", latency_ms={"p99": 20})]).ok
    assert db.ask("vision-large numbers on a GPU?").found
    assert db.ask("was vision-base ever canaried?").found is False


def test_technique_words_describe_no_model_and_an_architecture_is_no_technique(db: Any) -> None:
    assert db.put_many([
        record("serving_config", "face-match/serving/1", "2025-01-01", "Face matcher on Triton", model="face-match",
               runtime="triton"),
        opt("face-match/opt/cache", "2025-02-01", "caching", "adopted", model="face-match",
            title="Cache ID-photo embeddings for the face matcher"),
        opt("ocr/opt/tome", "2025-03-01", "other", "adopted", model="ocr", title="Token merging in the OCR encoder",
            method="token_merging"),
        record("serving_config", "doc-small/serving/1", "2025-01-01", "DistilBERT document classifier on CPU",
               model="doc-small", runtime="onnxruntime"),
        record("serving_config", "doc-large/serving/1", "2025-02-01", "LayoutLMv3 document classifier on L4",
               model="doc-large", runtime="triton"),
    ]).ok
    never = db.ask("did anyone try token merging on the face matcher?")
    assert never.plan["subjects"][0]["model"] == "face-match" and never.found is False
    r = db.ask("serving setup of the distilbert document classifier")
    assert r.plan["techniques"] == [] and keys(r)[0] == "doc-small/serving/1"


def test_policies_settings_and_any_event_are_not_time_anchors(db: Any) -> None:
    load(db)
    assert db.put_many([record("note", "team/note/risk-policy", None, "Model risk policy",
                               model=None, body="Every canary needs a model-risk sign-off first.")]).ok
    r = db.ask("do we need model risk sign-off before a canary?")
    assert r.plan["answer_kind"] == "note" and r.plan["time"]["anchors"] == []
    assert db.ask("scorer onnxruntime batching settings").plan["answer_kind"] == "config"


def test_a_team_policy_answers_when_the_model_was_only_guessed(db: Any) -> None:
    load(db)
    assert db.put_many([
        record("note", "scorer/note/budget", "2025-06-01", "Scorer latency budget", body="p99 under 40 ms."),
        record("note", "team/note/release-gates", "2025-01-01", "Release gates every model change must pass",
               model=None, body="Every change runs in shadow for 7 days and keeps the AUC floor before it ships."),
    ]).ok
    r = db.ask("what release gates does a change to the fraud scoring service have to pass before it ships?")
    assert r.plan["answer_kind"] == "note" and r.plan["time"]["anchors"] == []
    assert keys(r)[0] == "team/note/release-gates"
    assert db.ask("when did scorer v5 go to 100 %?").plan["answer_kind"] == "deployment"


def test_an_absolute_superlative_and_an_anchor_titled_with_its_words(db: Any) -> None:
    load(db)
    assert db.put_many([
        opt("vision-large/opt/trt", "2025-06-01", "tensorrt", "adopted", model="vision-large",
            title="TensorRT for the large vision model", base={"latency_ms_p99": 90}, result={"latency_ms_p99": 50}),
        opt("vision-large/opt/fp8", "2025-09-01", "quantization_fp8", "adopted", model="vision-large",
            title="FP8 on the large vision model", body="Stacked on top of the TensorRT engine.",
            base={"latency_ms_p99": 50}, result={"latency_ms_p99": 20}),
    ]).ok
    pct = db.ask("which vision-large optimization cut p99 the most?")  # −60 % beats −44 %
    assert keys(pct)[0] == "vision-large/opt/fp8"
    ms = db.ask("which vision-large optimization cut p99 the most in milliseconds?")  # −40 ms beats −30 ms
    assert ms.plan["superlative"]["absolute"] is True and keys(ms)[0] == "vision-large/opt/int8"
    before = db.ask("what did we try on vision-large before tensorrt?")
    assert before.plan["time"]["anchors"][0]["record"].startswith("vision-large/opt/trt")
    assert keys(before)[0] == "vision-large/opt/int8"
    assert db.ask("how many ms does the scorer get at checkout?").plan["answer_kind"] == "note"
