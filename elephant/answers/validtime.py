"""Valid time: what was true in the world at time T — the brief at T, and "what was X serving on …?".

Elephant keeps two time axes (docs/answers.md, "Two time axes"):

- **transaction time** (``recorded_at``): what Elephant *knew* at T — ``elephant get KEY --as-of T`` reads
  the version that was current in the store then;
- **valid time** (``occurred_at``): what was *happening* at T — ``elephant brief MODEL --at T`` builds the
  brief from the records (as known now) that had occurred by T: the serving config and deployment in
  force, the latest benchmark, and what was open then (an incident resolved after T was still open at T).

A date alone means the whole day: ``--at 2025-09-10`` counts everything that occurred that day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from elephant.answers.attempts import AttemptOut
from elephant.answers.brief import (
    Brief,
    BriefOut,
    BriefRows,
    ModelBrief,
    brief_places,
    recency,
)
from elephant.errors import NotFound, UsageError
from elephant.kinds.base import BriefPlace
from elephant.storage.schema import heads
from elephant.storage.store import Store
from elephant.timeutil import format_ts, normalise_occurred_at, parse_ts

# Fields that say when an open-kind record stopped being open (an incident's resolution).
CLOSED_AT_FIELDS = ("resolved_at", "closed_at")


@dataclass(frozen=True)
class ValidTime:
    """A point of world time: ``label`` as given (normalised), ``cutoff`` the first instant after it."""

    label: str
    cutoff: str  # sortable UTC text; records with occurred_at < cutoff had happened by then

    @classmethod
    def parse(cls, value: str) -> ValidTime:
        text = (value or "").strip()
        try:
            label = normalise_occurred_at(text)
            moment = parse_ts(label)
        except (ValueError, TypeError, OverflowError):
            raise UsageError(f"at: not an ISO-8601 date or datetime: {value!r} (e.g. 2025-09-10 or "
                             "2025-09-10T14:00:00Z)") from None
        step = timedelta(days=1) if "T" not in label else timedelta(microseconds=1)
        return cls(label, format_ts(moment + step))


@dataclass
class BriefAt(Brief):
    """A brief at a point of valid time."""

    at: str = ""

    def to_dict(self) -> BriefOut:
        return {"at": self.at, "axis": "valid_time", **super().to_dict()}

    def heading(self) -> str:
        return f"_As of {self.at} in the world (valid time: records by `occurred_at`, as known now)._"

    def empty_text(self) -> str:
        return "Nothing had happened yet: no model has records by then."


def _happened(cutoff: str) -> Any:
    """SQL: the record had occurred by the cutoff (undated records count from when they were recorded)."""
    return func.coalesce(heads.c.occurred_at, heads.c.recorded_at) < cutoff


def build_brief_at(store: Store, model: str | None, at: str) -> BriefAt:
    """The brief of ``model`` (or every model) as it stood at valid time ``at``."""
    moment = ValidTime.parse(at)
    places = brief_places()
    live = [heads.c.is_deleted.is_(False), heads.c.model.is_not(None), _happened(moment.cutoff),
            heads.c.kind.in_([kind for kind, _ in places])]
    if model is not None:
        live.append(heads.c.model == model)
    columns = (heads.c.key, heads.c.version, heads.c.kind, heads.c.model, heads.c.envelope, heads.c.occurred_at,
               heads.c.recorded_at)
    with store.read_connection() as conn:
        rows = conn.execute(select(*columns).where(and_(*live))).all()
        if model is not None and not rows:
            exists = conn.execute(select(heads.c.key).where(and_(heads.c.model == model,
                                                                 heads.c.is_deleted.is_(False))).limit(1)).first()
            if exists is None:
                raise NotFound(f"no records for model {model!r}", model=model)
    by_model: dict[str, list[Any]] = {}
    for row in rows:
        by_model.setdefault(str(row.model), []).append(row)
    if model is not None:
        by_model.setdefault(model, [])
    briefs = [_model_brief_at(name, found, places, moment) for name, found in by_model.items()]
    briefs.sort(key=lambda b: (not b.needs_attention, b.model))
    return BriefAt(briefs, at=moment.label)


def _model_brief_at(model: str, rows: list[Any], places: list[tuple[str, BriefPlace]], moment: ValidTime) -> ModelBrief:
    brief = ModelBrief(model)
    decoded = BriefRows(rows)
    fields, item = decoded.fields, decoded.item

    def open_then(row: Any, place: BriefPlace) -> bool:
        f = fields(row)
        if place.is_open(f):
            return True
        closed = next((f[name] for name in CLOSED_AT_FIELDS if isinstance(f.get(name), str) and f[name]), None)
        try:
            return closed is not None and format_ts(parse_ts(closed)) >= moment.cutoff
        except ValueError:
            return False

    for kind, place in places:
        found = [r for r in rows if r.kind == kind]
        if place.latest:
            if found:
                row = max(found, key=recency)
                brief.latest[place.slot] = item(row, place)
                if place.alarm(fields(row)):
                    brief.alarms.append(place.slot)
        else:
            brief.open[place.slot] = [item(r, place) for r in sorted(found, key=recency, reverse=True)
                                      if open_then(r, place)]
    return brief


# ---------------------------------------------------------------- "what was X serving on …?"
MONTHS = {name: i + 1 for i, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
    ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
    ("december", "dec"))) for name in names}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DATE_PATTERNS = (
    re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{2}):(\d{2})(?::(\d{2}))?z?)?\b"),
    re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?,?\s+(\d{{4}})\b"),
    re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"),
)
SERVING_RE = re.compile(r"\b(?:serv(?:ing|ed|e)|in production|deployed|running|live|in prod|rolled out|"
                        r"which version|what version|config(?:ured|uration)?|alias)\b")
POINT_RE = re.compile(r"\b(?:on|at|as of|by)\s+(?:the\s+)?$")


def serving_moment(question: str) -> str | None:
    """The date of a "what was serving / configured on DATE?" question, normalised; None for other questions.

    Only a single point in time after "on", "at", "as of" or "by" counts: "in March" or "before the v3
    rollout" are windows, which ``ask``'s plan handles.
    """
    lowered = " ".join(question.lower().split())
    if not SERVING_RE.search(lowered):
        return None
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(lowered):
            if not POINT_RE.search(lowered[: match.start()]):
                continue
            found = _date_of(pattern, match)
            if found is not None:
                return found
    return None


def _date_of(pattern: re.Pattern[str], match: re.Match[str]) -> str | None:
    g = match.groups()
    try:
        if pattern is _DATE_PATTERNS[0]:
            if g[3] is not None:
                return normalise_occurred_at(datetime(int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]),
                                                      int(g[5] or 0)).isoformat() + "Z")
            return normalise_occurred_at(f"{g[0]}-{g[1]}-{g[2]}")
        if pattern is _DATE_PATTERNS[1]:
            day, month, year = int(g[0]), MONTHS[g[1]], int(g[2])
        else:
            month, day, year = MONTHS[g[0]], int(g[1]), int(g[2])
        return datetime(year, month, day).date().isoformat()
    except ValueError:
        return None


@dataclass
class ServingAnswer:
    """What ``ask`` returns for a serving-at question: Markdown, the records, their citations."""

    answer: str
    attempts: list[AttemptOut] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    found: bool = False


def answer_serving_at(store: Store, models: list[str], at: str) -> ServingAnswer:
    """The deployment and serving config in force at ``at`` for each model, from the valid-time brief."""
    out = ServingAnswer("")
    lines: list[str] = []
    for model in models:
        try:
            brief = build_brief_at(store, model, at)
        except NotFound:
            lines.append(f"- **{model}**: no records.")
            continue
        mb = brief.models[0] if brief.models else ModelBrief(model)
        deployment, config = mb.latest.get("last_deployment"), mb.latest.get("serving_config")
        if deployment is None and config is None:
            lines.append(f"**{model}** on {brief.at}: no deployment or serving config had been recorded by then.")
            continue
        out.found = True
        lines.append(f"**{model}** on {brief.at} (valid time):")
        for label, item in (("Deployment in force", deployment), ("Serving config in force", config)):
            if item is None:
                lines.append(f"- {label}: none recorded by then")
                continue
            lines.append(f"- {label}: {item.title} — {item.summary} [`{item.citation}`]")
            out.citations.append(item.citation)
            out.attempts.append({"key": item.key, "version": item.version, "kind": item.kind, "title": item.title,
                                 "model": model, "occurred_at": item.occurred_at, "score": 1.0, "source": None,
                                 "outcome": item.details.get("status")})
        later = _next_deployment(store, model, ValidTime.parse(brief.at).cutoff)
        if later is not None:
            lines.append(f"- Changed next on {later[1][:10]}: {later[2]} [`{later[0]}`]")
            out.citations.append(later[0])
    out.answer = "\n".join(lines)
    return out


def _next_deployment(store: Store, model: str, cutoff: str) -> tuple[str, str, str] | None:
    """(citation, occurred_at, title) of the model's first deployment after the cutoff, if any."""
    when = func.coalesce(heads.c.occurred_at, heads.c.recorded_at)
    with store.read_connection() as conn:
        row = conn.execute(select(heads.c.key, heads.c.version, heads.c.title, when.label("at"))
                           .where(and_(heads.c.model == model, heads.c.kind == "deployment",
                                       heads.c.is_deleted.is_(False), when >= cutoff))
                           .order_by(when, heads.c.key).limit(1)).first()
    return None if row is None else (f"{row.key}@{row.version}", str(row.at), str(row.title or row.key))
