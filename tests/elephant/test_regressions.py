"""Regression findings: written in the benchmark's transaction, past the threshold only, versioned, resolvable."""

from __future__ import annotations

from typing import Any

import pytest

import elephant
from elephant.answers.regressions import compare_benchmarks, finding_key
from elephant.errors import NotFound, StoreError, UsageError


def bench(key: str, when: str, *, p99: float = 45, p95: float = 39, qps: float = 820, model: str = "ranker",
          hardware: str = "c6i.4xlarge", scenario: str = "server", batch: int | None = 16,
          accuracy: dict[str, float] | None = None, valid: bool = True) -> dict[str, Any]:
    fields: dict[str, Any] = {"hardware": hardware, "scenario": scenario, "latency_ms": {"p50": 20, "p95": p95, "p99": p99},
                              "throughput_qps": qps, "valid": valid}
    if batch is not None:
        fields["batch_size"] = batch
    if accuracy is not None:
        fields["accuracy"] = accuracy
    return {"kind": "benchmark", "key": key, "title": f"{model} benchmark {when}", "model": model,
            "occurred_at": when, "fields": fields}


def test_flagged_past_the_threshold_and_not_below(db: Any) -> None:
    db.put(bench("ranker/b1", "2026-01-01", p99=40))
    db.put(bench("ranker/b2", "2026-02-01", p99=43))  # +7.5 %: under the default 10 %
    assert db.regressions() == []
    db.put(bench("ranker/b3", "2026-03-01", p99=50))  # +16 % against b2, the previous one
    findings = db.regressions(model="ranker")
    assert [f.key for f in findings] == [finding_key("ranker/b3")]
    item = findings[0].to_dict()
    assert item["status"] == "open"
    assert item["baseline"] == "ranker/b2@1" and item["candidate"] == "ranker/b3@1"
    p99 = item["metrics"]["latency_ms.p99"]
    assert p99["baseline"] == 43 and p99["candidate"] == 50 and p99["worse"] is True
    assert round(p99["change_pct"], 1) == 16.3
    assert item["metrics"]["throughput_qps"]["worse"] is False
    record = db.get(finding_key("ranker/b3"))
    assert record.kind == "regression" and "p99 43 → 50 ms (+16 %)" in record.envelope["title"]
    assert {link["rel"] for link in record.envelope["links"]} == {"baseline", "candidate"}


def test_throughput_and_accuracy_drops(db: Any) -> None:
    db.put(bench("ranker/b1", "2026-01-01", qps=1000, accuracy={"ndcg_at_10": 0.412}))
    db.put(bench("ranker/b2", "2026-02-01", qps=880, accuracy={"ndcg_at_10": 0.412}))  # −12 % throughput
    db.put(bench("ranker/b3", "2026-03-01", qps=880, accuracy={"ndcg_at_10": 0.405}))  # accuracy drop only
    found = {f.key: f.to_dict()["metrics"] for f in db.regressions(status="all")}
    assert found[finding_key("ranker/b2")]["throughput_qps"]["worse"] is True
    assert found[finding_key("ranker/b3")]["accuracy.ndcg_at_10"]["worse"] is True
    assert found[finding_key("ranker/b3")]["throughput_qps"]["worse"] is False


def test_error_metrics_regress_when_they_rise(db: Any) -> None:
    """WER, WAPE, MAE, log loss: lower is better, so a fall is an improvement and a rise the regression."""
    db.put(bench("asr/b1", "2026-01-01", model="asr", accuracy={"wer": 0.148, "wape": 0.21, "auc": 0.80}))
    db.put(bench("asr/b2", "2026-02-01", model="asr", accuracy={"wer": 0.127, "wape": 0.18, "auc": 0.80}))
    assert db.regressions(model="asr") == []  # both errors fell: no finding
    db.put(bench("asr/b3", "2026-03-01", model="asr", accuracy={"wer": 0.134, "wape": 0.18, "auc": 0.80}))
    metrics = db.regressions(model="asr")[0].to_dict()["metrics"]
    assert metrics["accuracy.wer"]["worse"] is True and metrics["accuracy.wape"]["worse"] is False


