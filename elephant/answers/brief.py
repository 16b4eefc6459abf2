"""The startup brief: per model, what the persona checks first — serving config, latest percentiles, open
regressions and incidents, features whose parity is not verified, and the last deployment."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select

from elephant.answers.markdown import benchmark_figures, outcome_words, regression_figures
from elephant.errors import NotFound
from elephant.kinds.units import format_number
from elephant.storage.schema import heads
from elephant.storage.store import Store

BRIEF_KINDS = ("serving_config", "benchmark", "regression", "incident", "feature_definition", "deployment")


@dataclass
class BriefItem:
    key: str
    version: int
    kind: str
    title: str
    occurred_at: str | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        return f"{self.key}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "citation": self.citation, "kind": self.kind,
                "title": self.title, "occurred_at": self.occurred_at, "summary": self.summary, **self.details}


@dataclass
class ModelBrief:
    model: str
    serving_config: BriefItem | None = None
    latest_benchmark: BriefItem | None = None
    open_regressions: list[BriefItem] = field(default_factory=list)
    open_incidents: list[BriefItem] = field(default_factory=list)
    features_not_verified: list[BriefItem] = field(default_factory=list)
    last_deployment: BriefItem | None = None

    @property
    def needs_attention(self) -> bool:
        return bool(self.open_regressions or self.open_incidents or self.features_not_verified
                    or (self.last_deployment and self.last_deployment.details.get("status") in ("rolled_back", "failed")))

    def to_dict(self) -> dict[str, Any]:
        def one(item: BriefItem | None) -> dict[str, Any] | None:
            return item.to_dict() if item else None

        return {"model": self.model, "needs_attention": self.needs_attention,
                "serving_config": one(self.serving_config), "latest_benchmark": one(self.latest_benchmark),
                "open_regressions": [i.to_dict() for i in self.open_regressions],
                "open_incidents": [i.to_dict() for i in self.open_incidents],
                "features_not_verified": [i.to_dict() for i in self.features_not_verified],
                "last_deployment": one(self.last_deployment)}

    def markdown(self) -> str:
        flag = " ⚠" if self.needs_attention else ""
        lines = [f"## {self.model}{flag}"]

        def add(label: str, item: BriefItem | None) -> None:
            if item is None:
                lines.append(f"- {label}: none recorded")
            else:
                lines.append(f"- {label}: {item.summary} [`{item.citation}`]")

        add("Serving", self.serving_config)
        add("Latest benchmark", self.latest_benchmark)
        add("Last deployment", self.last_deployment)
        for label, items in (("Open regression", self.open_regressions), ("Open incident", self.open_incidents),
                             ("Feature parity", self.features_not_verified)):
            for item in items:
                lines.append(f"- **{label}**: {item.summary} [`{item.citation}`]")
        if not (self.open_regressions or self.open_incidents or self.features_not_verified):
            lines.append("- No open regressions, incidents or parity problems.")
        return "\n".join(lines)


@dataclass
class Brief:
    models: list[ModelBrief] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"models": [m.to_dict() for m in self.models],
                "citations": [c for m in self.models for c in _citations(m)]}

    def markdown(self) -> str:
        if not self.models:
            return "Nothing in memory yet: no model has records."
        return "\n\n".join(m.markdown() for m in self.models)


def _citations(brief: ModelBrief) -> list[str]:
    items = [brief.serving_config, brief.latest_benchmark, brief.last_deployment, *brief.open_regressions,
             *brief.open_incidents, *brief.features_not_verified]
    return [i.citation for i in items if i is not None]


LATEST_KINDS = ("serving_config", "benchmark", "deployment")
# Prefilters on the canonical envelope JSON: only records that may still be open are decoded (the Python
# checks in _model_brief stay the authority). At 100k records this keeps the brief of every model cheap.
MAYBE_OPEN = {
    "regression": '%"status":"resolved"%',
    "incident": '%"resolved_at"%',
    "feature_definition": '%"parity":"verified"%',
}


def build_brief(store: Store, model: str | None = None) -> Brief:
    """One ``ModelBrief`` per model (or just ``model``); models needing attention first, then by name."""
    live: list[Any] = [heads.c.is_deleted.is_(False), heads.c.model.is_not(None)]
    if model is not None:
        live.append(heads.c.model == model)
    columns = (heads.c.key, heads.c.version, heads.c.kind, heads.c.model, heads.c.envelope, heads.c.occurred_at,
               heads.c.recorded_at)
    by_model: dict[str, list[Any]] = {}
    with store.read_connection() as conn:
        light = conn.execute(select(heads.c.key, heads.c.kind, heads.c.model, heads.c.occurred_at,
                                    heads.c.recorded_at).where(and_(*live, heads.c.kind.in_(LATEST_KINDS)))).all()
        latest: dict[tuple[str, str], Any] = {}
        for row in light:
            slot = (str(row.model), str(row.kind))
            if slot not in latest or (_when(row), row.recorded_at) > (_when(latest[slot]), latest[slot].recorded_at):
                latest[slot] = row
        keys = [row.key for row in latest.values()]
        rows: list[Any] = []
        for start in range(0, len(keys), 500):
            rows += conn.execute(select(*columns).where(heads.c.key.in_(keys[start:start + 500]))).all()
        for kind, closed in MAYBE_OPEN.items():
            rows += conn.execute(select(*columns).where(and_(*live, heads.c.kind == kind,
                                                             heads.c.envelope.not_like(closed)))).all()
        for row in rows:
            by_model.setdefault(str(row.model), []).append(row)
        names = [model] if model is not None else [str(m) for (m,) in conn.execute(
            select(heads.c.model).where(and_(*live, heads.c.kind.in_(BRIEF_KINDS))).distinct())]
        for name in names:
            by_model.setdefault(name, [])
        if model is not None and not by_model[model]:
            exists = conn.execute(select(heads.c.key).where(and_(*live)).limit(1)).first()
            if exists is None:
                raise NotFound(f"no records for model {model!r}", model=model)
    briefs = [_model_brief(name, rows) for name, rows in by_model.items()]
    briefs.sort(key=lambda b: (not b.needs_attention, b.model))
    return Brief(briefs)


def _when(row: Any) -> str:
    return str(row.occurred_at or row.recorded_at)


def _latest(rows: list[Any], kind: str) -> Any:
    found = [r for r in rows if r.kind == kind]
    return max(found, key=lambda r: (_when(r), r.recorded_at)) if found else None


def _item(row: Any, summary: str, **details: Any) -> BriefItem:
    env = json.loads(row.envelope) if isinstance(row.envelope, str) else row.envelope
    return BriefItem(row.key, row.version, row.kind, str(env.get("title", row.key)), env.get("occurred_at"),
                     summary, details)


def _model_brief(model: str, rows: list[Any]) -> ModelBrief:
    brief = ModelBrief(model)
    envelopes = {r.key: json.loads(r.envelope) for r in rows}

    def fields(row: Any) -> dict[str, Any]:
        value = envelopes[row.key].get("fields") or {}
        return value if isinstance(value, dict) else {}

    if (row := _latest(rows, "serving_config")) is not None:
        brief.serving_config = _item(row, _serving_summary(fields(row)), **_serving_details(fields(row)))
    if (row := _latest(rows, "benchmark")) is not None:
        f = fields(row)
        figures = benchmark_figures(f)
        brief.latest_benchmark = _item(row, f"{_date(row)}: " + (", ".join(figures) or "no figures recorded"),
                                       latency_ms=f.get("latency_ms"), throughput_qps=f.get("throughput_qps"),
                                       hardware=f.get("hardware"), scenario=f.get("scenario"))
    if (row := _latest(rows, "deployment")) is not None:
        f = fields(row)
        version = f" {f.get('from_version')} → {f.get('to_version')}" if f.get("to_version") else ""
        brief.last_deployment = _item(row, f"{_date(row)}:{version} {outcome_words('deployment', f)}",
                                      strategy=f.get("strategy"), status=f.get("status"),
                                      traffic_percent=f.get("traffic_percent"), to_version=f.get("to_version"))
    for row in sorted(rows, key=_when, reverse=True):
        f = fields(row)
        if row.kind == "regression" and f.get("status", "open") == "open":
            figures = regression_figures(f)
            brief.open_regressions.append(_item(row, f"{_date(row)}: " + ("; ".join(figures) or envelopes[row.key]
                                                                          .get("title", "")),
                                                baseline=f.get("baseline"), candidate=f.get("candidate")))
        elif row.kind == "incident" and not f.get("resolved_at"):
            brief.open_incidents.append(_item(row, f"{_date(row)}: {envelopes[row.key].get('title')} "
                                                   f"({f.get('severity') or 'severity not recorded'})",
                                              severity=f.get("severity"), symptom=f.get("symptom")))
        elif row.kind == "feature_definition" and f.get("parity") != "verified":
            name = f.get("feature") or envelopes[row.key].get("title")
            brief.features_not_verified.append(_item(row, f"{name}: {outcome_words('feature_definition', f)}",
                                                     feature=f.get("feature"), parity=f.get("parity") or "unknown"))
    return brief


def _date(row: Any) -> str:
    return str(row.occurred_at or row.recorded_at)[:10]


def _serving_summary(f: dict[str, Any]) -> str:
    parts = [str(f[n]) for n in ("runtime", "hardware", "precision") if f.get(n)]
    if f.get("replicas") is not None:
        parts.append(f"{f['replicas']} replicas")
    if f.get("threads") is not None:
        parts.append(f"{f['threads']} threads")
    batching = f.get("batching") or {}
    if isinstance(batching, dict) and batching.get("max_batch_size") is not None:
        delay = batching.get("max_queue_delay_ms")
        parts.append(f"batch ≤ {batching['max_batch_size']}"
                     + (f", queue delay {format_number(delay)} ms" if isinstance(delay, int | float) else ""))
    return ", ".join(parts) or "serving config (no fields recorded)"


def _serving_details(f: dict[str, Any]) -> dict[str, Any]:
    return {name: f.get(name) for name in ("runtime", "hardware", "replicas", "precision", "threads", "batching")}
