"""The startup brief: per model, what the persona checks first — serving config, latest percentiles, open
regressions and incidents, features whose parity is not verified, and the last deployment."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select

from elephant.errors import NotFound
from elephant.kinds import all_kinds
from elephant.kinds.base import BriefPlace
from elephant.storage.schema import heads
from elephant.storage.store import Store


def brief_places() -> list[tuple[str, BriefPlace]]:
    """(kind, place) for every kind the brief shows, in the order of its lines."""
    return sorted(((spec.name, spec.brief) for spec in all_kinds() if spec.brief is not None),
                  key=lambda pair: pair[1].order)


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
    """One model's brief: for each kind's place, the latest record (``latest``) or the open ones (``open``).

    Places are read as attributes named after their slot (``brief.serving_config``, ``brief.open_incidents``).
    """

    model: str
    latest: dict[str, BriefItem] = field(default_factory=dict)
    open: dict[str, list[BriefItem]] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)  # latest items that need attention (a rolled-back rollout)

    def __getattr__(self, name: str) -> Any:
        for _, place in brief_places():
            if place.slot == name:
                return self.latest.get(name) if place.latest else self.open.get(name, [])
        raise AttributeError(name)

    @property
    def needs_attention(self) -> bool:
        return bool(any(self.open.values()) or self.alarms)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "needs_attention": self.needs_attention}
        for _, place in brief_places():
            if place.latest:
                item = self.latest.get(place.slot)
                out[place.slot] = item.to_dict() if item else None
            else:
                out[place.slot] = [i.to_dict() for i in self.open.get(place.slot, [])]
        return out

    def markdown(self) -> str:
        flag = " ⚠" if self.needs_attention else ""
        lines = [f"## {self.model}{flag}"]
        for _, place in brief_places():
            if place.latest:
                item = self.latest.get(place.slot)
                lines.append(f"- {place.label}: {item.summary} [`{item.citation}`]" if item
                             else f"- {place.label}: none recorded")
        for _, place in brief_places():
            if not place.latest:
                lines += [f"- **{place.label}**: {i.summary} [`{i.citation}`]" for i in self.open.get(place.slot, [])]
        if not any(self.open.values()):
            lines.append("- No open regressions, incidents or parity problems.")
        return "\n".join(lines)

    def citations(self) -> list[str]:
        items = [self.latest.get(place.slot) for _, place in brief_places() if place.latest]
        items += [i for _, place in brief_places() if not place.latest for i in self.open.get(place.slot, [])]
        return [i.citation for i in items if i is not None]


@dataclass
class Brief:
    models: list[ModelBrief] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"models": [m.to_dict() for m in self.models],
                "citations": [c for m in self.models for c in m.citations()]}

    def markdown(self) -> str:
        if not self.models:
            return "Nothing in memory yet: no model has records."
        return "\n\n".join(m.markdown() for m in self.models)


def build_brief(store: Store, model: str | None = None) -> Brief:
    """One ``ModelBrief`` per model (or just ``model``); models needing attention first, then by name."""
    live: list[Any] = [heads.c.is_deleted.is_(False), heads.c.model.is_not(None)]
    if model is not None:
        live.append(heads.c.model == model)
    columns = (heads.c.key, heads.c.version, heads.c.kind, heads.c.model, heads.c.envelope, heads.c.occurred_at,
               heads.c.recorded_at)
    by_model: dict[str, list[Any]] = {}
    places = brief_places()
    latest_kinds = [kind for kind, place in places if place.latest]
    with store.read_connection() as conn:
        light = conn.execute(select(heads.c.key, heads.c.kind, heads.c.model, heads.c.occurred_at,
                                    heads.c.recorded_at).where(and_(*live, heads.c.kind.in_(latest_kinds)))).all()
        latest: dict[tuple[str, str], Any] = {}
        for row in light:
            slot = (str(row.model), str(row.kind))
            if slot not in latest or (_when(row), row.recorded_at) > (_when(latest[slot]), latest[slot].recorded_at):
                latest[slot] = row
        keys = [row.key for row in latest.values()]
        rows: list[Any] = []
        for start in range(0, len(keys), 500):
            rows += conn.execute(select(*columns).where(heads.c.key.in_(keys[start:start + 500]))).all()
        # Only records that may still be open are decoded (the place's is_open stays the authority): at 100k
        # records this keeps the brief of every model cheap.
        for kind, place in places:
            if not place.latest:
                maybe_open = [place.open_sql(heads.c.envelope)] if place.open_sql is not None else []
                rows += conn.execute(select(*columns).where(and_(*live, heads.c.kind == kind, *maybe_open))).all()
        for row in rows:
            by_model.setdefault(str(row.model), []).append(row)
        names = [model] if model is not None else [str(m) for (m,) in conn.execute(
            select(heads.c.model).where(and_(*live, heads.c.kind.in_([k for k, _ in places]))).distinct())]
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

    def item(row: Any, place: BriefPlace) -> BriefItem:
        f = fields(row)
        title = str(envelopes[row.key].get("title", row.key))
        return _item(row, place.summary(f, title, _date(row)), **place.details(f))

    for kind, place in brief_places():
        if place.latest:
            if (row := _latest(rows, kind)) is not None:
                brief.latest[place.slot] = item(row, place)
                if place.alarm(fields(row)):
                    brief.alarms.append(place.slot)
        else:
            brief.open[place.slot] = [item(row, place) for row in sorted(rows, key=_when, reverse=True)
                                      if row.kind == kind and place.is_open(fields(row))]
    return brief


def _date(row: Any) -> str:
    return str(row.occurred_at or row.recorded_at)[:10]
