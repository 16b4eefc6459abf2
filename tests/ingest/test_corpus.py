"""End to end: the whole shared corpus ingests without a failure, the README's example facts are in the
records, and a second ingest writes nothing (SQLite, fake embedder, real embedded Chroma index)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from elephant.ingest.pipeline import IngestReport, ingest_paths
from tests.conftest import CORPUS

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")]

V41 = "mlperf/inference_v4.1"
V40 = "mlperf/inference_v4.0"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, IngestReport, IngestReport]]:
    import elephant

    # Module-scoped so the corpus is ingested once for all fact checks; the autouse isolation of each
    # test does not apply to this handle, which has its own home.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ELEPHANT_MODEL", "fake")
        mp.delenv("ELEPHANT_DATABASE_URL", raising=False)
        mp.delenv("ELEPHANT_CHROMA_URL", raising=False)
        db = elephant.open(tmp_path_factory.mktemp("corpus-home"))
        first = ingest_paths(db, [CORPUS])
        second = ingest_paths(db, [CORPUS])
        try:
            yield db, first, second
        finally:
            db.close()


def _fields(db: Any, key: str) -> dict[str, Any]:
    return dict(db.get(key).envelope["fields"])


def test_whole_corpus_ingests_without_failures(ingested: Any) -> None:
    db, first, _ = ingested
    assert first.failed == []
    assert first.files_seen == 1141
    counts = db.counts()
    assert counts["benchmark"] >= 165  # one per MLPerf summary, plus model-zoo rows
    assert counts["serving_config"] >= 30 and counts["rollback_procedure"] >= 5
    assert counts["deployment"] >= 3 and counts["optimization"] >= 15
    reasons = {p.path: p.reason for p in first.skipped}
    assert "placeholder" in reasons["serving/triton-tensorrtllm-backend/all_models/inflight_batcher_llm/"
                                    "tensorrt_llm/config.pbtxt"]
    assert "Helm template" in reasons["serving/triton-server/deploy/k8s-onprem/templates/hpa.yaml"]


def test_reingest_writes_nothing(ingested: Any) -> None:
    _, first, second = ingested
    assert (second.created, second.updated, second.deleted, second.files_parsed) == (0, 0, 0, 0)
    assert second.files_unchanged == first.files_parsed + first.files_joined
    assert second.failed == []


def test_fact_1_bert_h200_offline_int8(ingested: Any) -> None:
    db, _, _ = ingested
    f = _fields(db, f"{V41}/closed/NVIDIA/results/H200-SXM-141GBx8_TRT/bert-99/Offline")
    assert f["throughput_qps"] == 73309.5 and f["samples_per_s"] == 73309.5
    assert (f["precision"], f["input_data_types"]) == ("int8", "int32")
    assert f["weight_transformations"] == "quantization, affine fusion"
    assert f["starting_weights"] == "bert_large_v1_1_fake_quant.onnx"
    assert f["valid"] is True and f["scenario"] == "offline"
    assert f["latency_ms"]["p99"] == pytest.approx(675170.850661)  # ns → ms


def test_fact_2_llama_two_rounds(ingested: Any) -> None:
    db, _, _ = ingested
    key41 = f"{V41}/closed/NVIDIA/results/H200-SXM-141GBx8_TRT/llama2-70b-99.9/Offline"
    key40 = f"{V40}/closed/NVIDIA/results/H200-SXM-141GBx8_TRT/llama2-70b-99.9/Offline"
    new, old = db.get(key41).envelope, db.get(key40).envelope
    assert (old["fields"]["tokens_per_s"], new["fields"]["tokens_per_s"]) == (27738.3, 31302.7)
    assert old["fields"]["samples_per_s"] == pytest.approx(94.62, abs=0.01)
    assert new["fields"]["samples_per_s"] == pytest.approx(107.48, abs=0.01)
    assert "TensorRT 9.3.0, CUDA 12.2" in old["fields"]["software"]["framework"]
    assert "TensorRT 10.2.0, CUDA 12.4" in new["fields"]["software"]["framework"]
    assert (old["fields"]["system_status"], new["fields"]["system_status"]) == ("preview", "available")
    assert new["links"] == [{"rel": "previous_round", "key": key40}]
    assert new["model"] == old["model"] == "llama2-70b-99.9"


def test_fact_3_triton_vs_native(ingested: Any) -> None:
    db, _, _ = ingested
    triton = _fields(db, f"{V41}/closed/NVIDIA/results/H200-SXM-141GBx8_TRT_Triton/llama2-70b-99/Server")
    native = _fields(db, f"{V41}/closed/NVIDIA/results/H200-SXM-141GBx8_TRT/llama2-70b-99/Server")
    assert (triton["tokens_per_s"], native["tokens_per_s"]) == (30128.44, 29228.22)
    assert native["ttft_ms"]["p99"] > 0 and native["tpot_ms"]["p99"] > 0


def test_fact_5_redhat_vllm_stack(ingested: Any) -> None:
    db, _, _ = ingested
    f = _fields(db, f"{V41}/closed/RedHat/results/L40S-RedHat-OpenShift/llama2-70b-99.9/Server")
    assert f["tokens_per_s"] == 1469.19
    assert "vllm 0.5.1" in f["software"]["stack"] and "535.129.03" in f["software"]["stack"]
    assert f["precision"] == "fp16" and f["weight_transformations"] == "none"


def test_fact_6_fp8_vs_gptq_lowercase_scenarios(ingested: Any) -> None:
    db, _, _ = ingested
    base = f"{V41}/open/NeuralMagic/results/4xH100-SXM-80GB_vLLM_{{}}-reference-cpu-pytorch-v2.3.1-default_config/llama2-70b-99/server"
    fp8, gptq = _fields(db, base.format("FP8")), _fields(db, base.format("GPTQ"))
    assert (fp8["tokens_per_s"], gptq["tokens_per_s"]) == (1468.24, 1164.04)
    assert fp8["scenario"] == gptq["scenario"] == "server"
    assert fp8["precision"] == "fp8"


def test_fact_7_depth_pruned_vs_sparse(ingested: Any) -> None:
    db, _, _ = ingested
    base = f"{V41}/open/NVIDIA/results/H200-SXM-141GBx1_TRT_{{}}/llama2-70b-99/Offline"
    pruned, sparse = _fields(db, base.format("DepthPruned")), _fields(db, base.format("Sparse"))
    assert (pruned["tokens_per_s"], sparse["tokens_per_s"]) == (11189.1, 4575.06)
    assert pruned["accuracy"]["rouge1"] == pytest.approx(42.98, abs=0.01)
    assert sparse["accuracy"]["rouge1"] == pytest.approx(44.46, abs=0.01)


def test_fact_8_triton_bert_config(ingested: Any) -> None:
    db, _, _ = ingested
    f = _fields(db, "serving/triton-server/deploy/gke-marketplace-app/benchmark/model-store/bert_base_trt_gpu/"
                    "config.pbtxt")
    assert f["platform"] == "tensorrt_plan" and f["batching"]["max_batch_size"] == 4
    assert f["batching"]["preferred_batch_size"] == [4] and f["batching"]["max_queue_delay_ms"] == 200.0
    assert f["replicas"] == 2 and f["hardware"] == "gpu"
    assert "max_queue_delay_microseconds: 200000" in f["raw"]


def test_fact_9_kserve_canary_rollback(ingested: Any) -> None:
    db, _, _ = ingested
    base = "serving/kserve/docs/samples/v1beta1/rollout"
    canary = db.get(f"{base}/canary.yaml").envelope
    pinned = db.get(f"{base}/pinned.yaml").envelope
    assert canary["kind"] == pinned["kind"] == "deployment"
    assert (canary["fields"]["strategy"], canary["fields"]["traffic_percent"]) == ("canary", 10)
    assert (pinned["fields"]["strategy"], pinned["fields"]["traffic_percent"]) == ("rollback", 0)
    procedure = db.get(f"{base}/README.md:rollback-and-pin-the-model").envelope
    assert procedure["kind"] == "rollback_procedure"
    assert procedure["source"]["anchor"] == "rollback-and-pin-the-model"
    assert any("pinned.yaml" in step for step in procedure["fields"]["steps"])
    assert db.get(f"{base}/promotion.yaml").envelope["kind"] == "serving_config"


def test_fact_10_int8_speedups(ingested: Any) -> None:
    db, _, _ = ingested
    cards = "benchmarks/onnx-model-zoo/validated"
    resnet = db.get(f"{cards}/vision/classification/resnet/README.md:int8-vs-fp32-resnet50").envelope
    assert resnet["kind"] == "optimization" and resnet["model"] == "ResNet50"
    f = resnet["fields"]
    assert f["technique"] == "quantization_int8" and f["speedup_x"] == 1.82
    assert f["accuracy_drop_pct"] == {"Top-1 accuracy": 0.27, "Top-5 accuracy": 0.01}
    assert (f["baseline"]["accuracy"], f["result"]["accuracy"]) == (74.97, 74.77)
    bert = _fields(db, f"{cards}/text/machine_comprehension/bert-squad/README.md:int8-vs-fp32-bert-squad")
    assert bert["speedup_x"] == 1.81 and bert["accuracy_drop_pct"] == {"accuracy": 0.29}


def test_fact_11_and_12_gitlab_runbooks(ingested: Any) -> None:
    db, _, _ = ingested
    rollback = db.get("runbooks/gitlab-com-runbooks/docs/uncategorized/upgrade-and-rollback.md").envelope
    assert rollback["kind"] == "rollback_procedure"
    steps = " ".join(rollback["fields"]["steps"])
    assert "S1 / ~S2" in steps and "IMOC" in steps and "DBRE" in steps
    failover = db.get("runbooks/gitlab-com-runbooks/docs/duo/code_suggestion_failover.md").envelope
    assert failover["kind"] == "rollback_procedure"
    assert any("incident_fail_over_generation_provider true" in s for s in failover["fields"]["steps"])


def test_fact_14_untether_single_stream(ingested: Any) -> None:
    db, _, _ = ingested
    f = _fields(db, f"{V41}/closed/UntetherAI/results/h13_u1_preview/resnet50/singlestream")
    assert f["scenario"] == "single_stream" and f["early_stopping_latency_ms"] == pytest.approx(0.119199)
    assert f["precision"] == "float8" and f["input_data_types"] == "float8"


def test_fact_15_intel_emr_flat(ingested: Any) -> None:
    db, _, _ = ingested
    new = _fields(db, f"{V41}/closed/Intel/results/1-node-2S-EMR-PyTorch/resnet50/Offline")
    old = _fields(db, f"{V40}/closed/Intel/results/1-node-2S-EMR-PyTorch/resnet50/Offline")
    assert (old["throughput_qps"], new["throughput_qps"]) == (25289.6, 25204.5)
    assert (old["software"]["os"], new["software"]["os"]) == ("CentOS Stream 8", "CentOS Stream 9")


def test_fact_4_amd_fp8(ingested: Any) -> None:
    db, _, _ = ingested
    f = _fields(db, f"{V41}/closed/AMD/results/8xMI300X_2xEPYC-9374F/llama2-70b-99/Offline")
    assert f["tokens_per_s"] == 23514.8 and f["samples_per_s"] == pytest.approx(80.15, abs=0.01)
    assert f["precision"].lower() == "fp8"


def test_fact_13_multi_model_serving_note(ingested: Any) -> None:
    db, _, _ = ingested
    key = "serving/kserve/docs/samples/multimodelserving/benchmark/BENCHMARK.md"
    parts = [r.envelope for r in db.store.iter_current() if r.key == key or r.key.startswith(key + ":")]
    text = " ".join(p["body"] for p in parts)
    assert "352 InferenceServices" in text and "6 InferenceService" in text
    assert all(p["source"]["path"] == key for p in parts)


def test_the_corpus_own_readme_and_sources_are_tagged_notes(ingested: Any) -> None:
    db, _, _ = ingested
    for key in ("README.md", "SOURCES.md"):
        record = db.get(key)
        assert record.kind == "note" and "collection-doc" in record.envelope["tags"]
    keys = [r.key for r in db.store.iter_current(kind="rollback_procedure")]
    assert keys and not any(k.startswith(("SOURCES.md", "README.md")) for k in keys)
    assert db.counts()["rollback_procedure"] >= 5  # the real runbooks still are procedures
    pack = db.context("corpus layout sources provenance rollback runbooks", budget=2000)
    assert not any(c.startswith(("README.md@", "SOURCES.md@")) for c in pack.citations)


def test_the_corpus_brief_lists_only_models_that_need_attention(ingested: Any) -> None:
    db, _, _ = ingested
    brief = db.brief()
    text = brief.markdown()
    assert brief.quiet_models > 100 and len(brief.models) < 10
    assert "None →" not in text and len(text.encode()) < 4000
    every = db.brief(all_models=True, budget=100_000).markdown()
    assert "None →" not in every and "undated" in every
