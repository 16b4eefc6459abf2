"""The startup brief: per model, what the persona checks first — serving config, latest percentiles, open
regressions and incidents, in-progress attempts, features whose parity is not verified, and the last deployment.

A brief is read into an agent's context on every start, so it is bounded: without a model it lists only
the models that need attention (``fit_brief``), with one line saying how many others are quiet and how
to ask for them, and the whole of it (Markdown and JSON alike) fits a token budget. On the 1,141-file
corpus this took the brief from 52 KB (17.6k tokens) to under 1 KB.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, with_config
from sqlalchemy import and_, select
from typing_extensions import TypedDict

from elephant.errors import NotFound, UsageError
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
    more_open: int = 0  # open items left out to fit the budget

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
        if self.more_open:
            out["more_open"] = self.more_open
        return out

    def open_count(self) -> int:
        return sum(len(items) for items in self.open.values())

    def keep_open(self, count: int) -> ModelBrief:
        """A copy listing only the first ``count`` open items (in the brief's order); the rest are counted."""
        kept: dict[str, list[BriefItem]] = {}
        left = count
        for _, place in brief_places():
            if place.slot in self.open:
                kept[place.slot] = self.open[place.slot][:max(left, 0)]
                left -= len(kept[place.slot])
        return dataclasses.replace(self, open=kept, more_open=self.more_open + self.open_count() - count)

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
        if self.more_open:
            lines.append(f"- … and {self.more_open} more open item(s), left out to fit the budget "
                         f"(`elephant brief {self.model}` with a larger `--budget`)")
        elif not any(self.open.values()):
            lines.append("- No open regressions, incidents, in-progress attempts or parity problems.")
        return "\n".join(lines)

    def citations(self) -> list[str]:
        items = [self.latest.get(place.slot) for _, place in brief_places() if place.latest]
        items += [i for _, place in brief_places() if not place.latest for i in self.open.get(place.slot, [])]
        return [i.citation for i in items if i is not None]


@with_config(ConfigDict(extra="forbid"))
class BriefOut(TypedDict):
    """A ``Brief`` as JSON. Each model's object has ``model``, ``needs_attention`` and one entry per brief
    place of the kinds (``elephant.kinds``): the latest item or null, or a list of open items."""

    models: list[dict[str, Any]]
    citations: list[str]
    quiet_models: int  # models with nothing needing attention, left out unless all_models (?all=true)
    left_out_models: list[str]  # models needing attention that did not fit the budget
    budget: int | None
    tokens: int | None
    truncated: bool
    at: NotRequired[str]  # a brief at valid time (``elephant.answers.validtime``) says when
    axis: NotRequired[Literal["valid_time"]]


@dataclass
class Brief:
    """The models shown and, once fitted (``fit_brief``), what was left out and the budget it fits."""

    models: list[ModelBrief] = field(default_factory=list)
    quiet_models: int = 0  # models with nothing needing attention, left out by default
    left_out_models: list[str] = field(default_factory=list)  # needing attention, but over the budget
    budget: int | None = None
    tokens: int | None = None
    fits_nothing: bool = False  # the budget is too small for even the line about what was left out

    @property
    def truncated(self) -> bool:
        return bool(self.left_out_models) or any(m.more_open for m in self.models)

    def to_dict(self) -> BriefOut:
        return {"models": [m.to_dict() for m in self.models],
                "citations": [c for m in self.models for c in m.citations()],
                "quiet_models": self.quiet_models, "left_out_models": list(self.left_out_models),
                "budget": self.budget, "tokens": self.tokens, "truncated": self.truncated}

    def heading(self) -> str:
        """A line that heads the brief ('' for the current brief; a valid-time brief names its moment)."""
        return ""

    def empty_text(self) -> str:
        return "Nothing in memory yet: no model has records."

    def footer(self) -> str:
        """What was left out and how to ask for it ('' when nothing was)."""
        lines = []
        if self.left_out_models:
            names = ", ".join(self.left_out_models[:10]) + (" …" if len(self.left_out_models) > 10 else "")
            lines.append(f"_{len(self.left_out_models)} more model(s) need attention but did not fit the "
                         f"{self.budget}-token budget: {names}. Name one (`elephant brief MODEL`) or raise "
                         "`--budget`._")
        if self.quiet_models:
            lines.append(f"_{self.quiet_models} other model(s) are quiet (no open regression, incident or "
                         "in-progress attempt, no rolled-back deployment): `elephant brief MODEL` shows one, "
                         "`elephant brief --all` all of them (MCP `brief` with all=true, REST ?all=true)._")
        return "\n".join(lines)

    def markdown(self) -> str:
        if self.fits_nothing:
            return ""
        parts = [self.heading()] if self.heading() else []
        if not self.models and not self.quiet_models and not self.left_out_models:
            return "\n\n".join([*parts, self.empty_text()])
        if not self.models and not self.left_out_models:
            parts.append("No model needs attention.")
        parts += [m.markdown() for m in self.models]
        if self.footer():
            parts.append(self.footer())
        return "\n\n".join(parts)


DEFAULT_BRIEF_BUDGET = 2000
MAX_BRIEF_BUDGET = 100_000


def check_budget(budget: Any) -> int:
    """The token budget of a brief; UsageError for anything but a whole number from 1 to the limit."""
    if budget is None:
        return DEFAULT_BRIEF_BUDGET
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise UsageError(f"budget must be a positive number of tokens, got {budget!r}")
    if budget > MAX_BRIEF_BUDGET:
        raise UsageError(f"budget {budget} is larger than the {MAX_BRIEF_BUDGET}-token limit")
    return budget


def fit_brief(full: Brief, *, budget: int, count: Callable[[str], int], every_model: bool = False) -> Brief:
    """``full`` cut to what an agent should read first, within ``budget`` tokens of ``count``.

    Without ``every_model`` only models that need attention are listed and the quiet ones are counted
    in one line. Models are added in the brief's order (attention first) while they fit; a first model
    too large for the budget alone keeps its latest lines and as many open items as fit. The count is
    checked on the whole Markdown, so the result never exceeds the budget (an empty brief at worst).
    """
    wanted = full.models if every_model else [m for m in full.models if m.needs_attention]
    quiet = len(full.models) - len(wanted)

    def shaped(models: list[ModelBrief], left_out: list[str]) -> Brief:
        return dataclasses.replace(full, models=models, quiet_models=quiet, left_out_models=left_out,
                                   budget=budget)

    shown: list[ModelBrief] = []
    for index, model in enumerate(wanted):
        rest = [m.model for m in wanted[index + 1:]]
        if count(shaped([*shown, model], rest).markdown()) <= budget:
            shown.append(model)
            continue
        if not shown:  # the first model alone is over budget: keep as many of its open items as fit
            for keep in range(model.open_count() - 1, -1, -1):
                smaller = model.keep_open(keep)
                if count(shaped([smaller], rest).markdown()) <= budget:
                    shown.append(smaller)
                    break
        break
    fitted = shaped(shown, [m.model for m in wanted[len(shown):]])
    if count(fitted.markdown()) > budget:  # even the line about what was left out is too long
        fitted.fits_nothing = True
    fitted.tokens = count(fitted.markdown())
    return fitted


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
            if slot not in latest or recency(row) > recency(latest[slot]):
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


def recency(row: Any) -> tuple[bool, str, str]:
    """Sort key, newest last: dated records by ``occurred_at``; undated ones (an ingested sample file, whose
    only date is when it was ingested) before every dated one, so they never pass for the latest."""
    return row.occurred_at is not None, str(row.occurred_at or ""), str(row.recorded_at)


def _latest(rows: list[Any], kind: str) -> Any:
    found = [r for r in rows if r.kind == kind]
    return max(found, key=recency) if found else None


class BriefRows:
    """One model's head rows with their envelopes decoded once: each row's fields, and its brief item."""

    def __init__(self, rows: list[Any]) -> None:
        self.envelopes: dict[str, dict[str, Any]] = {r.key: json.loads(r.envelope) for r in rows}

    def fields(self, row: Any) -> dict[str, Any]:
        value = self.envelopes[row.key].get("fields") or {}
        return value if isinstance(value, dict) else {}

    def item(self, row: Any, place: BriefPlace) -> BriefItem:
        """The row as a line of ``place``: its summary and the place's structured details."""
        env, found = self.envelopes[row.key], self.fields(row)
        title = str(env.get("title", row.key))
        return BriefItem(row.key, row.version, row.kind, title, env.get("occurred_at"),
                         place.summary(found, title, brief_date(row)), place.details(found))


def _model_brief(model: str, rows: list[Any]) -> ModelBrief:
    brief = ModelBrief(model)
    decoded = BriefRows(rows)
    fields, item = decoded.fields, decoded.item
    for kind, place in brief_places():
        if place.latest:
            if (row := _latest(rows, kind)) is not None:
                brief.latest[place.slot] = item(row, place)
                if place.alarm(fields(row)):
                    brief.alarms.append(place.slot)
        else:
            brief.open[place.slot] = [item(row, place) for row in sorted(rows, key=recency, reverse=True)
                                      if row.kind == kind and place.is_open(fields(row))]
    return brief


def brief_date(row: Any) -> str:
    """The day a brief line shows: when it happened, or 'undated' (never the day it was recorded)."""
    return str(row.occurred_at)[:10] if row.occurred_at else "undated"
