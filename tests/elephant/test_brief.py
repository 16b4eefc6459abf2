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
    assert [m.model for m in db.brief(all_models=True).models] == ["ranker", "quiet"]
    # By default only the models that need attention, and one line counting the others.
    default = db.brief()
    assert [m.model for m in default.models] == ["ranker"] and default.quiet_models == 1
    assert "1 other model(s) are quiet" in default.markdown() and "elephant brief --all" in default.markdown()
    assert default.to_dict()["quiet_models"] == 1 and "quiet/b@1" not in default.to_dict()["citations"]
    quiet = db.brief("quiet").models[0]
    assert quiet.serving_config is None and not quiet.needs_attention
    assert "Serving: none recorded" in quiet.markdown()


def test_brief_of_unknown_model_and_empty_store(db: Any) -> None:
    assert db.brief().models == []
    assert "Nothing in memory yet" in db.brief().markdown()
    with pytest.raises(NotFound):
        db.brief("nosuch")


def _many_models(count: int, *, attention: bool) -> list[dict[str, Any]]:
    records = []
    for n in range(count):
        records.append({"kind": "benchmark", "key": f"m{n:03d}/bench", "title": f"benchmark of m{n:03d}",
                        "model": f"m{n:03d}", "occurred_at": "2025-01-01",
                        "fields": {"hardware": "c6i", "latency_ms": {"p99": 5 + n}, "throughput_qps": 100}})
        if attention:
            records.append({"kind": "incident", "key": f"m{n:03d}/inc", "title": f"m{n:03d} p99 alerts",
                            "model": f"m{n:03d}", "occurred_at": "2025-02-01", "fields": {"severity": "sev3"}})
    return records


def test_brief_fits_its_budget_and_names_what_it_left_out(db: Any) -> None:
    db.put_many(_many_models(40, attention=True))
    count = db.embedder.count_tokens
    whole = db.brief(all_models=True, budget=100_000)
    assert len(whole.models) == 40 and not whole.truncated
    for budget in (1, 20, 60, 300, 1000):
        brief = db.brief(budget=budget)
        text = brief.markdown()
        assert count(text) <= budget and brief.tokens == count(text) and brief.budget == budget
        assert brief.truncated
        assert len(brief.models) + len(brief.left_out_models) == 40 or brief.fits_nothing
    small = db.brief(budget=300)
    assert 0 < len(small.models) < 40
    assert f"{len(small.left_out_models)} more model(s) need attention" in small.markdown()
    # The structured part is bounded the same way: only the models shown, and their citations.
    data = small.to_dict()
    assert len(data["models"]) == len(small.models) and data["left_out_models"] == small.left_out_models
    assert all(c.split("/")[0] in {m.model for m in small.models} for c in data["citations"])


def test_one_model_over_budget_keeps_its_first_open_items(db: Any) -> None:
    db.put_many([{"kind": "incident", "key": f"big/inc-{n:02d}", "title": f"incident number {n} of the big model",
                  "model": "big", "occurred_at": f"2025-03-{n + 1:02d}", "fields": {"severity": "sev2"}}
                 for n in range(25)])
    brief = db.brief("big", budget=150)
    [big] = brief.models
    assert 0 < len(big.open_incidents) < 25 and big.more_open == 25 - len(big.open_incidents)
    assert big.open_incidents[0].key == "big/inc-24"  # newest first
    assert f"and {big.more_open} more open item(s)" in brief.markdown()
    assert brief.to_dict()["models"][0]["more_open"] == big.more_open


def test_brief_budget_is_checked(db: Any) -> None:
    from elephant.errors import UsageError

    for bad in (0, -5, 100_001, True, "300"):
        with pytest.raises(UsageError, match="budget"):
            db.brief(budget=bad)


def test_undated_records_never_pass_for_the_latest(db: Any) -> None:
    db.put_many([
        {"kind": "benchmark", "key": "m/dated", "title": "dated run", "model": "m", "occurred_at": "2024-05-01",
         "fields": {"latency_ms": {"p99": 30}}},
        {"kind": "benchmark", "key": "m/undated", "title": "sample from a repository", "model": "m",
         "fields": {"latency_ms": {"p99": 10}}},
        {"kind": "deployment", "key": "only/undated", "title": "a sample canary", "model": "only",
         "fields": {"strategy": "canary", "status": "in_progress", "to_version": "gs://bucket/models/flowers-2"}},
    ])
    [m] = db.brief("m").models
    assert m.latest_benchmark.key == "m/dated"
    [only] = db.brief("only").models
    # Recorded today, but not known to have happened today: the brief says so instead of printing today.
    text = db.brief("only").markdown()
    assert "Last deployment: undated: to gs://bucket/models/flowers-2 canary" in text
    assert "None" not in text and only.last_deployment.occurred_at is None


def test_in_progress_attempts_need_attention(db: Any) -> None:
    db.put_many([
        {"kind": "optimization", "key": "m/int8", "title": "INT8 of m", "model": "m", "occurred_at": "2025-03-01",
         "fields": {"technique": "quantization_int8", "outcome": "in_progress"}},
        {"kind": "optimization", "key": "n/int8", "title": "INT8 of n", "model": "n", "occurred_at": "2025-03-01",
         "fields": {"technique": "quantization_int8", "outcome": "rejected"}},
    ])
    brief = db.brief()
    assert [m.model for m in brief.models] == ["m"] and brief.quiet_models == 1
    assert [a.key for a in brief.models[0].attempts_in_progress] == ["m/int8"]
    assert "In-progress attempt**: 2025-03-01: INT8 of m (INT8 quantization)" in brief.markdown()


def test_the_brief_json_reads_back_as_the_same_brief(db: Any) -> None:
    from elephant import wire

    db.put_many(history() + _many_models(12, attention=True))
    for options in ({}, {"budget": 1}, {"budget": 150}, {"all_models": True}, {"model": "ranker"}):
        brief = db.brief(**options)
        again = wire.brief(brief.to_dict())
        assert again.markdown() == brief.markdown() and again.to_dict() == brief.to_dict(), options