def test_only_the_same_series_is_compared(db: Any) -> None:
    db.put(bench("ranker/cpu", "2026-01-01", p99=20))
    db.put(bench("ranker/gpu", "2026-02-01", p99=60, hardware="g5.xlarge"))  # other hardware
    db.put(bench("ranker/offline", "2026-02-02", p99=90, scenario="offline"))  # other scenario
    db.put(bench("ranker/b64", "2026-02-03", p99=80, batch=64))  # other batch size
    db.put(bench("other/b", "2026-02-04", p99=99, model="other"))  # other model
    db.put(bench("ranker/bad", "2026-02-05", p99=99, valid=False))  # an invalid run proves nothing
    assert db.regressions(status="all") == []


def test_resolve_is_a_new_version_and_the_filter_follows(db: Any) -> None:
    db.put(bench("ranker/b1", "2026-01-01", p99=40))
    db.put(bench("ranker/b2", "2026-02-01", p99=60))
    key = finding_key("ranker/b2")
    result = db.resolve_regression(key, note="noisy neighbour; rerun clean")
    assert result.version == 2
    assert db.regressions() == []
    resolved = db.regressions(status="resolved")
    assert [f.key for f in resolved] == [key]
    assert resolved[0].to_dict()["resolution"] == "noisy neighbour; rerun clean"
    assert [v.version for v in db.history(key)] == [1, 2]
    with pytest.raises(NotFound):
        db.resolve_regression("ranker/b1")  # a benchmark, not a finding
    with pytest.raises(UsageError):
        db.regressions(status="closed")


def test_correcting_the_benchmark_resolves_its_finding(db: Any) -> None:
    db.put(bench("ranker/b1", "2026-01-01", p99=40))
    db.put(bench("ranker/b2", "2026-02-01", p99=60))
    db.put(bench("ranker/b2", "2026-02-01", p99=41))  # v2 of the benchmark: a typo fixed
    finding = db.get(finding_key("ranker/b2"))
    assert finding.version == 2 and finding.envelope["fields"]["status"] == "resolved"


