"""Issue 15, shapes found on the 2026-12-02 (fourth) dev histories: a team's nicknames for its models, a
one-letter slip in a model's name, a model set aside ("not the sme one"), a yes/no asked at the end, which
of two compared attempts comes first, a side naming a version, an anchor named by a title's word, "tanked",
"spec decoding", "bench", "opts", "thruput", a runbook asked for by its situation, and a yes/no about a
described model. Each rule with a small history of its own (a bank's ML team)."""

from __future__ import annotations

from typing import Any

from tests.elephant.test_ask_families import keys, lead, opt, record


def subjects(response: Any) -> list[str]:
    return [s["model"] for s in response.plan["subjects"] if s["model"]]


def versioned(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``model_version`` given among the fields moves to the envelope, where records keep it."""
    for r in records:
        if "model_version" in r.get("fields", {}):
            r["model_version"] = r["fields"].pop("model_version")
    return records


def bank() -> list[dict[str, Any]]:
    """A retail and a small-business PD model (nicknamed rg-retail / rg-sme), a call transcriber, a
    cheque reader, an LLM and team-wide runbooks."""
    return versioned([
        record("benchmark", "riskgrade-retail/bench/v2", "2024-01-10", "rg-retail v2 baseline latency and AUC",
               model="riskgrade-retail", model_version="v2", latency_ms={"p99": 61}, throughput_qps=900,
               accuracy={"auc": 0.781}),
        opt("riskgrade-retail/opt/onnx", "2024-02-01", "graph_optimization", "adopted", model="riskgrade-retail",
            title="rg-retail on ONNX Runtime", base={"latency_ms_p99": 61, "throughput_qps": 900},
            result={"latency_ms_p99": 30, "throughput_qps": 1500}),
        opt("riskgrade-retail/opt/treelite", "2024-03-01", "other", "adopted", model="riskgrade-retail",
            title="Treelite-compiled trees for rg-retail", base={"latency_ms_p99": 30, "throughput_qps": 1500},
            result={"latency_ms_p99": 18, "throughput_qps": 2600}),
        record("benchmark", "riskgrade-retail/bench/v3", "2024-08-01", "rg-retail v3 benchmark",
               model="riskgrade-retail", model_version="v3", latency_ms={"p99": 17}, throughput_qps=2700,
               accuracy={"auc": 0.794}),
        record("benchmark", "riskgrade-sme/bench/v2", "2025-03-01", "rg-sme v2 nightly benchmark",
               model="riskgrade-sme", model_version="v2", latency_ms={"p99": 95}, accuracy={"auc": 0.742}),
        opt("riskgrade-sme/opt/batching", "2024-04-01", "batching", "adopted", model="riskgrade-sme",
            title="Arrow batches for the rg-sme nightly run", base={"throughput_qps": 60}, result={"throughput_qps": 210}),
        record("benchmark", "callscribe/bench/v1", "2024-01-30", "Call transcriber v1 baseline",
               model="callscribe", model_version="v1", latency_ms={"p99": 2400}, accuracy={"wer": 0.148}),
        record("benchmark", "callscribe/bench/v2", "2024-12-03", "Call transcriber v2 benchmark",
               model="callscribe", model_version="v2", latency_ms={"p99": 1560}, accuracy={"wer": 0.127},
               body="v1 was 14.8 % WER."),
        record("benchmark", "callscribe/bench/v2-1", "2025-03-20", "Call transcriber v2.1 benchmark (hotwords)",
               model="callscribe", model_version="v2.1", latency_ms={"p99": 1420}, accuracy={"wer": 0.134}),
        opt("callscribe/opt/speculative-decoding", "2024-10-01", "other", "adopted", model="callscribe",
            title="Speculative decoding with a draft model for the call transcriber",
            base={"latency_ms_p99": 2400}, result={"latency_ms_p99": 1700}),
        opt("callscribe/opt/medusa-heads", "2025-06-01", "other", "in_progress", model="callscribe",
            title="Medusa heads instead of the draft model (speculative decoding) for the call transcriber",
            base={"latency_ms_p99": 1700}, result={"latency_ms_p99": 1500}),
        opt("chq-ocr/opt/fp16", "2023-12-01", "quantization_fp16", "adopted", model="chq-ocr",
            title="FP16 for the cheque reader", base={"latency_ms_p99": 400}, result={"latency_ms_p99": 205}),
        opt("chq-ocr/opt/tensorrt", "2024-02-13", "tensorrt", "adopted", model="chq-ocr",
            title="TensorRT engine for the cheque reader", body="decoder with a kv cache plugin",
            base={"latency_ms_p99": 205, "accuracy": 0.961}, result={"latency_ms_p99": 120, "accuracy": 0.958}),
        opt("chq-ocr/opt/int8-ptq", "2024-05-14", "quantization_int8", "rejected", model="chq-ocr",
            title="INT8 post-training quantization of the cheque reader",
            base={"latency_ms_p99": 120, "accuracy": 0.958}, result={"latency_ms_p99": 85, "accuracy": 0.931}),
        opt("chq-ocr/opt/int8-qat", "2024-09-17", "quantization_int8", "adopted", model="chq-ocr",
            title="INT8 quantization-aware training for the cheque reader",
            base={"latency_ms_p99": 120, "accuracy": 0.958}, result={"latency_ms_p99": 86, "accuracy": 0.957},
            tags=["qat"]),
        opt("chq-ocr/opt/channel-prune", "2024-11-01", "pruning", "adopted", model="chq-ocr",
            title="Channel pruning of the cheque reader", body="fine-tuned, then re-QAT",
            base={"latency_ms_p99": 86}, result={"latency_ms_p99": 70}),
        record("deployment", "chq-ocr/deploy/v3-ramp", "2025-02-10", "cheque reader v3 ramp to 100 %",
               model="chq-ocr", strategy="full", traffic_percent=100, status="succeeded"),
        opt("cx-llm/opt/fp8", "2025-01-09", "quantization_fp8", "adopted", model="cx-llm",
            title="FP8 for the chatbot", base={"latency_ms_p99": 5200, "accuracy": 0.87},
            result={"latency_ms_p99": 3600, "accuracy": 0.865}),
        opt("cx-llm/opt/awq-int4", "2025-02-12", "quantization_int4", "rejected", model="cx-llm",
            title="AWQ 4-bit for the chatbot", base={"latency_ms_p99": 5200, "accuracy": 0.87},
            result={"latency_ms_p99": 3100, "accuracy": 0.84}),
        record("rollback_procedure", "cx-llm/runbook/rollback", "2025-04-30", "Rolling back the chatbot",
               model="cx-llm", steps=["switch the router to scripted flows"]),
        record("rollback_procedure", "team/runbook/feature-store-failover", "2025-03-10",
               "Online feature store failover runbook", model=None,
               body="When the online feature store is down: fail over to the standby cluster.",
               steps=["promote the standby", "repoint the models"]),
        record("incident", "callscribe/incident/dst", "2024-11-04", "Transcripts an hour off after the DST change",
               model="callscribe", severity="sev2", status="resolved", resolved_at="2024-11-05"),
        record("feature_definition", "callscribe/feature/noise-db", "2025-01-01", "noise_db - line noise level",
               model="callscribe", feature="noise_db", parity="drift"),
    ])


def test_a_teams_nickname_and_a_typo_name_the_model(db: Any) -> None:
    assert db.put_many(bank()).ok
    # "rg-retail" is written in the model's titles, each part an abbreviation of riskgrade-retail's.
    nick = db.ask("rg-retail biggest qps jump from any optimization")
    assert subjects(nick) == ["riskgrade-retail"] and keys(nick)[0] == "riskgrade-retail/opt/treelite"
    # One slip of the keyboard in a long name no record uses.
    slip = db.ask("callscirbe speculative decoding w/ draft model numbers")
    assert subjects(slip) == ["callscribe"] and keys(slip)[0] == "callscribe/opt/speculative-decoding"


def test_a_model_set_aside_and_two_models_spelled_out(db: Any) -> None:
    assert db.put_many(bank()).ok
    aside = db.ask("latest auc for the risk grade pd model (not the sme one)")
    assert subjects(aside) == ["riskgrade-retail"]
    both = db.ask("riskgrade-retail vs riskgrade-sme auc")
    assert set(subjects(both)) == {"riskgrade-retail", "riskgrade-sme"}
    # Two models compared: in the order asked.
    assert keys(both)[0].startswith("riskgrade-retail/bench/")


def test_a_yes_no_asked_at_the_end_is_answered_yes_or_no(db: Any) -> None:
    assert db.put_many(bank()).ok
    assert lead(db.ask("int8 ptq on the cheque reader, did it work?")).startswith("**No**")


def test_two_attempts_compared_the_kept_one_first_and_a_version_is_exact(db: Any) -> None:
    assert db.put_many(bank()).ok
    # Alternatives: the adopted one first, whichever side it was named on.
    assert keys(db.ask("fp8 vs awq int4 on cx-llm"))[0] == "cx-llm/opt/fp8"
    assert keys(db.ask("awq int4 vs fp8 on cx-llm"))[0] == "cx-llm/opt/fp8"
    # "v2" is the record of model_version v2, not v2.1; measurements of one model: the newer first.
    r = db.ask("callscribe v2 vs v1 wer")
    assert keys(r)[:2] == ["callscribe/bench/v2", "callscribe/bench/v1"]


def test_a_key_naming_the_questions_words_leads_among_one_technique(db: Any) -> None:
    assert db.put_many(bank()).ok
    # Both are INT8 attempts; "ptq" is in one key only.
    assert keys(db.ask("how much accuracy did int8 ptq cost the cheque reader"))[0] == "chq-ocr/opt/int8-ptq"
    # "spec decoding" is speculative decoding; the attempt keyed so leads the newer one that mentions it.
    assert keys(db.ask("spec decoding numbers for callscribe"))[0] == "callscribe/opt/speculative-decoding"


def test_a_body_word_makes_no_attempt_of_another_technique(db: Any) -> None:
    assert db.put_many(bank()).ok
    # The TensorRT engine's body mentions a kv cache: that is no caching attempt.
    r = db.ask("did anyone try caching on the cheque reader")
    assert r.found is False and lead(r).startswith("**Never tried**")


def test_an_anchor_is_the_record_whose_title_or_key_names_it(db: Any) -> None:
    assert db.put_many(bank()).ok
    r = db.ask("chq-ocr - anything tried between the qat and the v3 ramp?")
    anchors = r.plan["time"]["anchors"]
    assert anchors[0]["record"].startswith("chq-ocr/opt/int8-qat@")  # not the pruning's "re-QAT"
    assert keys(r)[0] == "chq-ocr/opt/channel-prune"


def test_slang_for_moves_and_kinds(db: Any) -> None:
    assert db.put_many(bank()).ok
    tanked = db.ask("which attempt tanked accuracy the worst, any model")
    assert tanked.plan["superlative"]["measure"] == "change" and keys(tanked)[0] == "cx-llm/opt/awq-int4"
    assert db.ask("largest thruput gain for rg-sme").plan["superlative"]["metric"] == "throughput"
    assert db.ask("rg-retail v3 vs v2 bench").plan["answer_kind"] == "benchmark"
    opts = db.ask("chq-ocr opts in the second half of 2024")
    assert keys(opts) and all(k.startswith("chq-ocr/opt/") for k in keys(opts))


def test_a_runbook_asked_for_by_its_situation(db: Any) -> None:
    assert db.put_many(bank()).ok
    assert keys(db.ask("feature store is down, what's the procedure"))[0] == "team/runbook/feature-store-failover"


def test_a_yes_no_about_a_described_model_answers_first(db: Any) -> None:
    assert db.put_many(bank()).ok
    r = db.ask("does the model that had the DST bug have any feature still drifting?")
    lines = [line for line in r.answer.splitlines() if line]
    assert lines[0].startswith("**Yes") and lines[1].startswith("**callscribe**")
    assert r.plan["subjects"][0]["description"] == "had the dst bug"


def test_other_nouns_for_a_model_describe_it_with_a_clause(db: Any) -> None:
    assert db.put_many(bank()).ok
    r = db.ask("latest benchmark of the transcriber that had the DST bug")
    assert r.plan["subjects"][0]["how"] == "described" and subjects(r) == ["callscribe"]
    assert keys(r)[0] == "callscribe/bench/v2-1"


def plant() -> list[dict[str, Any]]:
    """A plant's anomaly detector pair, an LLM, a ranker with a feature, team-wide notes."""
    return versioned([
        record("serving_config", "anom-oh/serving/flink", "2024-05-01", "anom-oh on Flink + ONNX Runtime",
               model="anom-oh", runtime="flink+onnxruntime", hardware="c6i.2xlarge", precision="fp32"),
        record("incident", "anom-oh/incident/alarm-flood", "2024-12-10",
               "Anomaly detector alarm flood after a press PLC firmware update", model="anom-oh",
               body="3,140 false alarms overnight after the PLC firmware push.", severity="sev2",
               status="resolved", resolved_at="2024-12-11"),
        record("serving_config", "anom-mx/serving/flink", "2024-09-01", "anom-mx on Flink + ONNX Runtime",
               model="anom-mx", runtime="flink+onnxruntime", hardware="c6i.xlarge", precision="int8"),
        opt("anom-mx/opt/int8", "2025-04-15", "quantization_int8", "adopted", model="anom-mx",
            title="INT8 static quantization of the anom-mx detector",
            body="After the PLC firmware push on the other plant we re-checked alarms here too.",
            base={"latency_ms_p99": 40}, result={"latency_ms_p99": 22}),
        record("feature_definition", "rul/feature/vib-kurtosis-10m", "2025-03-20", "Vibration kurtosis, 10-minute windows",
               model="rul", feature="vib_kurtosis_10m", parity="verified", parity_checked_at="2025-03-20"),
        record("feature_definition", "rank/feature/price-rel", "2025-01-20", "price_rel_category (price / category median)",
               model="rank", feature="price_rel_category", parity="drift"),
        record("incident", "rank/incident/stale-price", "2024-12-04", "Ranker canary boosted expired deals",
               model="rank", body="a stale price_rel_category in serving", severity="sev2", status="resolved"),
        opt("llm/opt/spec-decoding", "2025-02-11", "other", "rolled_back", model="llm",
            title="Speculative decoding with a 1B draft model for the assistant",
            base={"latency_ms_p99": 6000}, result={"latency_ms_p99": 4200}),
        opt("llm/opt/eagle3-spec", "2025-11-01", "other", "in_progress", model="llm",
            title="EAGLE-3 heads (speculative decoding) for the assistant",
            base={"latency_ms_p99": 6000}, result={"latency_ms_p99": 3900}),
        opt("llm/opt/torch-compile", "2024-10-01", "graph_optimization", "adopted", model="llm",
            title="torch.compile of the assistant's decoder", base={"latency_ms_p99": 6500}, result={"latency_ms_p99": 6000}),
        opt("rank/opt/ort-fusion", "2025-06-01", "graph_optimization", "adopted", model="rank",
            title="ONNX Runtime graph fusion for the ranker", base={"latency_ms_p99": 30}, result={"latency_ms_p99": 24}),
        record("deployment", "llm/deploy/v2-ramp", "2025-03-01", "assistant v2 ramp to 100 %", model="llm",
               strategy="full", traffic_percent=100, status="succeeded"),
        opt("llm/opt/fp8", "2025-05-01", "quantization_fp8", "adopted", model="llm", title="FP8 for the assistant",
            base={"latency_ms_p99": 4200}, result={"latency_ms_p99": 3000}),
        record("incident", "llm/incident/waterproof", "2025-06-10", "Assistant called a jacket waterproof",
               model="llm", severity="sev3", status="resolved"),
        opt("llm/opt/prefix-cache", "2025-07-01", "caching", "adopted", model="llm", title="Prefix caching",
            base={"latency_ms_p99": 3000}, result={"latency_ms_p99": 2600}),
        opt("rank/opt/tensorrt", "2025-08-01", "tensorrt", "adopted", model="rank", title="TensorRT engine for the ranker",
            base={"latency_ms_p99": 24}, result={"latency_ms_p99": 15}),
        record("deployment", "rank/deploy/v2-shadow", "2025-05-01", "rank v2 shadow on all traffic", model="rank",
               strategy="shadow", traffic_percent=100, status="succeeded"),
        record("deployment", "rank/deploy/v2-canary-retry", "2025-09-01", "rank v2 canary retry after the shadow",
               model="rank", strategy="canary", traffic_percent=10, status="succeeded"),
        record("note", "team/note/december-freeze", "2025-11-24", "Change freeze during the December plant shutdown",
               model=None, body="No model changes from 15 December to 5 January."),
        record("note", "team/note/canary-protocol", "2024-06-01", "Canary protocol for every model", model=None,
               body="5 %, then 25 %, each for a day."),
        {"kind": "regression", "key": "rank/regression/v2-p99", "title": "rank v2 p99 regression", "model": "rank",
         "occurred_at": "2025-05-06", "fields": {"status": "open"}},
    ])


def test_descriptions_features_and_kinds_of_the_plant(db: Any) -> None:
    assert db.put_many(plant()).ok
    # The description's own "after the PLC firmware push" is part of the event, not a time bound.
    r = db.ask("serving config for the model that threw 3k alarms after the plc firmware push")
    assert subjects(r) == ["anom-oh"] and keys(r)[0] == "anom-oh/serving/flink"
    # A feature named by the words of its name.
    assert keys(db.ask("is the vib kurtosis feature in parity between training and serving"))[0] == \
        "rul/feature/vib-kurtosis-10m"
    # The feature an incident names, though nothing links them.
    assert keys(db.ask("parity status of the feature behind the stale price incident"))[0] == "rank/feature/price-rel"
    # A month a policy is about; "protocol" is a note.
    assert keys(db.ask("when does the december change freeze start"))[0] == "team/note/december-freeze"
    assert keys(db.ask("whats our canary protocol"))[0] == "team/note/canary-protocol"


def test_outcomes_windows_strategies_and_findings(db: Any) -> None:
    assert db.put_many(plant()).ok
    # The attempt keyed by the words answers the outcome, not a newer one whose title says them too.
    r = db.ask("did spec decoding work out for the llm")
    assert keys(r)[0] == "llm/opt/spec-decoding" and lead(r).startswith("**No**")
    assert keys(db.ask("anyone use torch.compile?"))[0] == "llm/opt/torch-compile"
    # "after A but before B" is between the two.
    assert keys(db.ask("llm optimizations after the v2 ramp but before the waterproof incident")) == ["llm/opt/fp8"]
    # A strategy named: rollouts of that strategy first.
    assert keys(db.ask("rank shadow test results"))[0] == "rank/deploy/v2-shadow"
    # "win" is a change, though "measured" names benchmarks.
    assert db.ask("largest p99 win we measured on the llm").plan["superlative"]["measure"] == "change"
    # "before distilling it": the action on the subject is the anchor.
    before = db.ask("what did we try on the llm before caching it")
    assert before.plan["time"]["anchors"] and keys(before)[0] == "llm/opt/fp8"


def test_a_technique_set_aside_and_words_after_a_possessive(db: Any) -> None:
    assert db.put_many(plant()).ok
    r = db.ask("any compilers we tried besides tensorrt")
    assert r.plan["excluded"] == ["tensorrt"] and "tensorrt" not in r.plan["techniques"]
    assert keys(r) and "rank/opt/tensorrt" not in keys(r) and "llm/opt/torch-compile" in keys(r)
    # "the assistant's torque answers": what follows the possessive stays a word of the question.
    assert "torqu" in db.ask("what went wrong with the llm assistant's torque answers").plan["terms"]
