"""A model's history in time order, and its benchmarks as series: what the web pages draw.

``model_timeline`` lists what was done to a model (optimizations, deployments, incidents, rollbacks, notes,
...) newest first, each with an outcome *class* a picture can colour: adopted, rejected, rolled_back,
in_progress, or none. ``benchmark_series`` groups a model's benchmarks by hardware × scenario (the series
regressions are found in) with their percentiles, throughput and the regression findings that name them.

Both read light columns first and decode envelopes only for the rows they return, so a model with a few
thousand records costs milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select

from elephant.answers.brief import brief_places
from elephant.answers.regressions import KEY_PREFIX, series_of
from elephant.errors import UsageError
from elephant.kinds import all_kinds, regression
from elephant.kinds.benchmark import is_offline
from elephant.kinds.render import date_of, record_card
from elephant.kinds.units import as_number
from elephant.storage.schema import heads
from elephant.storage.store import Store, StoredRecord
from elephant.timeutil import sortable_ts

# What the timeline shows unless asked otherwise; benchmarks have their own page (charts) and would flood it.
TIMELINE_KINDS = tuple(spec.name for spec in all_kinds() if spec.view.on_timeline)
MAX_STRIP = 1000  # events drawn on the time axis; the list below it pages through all of them


@dataclass(frozen=True)
class TimelineEvent:
    key: str
    version: int
    kind: str
    title: str
    occurred_at: str | None
    recorded_at: str
    outcome: str | None  # the kind's own word (rolled_back, succeeded, open, ...)
    outcome_class: str  # one of OUTCOME_CLASSES: the colour
    summary: str  # outcome in words, e.g. "rolled back: calibration drift"
    figures: list[str] = field(default_factory=list)

    @property
    def date(self) -> str:
        return date_of(self.occurred_at, self.recorded_at)

    @property
    def citation(self) -> str:
        return f"{self.key}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "citation": self.citation, "kind": self.kind,
                "title": self.title, "occurred_at": self.occurred_at, "date": self.date, "outcome": self.outcome,
                "outcome_class": self.outcome_class, "summary": self.summary, "figures": self.figures}


@dataclass
class Timeline:
    model: str
    events: list[TimelineEvent]  # this page, newest first
    total: int  # events matching the filters
    offset: int
    limit: int
    strip: list[TimelineEvent]  # up to MAX_STRIP events for the time axis, newest first
    kind_counts: dict[str, int]  # every kind this model has, with its count (for the filter)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "events": [e.to_dict() for e in self.events], "total": self.total,
                "offset": self.offset, "limit": self.limit, "kind_counts": self.kind_counts}


def _event(row: Any, *, figures: bool = True) -> TimelineEvent:
    envelope = json.loads(row.envelope)
    fields = envelope.get("fields") or {}
    if not isinstance(fields, dict):
        fields = {}
    card = record_card({**envelope, "key": row.key, "kind": str(row.kind), "fields": fields}, row.version,
                       figures=figures)
    return TimelineEvent(key=card.key, version=card.version, kind=card.kind, title=card.title,
                         occurred_at=card.occurred_at, recorded_at=row.recorded_at, outcome=card.outcome,
                         outcome_class=card.outcome_class, summary=card.summary, figures=card.figures)


def _bound(value: str | None, name: str) -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return sortable_ts(str(value).strip())
    except ValueError as exc:
        raise UsageError(f"{name} must be a date or an ISO-8601 time, got {value!r}") from exc


def model_timeline(store: Store, model: str, *, kinds: Sequence[str] | None = None, since: str | None = None,
                   until: str | None = None, limit: int = 50, offset: int = 0) -> Timeline:
    """The model's records of ``kinds`` (default ``TIMELINE_KINDS``) whose world time lies in [since, until],
    newest first; ``limit``/``offset`` page the list, the strip holds the newest ``MAX_STRIP``.

    Records without an ``occurred_at`` sort by when Elephant learnt them.
    """
    chosen = tuple(kinds) if kinds else TIMELINE_KINDS
    start, end = _bound(since, "since"), _bound(until, "until")
    if end is not None and len(str(until).strip()) == 10:  # a date: the whole day counts
        end = end[:10] + "T23:59:59.999999Z"
    when = func.coalesce(heads.c.occurred_at, heads.c.recorded_at)
    live = [heads.c.model == model, heads.c.is_deleted.is_(False)]
    conditions = [*live, heads.c.kind.in_(chosen)]
    if start is not None:
        conditions.append(when >= start)
    if end is not None:
        conditions.append(when <= end)
    columns = (heads.c.key, heads.c.version, heads.c.kind, heads.c.envelope, heads.c.recorded_at)
    with store.read_connection() as conn:
        counts = {str(k): int(n) for k, n in conn.execute(
            select(heads.c.kind, func.count()).where(and_(*live)).group_by(heads.c.kind)).all()}
        rows = conn.execute(select(*columns).where(and_(*conditions))
                            .order_by(when.desc(), heads.c.key).limit(MAX_STRIP)).all()
        total = len(rows)
        if total == MAX_STRIP:
            total = int(conn.execute(select(func.count()).select_from(heads).where(and_(*conditions))).scalar_one())
        if offset + limit > len(rows) and offset < total:
            page_rows = conn.execute(select(*columns).where(and_(*conditions)).order_by(when.desc(), heads.c.key)
                                     .limit(limit).offset(offset)).all()
        else:
            page_rows = rows[offset:offset + limit]
    strip = [_event(r, figures=False) for r in rows]  # the axis needs colour and title, not the figures
    events = [_event(r) for r in page_rows]
    return Timeline(model=model, events=events, total=total, offset=offset, limit=limit, strip=strip,
                    kind_counts=dict(sorted(counts.items())))


# ---------------------------------------------------------------- benchmark series
@dataclass(frozen=True)
class BenchmarkPoint:
    key: str
    version: int
    title: str
    occurred_at: str | None
    recorded_at: str
    p50: float | None
    p95: float | None
    p99: float | None
    throughput_qps: float | None
    regression: str | None = None  # key of the regression finding naming this benchmark as its candidate
    regression_status: str | None = None
    round: str | None = None  # MLPerf round ("v4.1"), when ingested from MLPerf results
    submitter: str | None = None

    @property
    def date(self) -> str:
        return date_of(self.occurred_at, self.recorded_at)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "title": self.title, "occurred_at": self.occurred_at,
                "date": self.date, "p50": self.p50, "p95": self.p95, "p99": self.p99,
                "throughput_qps": self.throughput_qps, "regression": self.regression,
                "regression_status": self.regression_status, "round": self.round, "submitter": self.submitter}


@dataclass
class BenchmarkSeries:
    model: str
    hardware: str
    scenario: str
    offline: bool  # an offline run's percentiles time one huge batch: only throughput is drawn
    points: list[BenchmarkPoint]  # oldest first

    @property
    def label(self) -> str:
        return " · ".join(p for p in (self.hardware, self.scenario) if p) or "unspecified hardware and scenario"

    @property
    def regressions(self) -> int:
        return sum(1 for p in self.points if p.regression)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "hardware": self.hardware, "scenario": self.scenario, "label": self.label,
                "offline": self.offline, "points": [p.to_dict() for p in self.points]}


MAX_BENCHMARKS = 5000  # per model page; the newest are kept


def benchmark_series(store: Store, model: str) -> list[BenchmarkSeries]:
    """The model's benchmarks as series (hardware × scenario), oldest point first, with regressions marked.

    A series' label keeps the first spelling seen; the grouping ignores case and punctuation as the
    regression check does (MLPerf writes "Offline", a team "offline").
    """
    when = func.coalesce(heads.c.occurred_at, heads.c.recorded_at)
    live = [heads.c.model == model, heads.c.is_deleted.is_(False)]
    with store.read_connection() as conn:
        rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.envelope, heads.c.recorded_at)
                            .where(and_(*live, heads.c.kind == "benchmark"))
                            .order_by(when.desc(), heads.c.key).limit(MAX_BENCHMARKS)).all()
        # A finding's key names its candidate benchmark (regression/<benchmark key>): no envelope to decode.
        resolved = heads.c.envelope.like('%"status":"resolved"%')
        findings = conn.execute(select(heads.c.key, resolved.label("resolved"))
                                .where(and_(*live, heads.c.kind == "regression"))).all()
    flagged: dict[str, tuple[str, str]] = {}
    for key, is_resolved in findings:
        if str(key).startswith(KEY_PREFIX):
            flagged[str(key)[len(KEY_PREFIX):]] = (str(key), "resolved" if is_resolved else "open")
    groups: dict[tuple[str, str, str], BenchmarkSeries] = {}
    for row in reversed(rows):  # oldest first
        envelope = json.loads(row.envelope)
        fields = envelope.get("fields") or {}
        if not isinstance(fields, dict):
            fields = {}
        slot = series_of(envelope)
        series = groups.get(slot)
        if series is None:
            series = groups[slot] = BenchmarkSeries(model=model, hardware=str(fields.get("hardware") or ""),
                                                    scenario=str(fields.get("scenario") or ""),
                                                    offline=is_offline(fields), points=[])
        raw_latency = fields.get("latency_ms")
        latency: dict[str, Any] = raw_latency if isinstance(raw_latency, dict) else {}
        finding = flagged.get(row.key)
        series.points.append(BenchmarkPoint(
            key=row.key, version=row.version, title=str(envelope.get("title") or row.key),
            occurred_at=envelope.get("occurred_at"), recorded_at=row.recorded_at,
            p50=as_number(latency.get("p50")), p95=as_number(latency.get("p95")), p99=as_number(latency.get("p99")),
            throughput_qps=as_number(fields.get("throughput_qps")),
            regression=finding[0] if finding else None, regression_status=finding[1] if finding else None,
            round=str(fields["round"]) if fields.get("round") else None,
            submitter=str(fields["submitter"]) if fields.get("submitter") else None))
    return sorted(groups.values(), key=lambda s: (-len(s.points), s.label))


# ---------------------------------------------------------------- every model at a glance
@dataclass
class ModelOverview:
    model: str
    records: int
    serving_config: TimelineEvent | None = None
    latest_benchmark: BenchmarkPoint | None = None
    benchmark_offline: bool = False
    last_deployment: TimelineEvent | None = None
    open_regressions: int = 0
    open_incidents: int = 0
    features_not_verified: int = 0

    @property
    def needs_attention(self) -> bool:
        return bool(self.open_regressions or self.open_incidents or self.features_not_verified
                    or (self.last_deployment is not None and self.last_deployment.outcome in ("rolled_back", "failed")))


def model_overview(store: Store) -> tuple[list[ModelOverview], dict[str, int]]:
    """Each model's latest serving config, benchmark and deployment and its open items, models needing
    attention first, and the live records per kind: the brief's facts for every model at once.

    Two passes over the current records in SQL (counts with the open items, and the latest of three kinds
    by a window function) and the envelopes of what is shown: 10k records cost one scan, not a decode each.
    """
    live = [heads.c.is_deleted.is_(False)]
    places = brief_places()
    latest_kinds = [kind for kind, place in places if place.latest]
    # Open items found in SQL on the canonical envelope JSON (sorted keys, no spaces), with no decoding.
    open_sql = {kind: place.open_sql for kind, place in places if not place.latest and place.open_sql is not None}
    slots = {kind: place.slot for kind, place in places}
    when = func.coalesce(heads.c.occurred_at, heads.c.recorded_at)
    ranked = (select(heads.c.key, func.row_number().over(
        partition_by=(heads.c.model, heads.c.kind), order_by=(when.desc(), heads.c.recorded_at.desc())).label("rank"))
        .where(and_(*live, heads.c.model.is_not(None), heads.c.kind.in_(latest_kinds)))
        .subquery())
    with store.read_connection() as conn:
        grouped = conn.execute(select(heads.c.model, heads.c.kind, func.count())
                               .where(and_(*live)).group_by(heads.c.model, heads.c.kind)).all()
        # Open items per kind through the kind index: only those kinds' rows are read for the LIKE.
        open_counts: dict[str, dict[Any, int]] = {kind: dict(conn.execute(select(heads.c.model, func.count()).where(
            and_(*live, heads.c.kind == kind, test(heads.c.envelope))).group_by(heads.c.model)).all())
            for kind, test in open_sql.items()}
        rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.kind, heads.c.envelope, heads.c.recorded_at)
                            .join(ranked, ranked.c.key == heads.c.key).where(ranked.c.rank == 1)).all()
    per_kind: dict[str, int] = {}
    out: dict[str, ModelOverview] = {}
    for model, kind, count in grouped:
        per_kind[str(kind)] = per_kind.get(str(kind), 0) + int(count)
        if model is None:
            continue
        entry = out.setdefault(str(model), ModelOverview(model=str(model), records=0))
        entry.records += int(count)
        if str(kind) in open_sql:
            setattr(entry, slots[str(kind)], int(open_counts[str(kind)].get(model, 0)))
    for row in rows:
        envelope = json.loads(row.envelope)
        shown = out.get(str(envelope.get("model")))
        if shown is None:
            continue
        entry = shown
        if row.kind == "benchmark":  # drawn as a point with its figures, not as an event
            fields = envelope.get("fields") or {}
            entry.benchmark_offline = isinstance(fields, dict) and is_offline(fields)
            entry.latest_benchmark = _point(row, envelope)
        elif hasattr(entry, slots[str(row.kind)]):
            setattr(entry, slots[str(row.kind)], _event(row))
    return sorted(out.values(), key=lambda e: (not e.needs_attention, e.model)), per_kind


def _point(row: Any, envelope: dict[str, Any]) -> BenchmarkPoint:
    fields = envelope.get("fields") or {}
    if not isinstance(fields, dict):
        fields = {}
    raw_latency = fields.get("latency_ms")
    latency: dict[str, Any] = raw_latency if isinstance(raw_latency, dict) else {}
    return BenchmarkPoint(key=row.key, version=row.version, title=str(envelope.get("title") or row.key),
                          occurred_at=envelope.get("occurred_at"), recorded_at=row.recorded_at,
                          p50=as_number(latency.get("p50")), p95=as_number(latency.get("p95")),
                          p99=as_number(latency.get("p99")), throughput_qps=as_number(fields.get("throughput_qps")),
                          round=str(fields["round"]) if fields.get("round") else None,
                          submitter=str(fields["submitter"]) if fields.get("submitter") else None)


def regression_page(store: Store, *, model: str | None = None, status: str = "open", limit: int = 50,
                    offset: int = 0) -> tuple[list[StoredRecord], int]:
    """One page of regression findings, newest first, with the total: the status is filtered in SQL, so
    only the page's envelopes are decoded (``list_findings`` decodes them all)."""
    conditions: list[Any] = [heads.c.is_deleted.is_(False), heads.c.kind == "regression"]
    if model is not None:
        conditions.append(heads.c.model == model)
    if status == "open":
        conditions.append(regression.open_sql(heads.c.envelope))
    elif status == "resolved":
        conditions.append(heads.c.envelope.like('%"status":"resolved"%'))
    elif status != "all":
        raise UsageError(f"status must be open, resolved or all, got {status!r}")
    when = func.coalesce(heads.c.occurred_at, heads.c.recorded_at)
    with store.read_connection() as conn:
        total = int(conn.execute(select(func.count()).select_from(heads).where(and_(*conditions))).scalar_one())
        rows = conn.execute(select(heads).where(and_(*conditions)).order_by(when.desc(), heads.c.recorded_at.desc(),
                                                                            heads.c.key).limit(limit).offset(offset)).all()
    return [StoredRecord(envelope=json.loads(r.envelope), version=r.version, recorded_at=r.recorded_at,
                         content_hash=r.content_hash) for r in rows], total
