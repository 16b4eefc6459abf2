"""What each page shows, read from the library: plain dicts that the templates turn into HTML.

Each function runs on a worker thread (the library blocks on SQL) and takes the page's query parameters
already read as text; a bad parameter is a ``UsageError`` (400), a missing record ``NotFound`` (404).
"""

from __future__ import annotations

import json
import math
import threading
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from elephant.answers.regressions import Finding
from elephant.answers.timeline import (
    TIMELINE_KINDS,
    BenchmarkSeries,
    TimelineEvent,
    benchmark_series,
    model_overview,
    model_timeline,
    regression_page,
)
from elephant.api.web.fields import field_rows, split_citation
from elephant.errors import NotFound, UsageError
from elephant.facade import Elephant
from elephant.kinds import KINDS
from elephant.kinds.phrases import OUTCOME_CLASSES
from elephant.timeutil import parse_ts, sortable_ts

PAGE_SIZE = 50
SEARCH_PAGE = 20
MAX_PAGE = 200


def page_number(params: Mapping[str, str]) -> int:
    raw = params.get("page", "1") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE * 50:
        raise UsageError(f"page must be a whole number from 1, got {raw[:20]!r}")
    return int(raw)


def positive(params: Mapping[str, str], name: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
        raise UsageError(f"{name} must be a version number (1, 2, ...), got {raw[:20]!r}")
    return int(raw)


def time_param(params: Mapping[str, str], name: str) -> str | None:
    """A date or time from a form (``2026-03-12`` or a datetime-local ``2026-03-12T10:00``), or None."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        sortable_ts(raw)
    except ValueError:
        raise UsageError(f"{name} must be a date (2026-03-12) or a time (2026-03-12T10:00), got {raw[:40]!r}") from None
    return raw


def pager(page: int, total: int, size: int) -> dict[str, Any]:
    pages = max(1, math.ceil(total / size))
    return {"page": page, "pages": pages, "total": total, "size": size,
            "first": (page - 1) * size + 1 if total else 0, "last": min(total, page * size)}


class StoreCache:
    """Store-wide aggregates (the models, the home page's overview, the counts), kept until the next write.

    Each is a scan of every current record (19-93 ms of CPU at 10k records on the EPYC); the store's last
    version id, one indexed read, says whether anything was written since. Per process, like the search
    cache: each worker of `elephant serve` keeps its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, Any]]] = weakref.WeakKeyDictionary()

    def get(self, db: Elephant, name: str, compute: Callable[[], Any]) -> Any:
        stamp = db.store.last_version_id()
        with self._lock:
            entries = self._entries.setdefault(db.store, {})
            found = entries.get(name)
            if found is not None and found[0] == stamp:
                return found[1]
        value = compute()
        with self._lock:
            self._entries.setdefault(db.store, {})[name] = (stamp, value)
        return value


CACHE = StoreCache()


def model_names(db: Elephant) -> dict[str, int]:
    """Every model with its number of live records, by name."""

    return dict(CACHE.get(db, "models", db.store.model_counts))