def test_finding_commits_with_its_benchmark_or_not_at_all(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    db.put(bench("ranker/b1", "2026-01-01", p99=40))
    original = db.store._write_one

    def failing(conn: Any, record: Any, **kwargs: Any) -> Any:
        if record.kind == "regression":
            raise StoreError("disk full while writing the finding")
        return original(conn, record, **kwargs)

    monkeypatch.setattr(db.store, "_write_one", failing)
    with pytest.raises(StoreError):
        db.put(bench("ranker/b2", "2026-02-01", p99=60))
    monkeypatch.undo()
    with pytest.raises(NotFound):
        db.get("ranker/b2")  # the benchmark rolled back with its finding


def test_threshold_comes_from_settings(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEPHANT_REGRESSION_THRESHOLD_PCT", "25")
    with elephant.open() as db:
        db.put(bench("ranker/b1", "2026-01-01", p99=40))
        db.put(bench("ranker/b2", "2026-02-01", p99=48))  # +20 %: under 25 %
        assert db.regressions() == []
        db.put(bench("ranker/b3", "2026-03-01", p99=61))  # +27 %
        assert [f.key for f in db.regressions()] == [finding_key("ranker/b3")]


def mlperf(key: str, round_date: str, qps: float, *, model: str, system: str, scenario: str,
           rouge: float | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"hardware": system, "scenario": scenario, "throughput_qps": qps, "valid": True}
    if rouge is not None:
        fields["accuracy"] = {"rouge1": rouge}
    return {"kind": "benchmark", "key": key, "title": f"{model} {scenario} on {system}", "model": model,
            "occurred_at": round_date, "fields": fields}


def test_mlperf_rounds_compare_sensibly(db: Any) -> None:
    # Figures from the corpus (README facts 2 and 15): v4.0 → v4.1 on the same system and scenario.
    db.put(mlperf("mlperf/v4.0/nvidia/llama", "2024-03-27", 27738.3, model="llama2-70b-99.9",
                  system="H200-SXM-141GBx8_TRT", scenario="Offline", rouge=44.43))
    db.put(mlperf("mlperf/v4.1/nvidia/llama", "2024-08-28", 31302.7, model="llama2-70b-99.9",
                  system="H200-SXM-141GBx8_TRT", scenario="offline", rouge=44.42))  # faster; accuracy within noise
    db.put(mlperf("mlperf/v4.0/intel/resnet", "2024-03-27", 25289.6, model="resnet50",
                  system="1-node-2S-EMR-PyTorch", scenario="Offline"))
    db.put(mlperf("mlperf/v4.1/intel/resnet", "2024-08-28", 25204.5, model="resnet50",
                  system="1-node-2S-EMR-PyTorch", scenario="Offline"))  # −0.3 %: flat
    assert db.regressions(status="all") == []
    db.put(mlperf("mlperf/v4.2/intel/resnet", "2025-04-02", 21000.0, model="resnet50",
                  system="1-node-2S-EMR-PyTorch", scenario="Offline"))
    [finding] = db.regressions()
    assert finding.to_dict()["baseline"] == "mlperf/v4.1/intel/resnet@1"
    assert "throughput 25,204.5 → 21,000 qps (−17 %)" in finding.record.envelope["title"]


def test_backdated_benchmark_compares_with_what_came_before_it(db: Any) -> None:
    db.put(bench("ranker/b-mar", "2026-03-01", p99=40))
    db.put(bench("ranker/b-jan", "2026-01-01", p99=80))  # older in the world: no predecessor, no finding
    assert db.regressions(status="all") == []


def test_compare_handles_missing_and_zero_values() -> None:
    result = compare_benchmarks({"latency_ms": {"p99": 0}, "throughput_qps": 0}, {"latency_ms": {"p99": 5},
                                                                                "throughput_qps": 10},
                                threshold_pct=10)
    by_metric = {c.metric: c for c in result}
    assert by_metric["latency_ms.p99"].worse and by_metric["latency_ms.p99"].change_pct is None
    assert not by_metric["throughput_qps"].worse
    assert compare_benchmarks({}, {"latency_ms": {"p99": 5}}, threshold_pct=10) == []


def test_latency_is_judged_at_the_same_load() -> None:
    # MLPerf Server v4.0 → v4.1 (stable-diffusion-xl on 8xH200): target QPS raised, p99 up 36 %, throughput up 24 %.
    server = compare_benchmarks({"scenario": "server", "latency_ms": {"p99": 11314.1}, "throughput_qps": 13.55},
                                {"scenario": "server", "latency_ms": {"p99": 15427.8}, "throughput_qps": 16.78},
                                threshold_pct=10)
    assert not any(c.worse for c in server)
    # Offline percentiles time one big batch: only throughput counts.
    offline = compare_benchmarks({"scenario": "Offline", "latency_ms": {"p99": 100}, "throughput_qps": 1000},
                                 {"scenario": "offline", "latency_ms": {"p99": 200}, "throughput_qps": 1000},
                                 threshold_pct=10)
    assert not any(c.worse for c in offline)
    same_load = compare_benchmarks({"latency_ms": {"p99": 100}, "throughput_qps": 1000},
                                   {"latency_ms": {"p99": 120}, "throughput_qps": 1050}, threshold_pct=10)
    assert [c.metric for c in same_load if c.worse] == ["latency_ms.p99"]


def test_a_small_accuracy_cost_of_a_much_faster_run_is_a_trade_not_a_regression(db: Any) -> None:
    db.put(bench("ranker/t1", "2026-01-01", p99=55, qps=1400, accuracy={"f1": 0.945}))
    # TensorRT FP16: p99 −44 %, F1 0.945 → 0.944 (−0.1 %): the operating point the team chose.
    db.put(bench("ranker/t2", "2026-02-01", p99=31, qps=2600, accuracy={"f1": 0.944}))
    def flagged() -> set[str]:
        return {f.key for f in db.regressions(status="all")}
    assert finding_key("ranker/t2") not in flagged()
    # The same drop with no speed gained is still flagged, and so is a larger one that came with speed.
    db.put(bench("ranker/t3", "2026-03-01", p99=31, qps=2600, accuracy={"f1": 0.943}))
    assert finding_key("ranker/t3") in flagged()
    db.put(bench("ranker/t4", "2026-04-01", p99=15, qps=5200, accuracy={"f1": 0.93}))
    assert finding_key("ranker/t4") in flagged()
