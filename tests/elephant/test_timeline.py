"""What the web pages read: a model's timeline, its benchmark series, every model's overview and a page of
regression findings — on SQLite and PostgreSQL, checked against the brief and the findings list."""

from __future__ import annotations

from typing import Any

import pytest

from elephant.answers.timeline import (
    MAX_STRIP,
    benchmark_series,
    model_overview,
    model_timeline,
    regression_page,
)
from elephant.errors import UsageError
from elephant.kinds.render import outcome_class
from tests.api.webdata import INT8, RANKER_SERIES_POINTS, REGRESSION, load_demo


@pytest.fixture
def demo_db(db: Any) -> Any:
    load_demo(db)
    return db


def test_timeline_newest_first_with_outcome_colours(demo_db: Any) -> None:
    found = model_timeline(demo_db.store, "ranker")
    dated = [e.occurred_at for e in found.events if e.occurred_at]
    assert dated == sorted(dated, reverse=True)
    int8 = next(e for e in found.events if e.key == INT8)
    assert (int8.outcome_class, int8.date, int8.outcome) == ("rolled_back", "2026-03-12", "rolled_back")
    assert "p99 45 → 18 ms (−60 %)" in int8.figures
    assert found.total == len(found.strip) == len(found.events)
    assert "benchmark" not in {e.kind for e in found.events} and found.kind_counts["benchmark"] == 6


def test_timeline_filters_by_kind_and_period_and_pages(demo_db: Any) -> None:
    only = model_timeline(demo_db.store, "ranker", kinds=["deployment"], since="2026-01-01", until="2026-03-14")
    assert {e.kind for e in only.events} == {"deployment"}
    assert [e.date for e in only.events] == ["2026-03-14", "2026-01-21"]  # the day named by `until` counts
    first = model_timeline(demo_db.store, "ranker", limit=3)
    second = model_timeline(demo_db.store, "ranker", limit=3, offset=3)
    assert [e.key for e in first.events + second.events] == [e.key for e in first.strip[:6]]
    with pytest.raises(UsageError, match="since must be a date"):
        model_timeline(demo_db.store, "ranker", since="last spring")


def test_timeline_beyond_the_strip_still_pages(db: Any) -> None:
    db.put_many([{"kind": "note", "key": f"n/{i:04d}", "title": f"n{i}", "model": "big",
                  "occurred_at": f"20{10 + i // 336:02d}-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}"}
                 for i in range(MAX_STRIP + 30)])
    found = model_timeline(db.store, "big", limit=50, offset=MAX_STRIP)
    assert found.total == MAX_STRIP + 30 and len(found.strip) == MAX_STRIP and len(found.events) == 30


@pytest.mark.parametrize(("kind", "fields", "colour"), [
    ("optimization", {"outcome": "adopted"}, "adopted"), ("optimization", {"outcome": "weird"}, "none"),
    ("deployment", {"status": "succeeded"}, "adopted"), ("deployment", {"status": "failed"}, "rejected"),
    ("deployment", {"strategy": "rollback", "status": "succeeded"}, "rolled_back"),
    ("deployment", {"status": "in_progress"}, "in_progress"), ("incident", {}, "in_progress"),
    ("incident", {"resolved_at": "2026-01-02"}, "none"), ("note", {}, "none"),
])
def test_outcome_classes(kind: str, fields: dict[str, Any], colour: str) -> None:
    assert outcome_class(kind, fields) == colour


def test_benchmark_series_mark_the_regression(demo_db: Any) -> None:
    series = {s.label: s for s in benchmark_series(demo_db.store, "ranker")}
    ranker = series["c6i.2xlarge (8 vCPU) · server"]
    assert len(ranker.points) == RANKER_SERIES_POINTS
    assert [p.date for p in ranker.points] == ["2026-03-10", "2026-03-24", "2026-04-14", "2026-05-05"]
    assert [(p.regression, p.regression_status) for p in ranker.points][2] == (REGRESSION, "open")
    assert ranker.regressions == 1
    demo_db.resolve_regression(REGRESSION, note="fixed")
    again = {s.label: s for s in benchmark_series(demo_db.store, "ranker")}
    assert again["c6i.2xlarge (8 vCPU) · server"].points[2].regression_status == "resolved"


def test_overview_agrees_with_the_brief(demo_db: Any) -> None:
    brief = {m.model: m for m in demo_db.brief().models}
    overview, per_kind = model_overview(demo_db.store)
    counts = demo_db.counts()
    assert per_kind == {k: v for k, v in counts.items() if not k.startswith("_")}
    assert [o.model for o in overview if o.needs_attention] == [m for m in brief if brief[m].needs_attention]
    for o in overview:
        b = brief.get(o.model)
        if b is None:
            continue
        assert o.open_regressions == len(b.open_regressions), o.model
        assert o.open_incidents == len(b.open_incidents), o.model
        assert o.features_not_verified == len(b.features_not_verified), o.model
        for mine, theirs in ((o.serving_config, b.serving_config), (o.latest_benchmark, b.latest_benchmark),
                             (o.last_deployment, b.last_deployment)):
            assert (mine.key if mine else None) == (theirs.key if theirs else None), o.model
    ranker = next(o for o in overview if o.model == "ranker")
    assert ranker.latest_benchmark is not None and ranker.latest_benchmark.p99 == 43.9


def test_regression_pages_agree_with_the_findings_list(demo_db: Any) -> None:
    demo_db.put_many([{"kind": "benchmark", "key": f"m/b{i}", "title": f"b{i}", "model": "m",
                       "occurred_at": f"2026-01-{i + 1:02d}", "fields": {"hardware": "h", "scenario": "server",
                                                                          "latency_ms": {"p99": 10.0 * (i + 1)}}}
                      for i in range(6)])
    demo_db.resolve_regression("regression/m/b2")
    for status in ("open", "resolved", "all"):
        for model in (None, "m", "ranker"):
            expected = [f.key for f in demo_db.regressions(model=model, status=status)]
            page, total = regression_page(demo_db.store, model=model, status=status, limit=2)
            assert total == len(expected), (status, model)
            assert [r.key for r in page] == expected[:2], (status, model)
    with pytest.raises(UsageError):
        regression_page(demo_db.store, status="closed")