# ---------------------------------------------------------------- home
def home(db: Elephant, params: Mapping[str, str]) -> dict[str, Any]:
    page = page_number(params)
    overview, per_kind = CACHE.get(db, "overview", lambda: model_overview(db.store))
    shown = overview[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return {"models": shown, "pager": pager(page, len(overview), PAGE_SIZE), "records": sum(per_kind.values()),
            "open_regressions": sum(m.open_regressions for m in overview),
            "open_incidents": sum(m.open_incidents for m in overview),
            "kinds": sorted(KINDS), "all_models": [m.model for m in sorted(overview, key=lambda m: m.model)]}


# ---------------------------------------------------------------- model timeline
def _kinds_param(params: Any) -> list[str]:
    chosen = [k for k in params.getlist("kind") if k] if hasattr(params, "getlist") else []
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise UsageError(f"unknown kind {unknown[0][:40]!r}; expected one of {', '.join(sorted(KINDS))}")
    return chosen


def _strip_layout(events: list[TimelineEvent]) -> dict[str, Any]:
    """Positions (percent of the axis) and lanes for the time axis, plus year or month ticks."""
    dated = [(e, _seconds(e.occurred_at or e.recorded_at)) for e in events]
    if not dated:
        return {"dots": [], "ticks": []}
    low, high = min(t for _, t in dated), max(t for _, t in dated)
    span = max(high - low, 86400.0)
    low -= span * 0.03
    span *= 1.06
    lanes: list[float] = []
    dots = []
    for event, when in sorted(dated, key=lambda p: p[1]):
        x = (when - low) / span * 100
        lane = next((i for i, last in enumerate(lanes) if x - last >= 1.6), None)
        if lane is None:
            lane = len(lanes) if len(lanes) < 6 else min(range(len(lanes)), key=lambda i: lanes[i])
            if lane == len(lanes):
                lanes.append(x)
        lanes[lane] = x
        dots.append({"event": event, "x": round(x, 3), "lane": lane})
    ticks = []
    start, end = datetime.fromtimestamp(low, UTC), datetime.fromtimestamp(low + span, UTC)
    months = (end.year - start.year) * 12 + end.month - start.month
    step = 1 if months <= 14 else 3 if months <= 36 else 12
    year, month = start.year, start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if (month - 1) % step:
            continue
        moment = datetime(year, month, 1, tzinfo=UTC)
        if moment > end:
            break
        label = str(year) if month == 1 else f"{year}-{month:02d}"
        x = (moment.timestamp() - low) / span * 100
        if not 3 <= x <= 97:  # a label centred on the frame's edge would be cut in half
            continue
        ticks.append({"x": round((moment.timestamp() - low) / span * 100, 3), "label": label})
    return {"dots": dots, "ticks": ticks, "lanes": max(1, len(lanes))}


def _seconds(moment: str) -> float:
    """Epoch seconds of a stored date or timestamp; the common shapes without the general parser."""
    if len(moment) == 10:
        return datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()
    try:
        return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return parse_ts(moment).timestamp()


def _dots_html(dots: list[dict[str, Any]]) -> Any:
    """The axis' links, built here: a few hundred of them through the template's per-attribute escaping
    cost more than the page's data (10 of the timeline's 48 ms of CPU at 10k records)."""
    from markupsafe import Markup, escape

    from elephant.api.web.render import kind_label, record_url

    parts = []
    for d in dots:
        e = d["event"]
        kind = kind_label(e.kind)
        title = escape(f"{e.date} · {kind} · {e.title} — {e.summary}")
        parts.append(f'<a class="dot outcome-{escape(e.outcome_class)}" style="left: {d["x"]}%; top: {d["lane"] * 18 + 4}px" '
                     f'href="{escape(record_url(e.key, e.version))}" data-key="{escape(e.key)}" data-date="{escape(e.date)}" '
                     f'data-outcome="{escape(e.outcome_class)}" title="{title}"><span class="sr">{escape(e.date)} '
                     f'{escape(e.title)}</span></a>')
    return Markup("\n".join(parts))


def timeline(db: Elephant, model: str, params: Any) -> dict[str, Any]:
    page = page_number(params)
    kinds = _kinds_param(params)
    since, until = time_param(params, "since"), time_param(params, "until")
    found = model_timeline(db.store, model, kinds=kinds or None, since=since, until=until, limit=PAGE_SIZE,
                           offset=(page - 1) * PAGE_SIZE)
    if not found.kind_counts:
        raise NotFound(f"no records for model {model!r}", model=model)
    chosen = kinds or [k for k in TIMELINE_KINDS if k in found.kind_counts]
    legend = {c: sum(1 for e in found.strip if e.outcome_class == c) for c in OUTCOME_CLASSES}
    strip = _strip_layout(found.strip)
    strip["html"] = _dots_html(strip["dots"])
    return {"model": model, "timeline": found, "pager": pager(page, found.total, PAGE_SIZE),
            "strip": strip, "kinds": chosen, "kind_counts": found.kind_counts,
            "since": since or "", "until": until or "", "legend": legend,
            "benchmarks": found.kind_counts.get("benchmark", 0)}


# ---------------------------------------------------------------- benchmark charts
def _epoch(point_date: str) -> int:
    return int(parse_ts(point_date).timestamp())


def _chart(series: BenchmarkSeries, index: int) -> dict[str, Any]:
    points = series.points
    marked_metric = "throughput_qps" if series.offline or all(p.p99 is None for p in points) else "p99"
    return {
        "id": f"chart-{index}", "label": series.label, "offline": series.offline,
        "x": [_epoch(p.occurred_at or p.recorded_at) for p in points],
        "p50": [p.p50 for p in points], "p95": [p.p95 for p in points], "p99": [p.p99 for p in points],
        "qps": [p.throughput_qps for p in points],
        "urls": [f"/records/{p.key}?version={p.version}" for p in points],
        "titles": [p.title for p in points],
        "regressions": [bool(p.regression) for p in points],
        "marked": marked_metric,
    }


def benchmarks(db: Elephant, model: str) -> dict[str, Any]:
    series = benchmark_series(db.store, model)
    if not series:
        counts = model_names(db)
        if model not in counts:
            raise NotFound(f"no records for model {model!r}", model=model)
    charts = [_chart(s, i) for i, s in enumerate(series)]
    mlperf = _mlperf_rounds(series)
    return {"model": model, "series": series, "charts": charts, "mlperf": mlperf,
            "points": sum(len(s.points) for s in series), "regressions": sum(s.regressions for s in series)}


def _mlperf_rounds(series: list[BenchmarkSeries]) -> list[dict[str, Any]]:
    """Per scenario: a table of submitter × system (rows) by MLPerf round (columns), throughput in cells."""
    by_scenario: dict[str, dict[str, Any]] = {}
    for s in series:
        for p in s.points:
            if not p.round:
                continue
            table = by_scenario.setdefault(s.scenario or "?", {"scenario": s.scenario, "rounds": set(), "rows": {}})
            table["rounds"].add(p.round)
            row = table["rows"].setdefault((p.submitter or "?", s.hardware), {})
            row[p.round] = p
    out = []
    for scenario, table in sorted(by_scenario.items()):
        rounds = sorted(table["rounds"], key=lambda r: [int(x) if x.isdigit() else 0 for x in r.lstrip("v").split(".")])
        rows = [{"submitter": sub, "system": system, "cells": [cells.get(r) for r in rounds]}
                for (sub, system), cells in sorted(table["rows"].items())]
        out.append({"scenario": scenario, "rounds": rounds, "rows": rows})
    return out


# ---------------------------------------------------------------- record, versions, diff
def record(db: Elephant, key: str, params: Mapping[str, str]) -> dict[str, Any]:
    version = positive(params, "version")
    as_of = time_param(params, "as_of")
    if version is not None and as_of is not None:
        raise UsageError("give either a version or an as-of time, not both")
    history = db.history(key)
    shown = db.store.get(key, version=version, as_of=as_of, include_deleted=True)
    envelope = shown.envelope
    fields = envelope.get("fields") or {}
    links = [{"rel": str(link.get("rel") or "related"), "key": str(link.get("key") or "")}
             for link in envelope.get("links") or [] if isinstance(link, dict) and link.get("key")]
    current = history[-1]
    previous = next((v.version for v in reversed(history) if v.version < shown.version), None)
    return {
        "key": key, "record": shown, "envelope": envelope, "fields": field_rows(fields) if isinstance(fields, dict) else [],
        "links": links, "history": list(reversed(history)), "current": current, "as_of": as_of or "",
        "version": version, "is_current": shown.version == current.version, "previous": previous,
        "model": envelope.get("model"), "deleted": shown.is_deleted,
    }


def diff(db: Elephant, key: str, params: Mapping[str, str]) -> dict[str, Any]:
    history = db.history(key)
    numbers = [v.version for v in history]
    after = positive(params, "to") or numbers[-1]
    before = positive(params, "from") or (after - 1 if after > 1 else after)
    result = db.diff(key, before, after)
    changes = []
    for change in result.changes:
        changes.append({"path": change.path, "change": change.change, "before": _shown(change.before),
                        "after": _shown(change.after)})
    by_number = {v.version: v for v in history}
    return {"key": key, "diff": result, "changes": changes, "versions": numbers, "before": by_number[before],
            "after": by_number[after], "title": history[-1].title}


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- search and browse
def search(db: Elephant, params: Any) -> dict[str, Any]:
    page = page_number(params)
    query = (params.get("q") or "").strip()
    if len(query) > 2000:
        raise UsageError("a search is at most 2,000 characters")
    kinds = _kinds_param(params)
    model = (params.get("model") or "").strip() or None
    tag = (params.get("tag") or "").strip() or None
    since, until = time_param(params, "since"), time_param(params, "until")
    form = {"q": query, "kind": kinds[0] if kinds else "", "model": model or "", "tag": tag or "",
            "since": since or "", "until": until or ""}
    base = {"form": form, "kinds": sorted(KINDS), "all_models": list(model_names(db))}
    if not query:
        rows, total = _browse(db, kinds=kinds, model=model, tag=tag, since=since, until=until, page=page)
        return {**base, "mode": "browse", "results": rows, "pager": pager(page, total, SEARCH_PAGE),
                "degraded": False, "reason": None}
    k = min(page * SEARCH_PAGE, MAX_PAGE)
    found = db.search(query, kind=kinds or None, model=model, tags=[tag] if tag else None, since=since,
                      until=until, k=k)
    hits = list(found.results)
    shown = hits[(page - 1) * SEARCH_PAGE: page * SEARCH_PAGE]
    more = len(hits) == k and k < MAX_PAGE
    total = len(hits) + (1 if more else 0)
    results = [{"key": h.key, "version": h.version, "kind": h.kind, "title": h.title, "model": h.model,
                "occurred_at": h.occurred_at, "score": h.score} for h in shown]
    return {**base, "mode": "search", "results": results, "pager": pager(page, total, SEARCH_PAGE),
            "degraded": found.degraded, "reason": found.reason}


def _browse(db: Elephant, *, kinds: list[str], model: str | None, tag: str | None, since: str | None,
            until: str | None, page: int) -> tuple[list[dict[str, Any]], int]:
    rows, total = db.store.browse_current(kinds=kinds, model=model, tag=tag, since=since, until=until,
                                          limit=SEARCH_PAGE, offset=(page - 1) * SEARCH_PAGE)
    return [{**row, "score": None} for row in rows], total


# ---------------------------------------------------------------- ask
def ask(db: Elephant, params: Mapping[str, str]) -> dict[str, Any]:
    question = (params.get("q") or "").strip()
    if len(question) > 2000:
        raise UsageError("a question is at most 2,000 characters")
    if not question:
        return {"question": "", "response": None, "plan": None, "attempts": []}
    response = db.ask(question)
    data = response.to_dict()
    attempts = [{**item, "cite": f"{item['key']}@{item['version']}"} for item in data["attempts"]]
    return {"question": question, "response": data, "plan": data["plan"], "attempts": attempts,
            "reason": response.reason}


# ---------------------------------------------------------------- regressions
def regressions(db: Elephant, params: Mapping[str, str]) -> dict[str, Any]:
    page = page_number(params)
    status = params.get("status") or "open"
    if status not in ("open", "resolved", "all"):
        raise UsageError(f"status must be open, resolved or all, got {status[:20]!r}")
    model = (params.get("model") or "").strip() or None
    found, total = regression_page(db.store, model=model, status=status, limit=PAGE_SIZE,
                                   offset=(page - 1) * PAGE_SIZE)
    items = []
    for record in found:
        data = Finding(record).to_dict()
        metrics = [{"name": name, **m} for name, m in (data.get("metrics") or {}).items() if isinstance(m, dict)]
        items.append({**data, "metrics": metrics,
                      "baseline_ref": _ref(data.get("baseline")), "candidate_ref": _ref(data.get("candidate"))})
    return {"findings": items, "status": status, "model": model or "", "pager": pager(page, total, PAGE_SIZE),
            "all_models": list(model_names(db))}


def _ref(citation: Any) -> dict[str, Any] | None:
    if not isinstance(citation, str) or "@" not in citation:
        return None
    try:
        key, version = split_citation(citation)
    except ValueError:
        return None
    return {"key": key, "version": version, "citation": citation}
