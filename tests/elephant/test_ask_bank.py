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
