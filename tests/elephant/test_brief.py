"""The startup brief: latest config and percentiles, open problems, parity, last deployment."""

from __future__ import annotations

from typing import Any

import pytest

from elephant.errors import NotFound


def history() -> list[dict[str, Any]]:
    return [
        {"kind": "serving_config", "key": "ranker/cfg-old", "title": "old config", "model": "ranker",
         "occurred_at": "2025-01-01", "fields": {"runtime": "torchserve", "hardware": "c5", "replicas": 2}},
        {"kind": "serving_config", "key": "ranker/cfg", "title": "Triton CPU", "model": "ranker",
         "occurred_at": "2025-06-01", "fields": {"runtime": "triton", "hardware": "c6i.4xlarge", "replicas": 6,
                                                 "precision": "int8", "threads": 4,
                                                 "batching": {"max_batch_size": 16, "max_queue_delay_ms": 2}}},
        {"kind": "benchmark", "key": "ranker/b1", "title": "baseline", "model": "ranker", "occurred_at": "2025-06-02",
         "fields": {"hardware": "c6i", "scenario": "server", "latency_ms": {"p50": 20, "p95": 35, "p99": 40},
                    "throughput_qps": 800}},
        {"kind": "benchmark", "key": "ranker/b2", "title": "after upgrade", "model": "ranker",
         "occurred_at": "2025-07-02",
         "fields": {"hardware": "c6i", "scenario": "server", "latency_ms": {"p50": 22, "p95": 44, "p99": 52},
                    "throughput_qps": 790}},
        {"kind": "incident", "key": "ranker/inc-open", "title": "p99 alerts", "model": "ranker",
         "occurred_at": "2025-07-03", "fields": {"severity": "sev3"}},
        {"kind": "incident", "key": "ranker/inc-closed", "title": "old outage", "model": "ranker",
         "occurred_at": "2025-02-03", "fields": {"severity": "sev1", "resolved_at": "2025-02-03T12:00:00Z"}},
        {"kind": "feature_definition", "key": "ranker/f-drift", "title": "user_ctr_7d", "model": "ranker",
         "fields": {"feature": "user_ctr_7d", "parity": "drift", "skew_metric": {"psi": 0.31}}},
        {"kind": "feature_definition", "key": "ranker/f-ok", "title": "item_age", "model": "ranker",
         "fields": {"feature": "item_age", "parity": "verified"}},
        {"kind": "feature_definition", "key": "ranker/f-unknown", "title": "query_len", "model": "ranker",
         "fields": {"feature": "query_len"}},
        {"kind": "deployment", "key": "ranker/dep-1", "title": "canary v3", "model": "ranker",
         "occurred_at": "2025-05-01", "fields": {"strategy": "canary", "status": "succeeded"}},
        {"kind": "deployment", "key": "ranker/dep-2", "title": "canary v4", "model": "ranker",
         "occurred_at": "2025-07-04", "fields": {"strategy": "canary", "traffic_percent": 10, "status": "rolled_back",
                                                 "from_version": "v3", "to_version": "v4"}},
        {"kind": "benchmark", "key": "quiet/b", "title": "quiet model", "model": "quiet", "occurred_at": "2025-01-01",
         "fields": {"latency_ms": {"p99": 5}}},
    ]


def test_brief_contents(db: Any) -> None:
    report = db.put_many(history())
    assert report.ok
    brief = db.brief("ranker")
    [ranker] = brief.models
    assert ranker.serving_config.key == "ranker/cfg"
    assert "triton, c6i.4xlarge, int8, 6 replicas, 4 threads, batch ≤ 16, queue delay 2 ms" in ranker.serving_config.summary
    assert ranker.latest_benchmark.key == "ranker/b2"
    assert ranker.latest_benchmark.details["latency_ms"] == {"p50": 22, "p95": 44, "p99": 52}
    # b2 is 30 % worse at p99 than b1: the regression hook wrote a finding, and the brief shows it.
    assert [r.key for r in ranker.open_regressions] == ["regression/ranker/b2"]
    assert [i.key for i in ranker.open_incidents] == ["ranker/inc-open"]
    assert sorted(f.details["feature"] for f in ranker.features_not_verified) == ["query_len", "user_ctr_7d"]
    assert ranker.last_deployment.key == "ranker/dep-2" and ranker.last_deployment.details["status"] == "rolled_back"
    assert ranker.needs_attention
    text = brief.markdown()
    assert "## ranker ⚠" in text and "[`ranker/cfg@1`]" in text and "v3 → v4 canary at 10 %, rolled back" in text
    data = brief.to_dict()
    assert data["models"][0]["model"] == "ranker" and "ranker/b2@1" in data["citations"]


def test_brief_of_all_models_puts_attention_first(db: Any) -> None:
    db.put_many(history())
    models = [m.model for m in db.brief().models]
    assert models == ["ranker", "quiet"]
    quiet = db.brief("quiet").models[0]
    assert quiet.serving_config is None and not quiet.needs_attention
    assert "Serving: none recorded" in quiet.markdown()


def test_brief_of_unknown_model_and_empty_store(db: Any) -> None:
    assert db.brief().models == []
    assert "Nothing in memory yet" in db.brief().markdown()
    with pytest.raises(NotFound):
        db.brief("nosuch")
