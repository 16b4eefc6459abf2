"""A record in its shapes for people: a line (ask, lists), a card (timeline and web pages), a context fact
(context packs and prompts), a search row (MCP). The shapes are the same for every kind; what goes in them
comes from the kind's module through the registry, so an unknown kind raises ``UnknownKind`` here instead of
printing a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elephant.kinds import kind_spec
from elephant.kinds.base import Fields
from elephant.kinds.phrases import clip

TITLE_CHARS = 120  # a title in a context fact is cut here


def _fields(value: Any) -> Fields:
    return value if isinstance(value, Mapping) else {}


def outcome_of(kind: str, fields: Fields) -> str | None:
    """The machine outcome of a record (JSON ``outcome``): its status in its kind's own words."""
    return kind_spec(kind).view.outcome(_fields(fields))


def outcome_words(kind: str, fields: Fields) -> str:
    """The human outcome: 'rolled back: recall@100 −3.1 pt on cold-start users', 'sev2, resolved 2026-01-21'."""
    return kind_spec(kind).view.outcome_words(_fields(fields))


def outcome_class(kind: str, fields: Fields) -> str:
    """The colour of a record on a timeline: adopted, rejected, rolled_back, in_progress or none."""
    return kind_spec(kind).view.outcome_class(_fields(fields))


def figures_of(kind: str, fields: Fields) -> list[str]:
    """The headline figures of a record, formatted."""
    return kind_spec(kind).view.figures(_fields(fields))


def headline_of(kind: str, fields: Fields) -> list[str]:
    """The figures a one-line row shows, most telling first (a benchmark's p99 before its p50)."""
    view = kind_spec(kind).view
    return (view.headline or view.figures)(_fields(fields))


def date_of(occurred_at: str | None, recorded_at: str | None = None) -> str:
    value = occurred_at or recorded_at
    return value[:10] if value else "undated"


def record_line(*, when: str, kind: str, title: str, fields: Fields, citation: str) -> str:
    """One Markdown bullet: date · kind · what — outcome; figures [key@version]."""
    figures = figures_of(kind, fields)
    figure_text = f"; {', '.join(figures)}" if figures else ""
    return (f"- **{when}** · {kind.replace('_', ' ')} · {title} — **{outcome_words(kind, fields)}**"
            f"{figure_text} [`{citation}`]")


@dataclass(frozen=True)
class Card:
    """A record as a page or an answer shows it: what, when, how it ended, its numbers, its citation."""

    key: str
    version: int
    kind: str
    display: str  # the kind's name for people: "serving config", "runbook"
    title: str
    occurred_at: str | None
    outcome: str | None
    outcome_class: str
    summary: str  # the outcome in words
    figures: list[str] = field(default_factory=list)

    @property
    def citation(self) -> str:
        return f"{self.key}@{self.version}"


def record_card(envelope: Mapping[str, Any], version: int, *, figures: bool = True) -> Card:
    """The card of one record version."""
    kind = str(envelope.get("kind", ""))
    view = kind_spec(kind).view
    fields = _fields(envelope.get("fields"))
    return Card(key=str(envelope["key"]), version=version, kind=kind, display=view.display,
                title=str(envelope.get("title") or envelope["key"]), occurred_at=envelope.get("occurred_at"),
                outcome=view.outcome(fields), outcome_class=view.outcome_class(fields),
                summary=view.outcome_words(fields), figures=view.figures(fields) if figures else [])


def body_excerpt(body: Any) -> str:
    """The first prose paragraph of a body (headings and front matter skipped)."""
    for paragraph in re.split(r"\n\s*\n", str(body or "")):
        text = paragraph.strip()
        if text and not text.startswith(("#", "---", "```")):
            return clip(text)
    return ""


def fact_line(envelope: Mapping[str, Any], citation: str) -> str:
    """A context fact: '- 2026-03-12 · optimization · ranker: **INT8** — p99 45 → 18 ms (−60 %) [key@v]'.

    A kind with nothing to say from its fields (a note) shows the body's first paragraph.
    """
    kind = str(envelope.get("kind", ""))
    key = str(envelope["key"])
    title = clip(envelope.get("title") or key, TITLE_CHARS)
    labels = [x for x in (str(envelope.get("occurred_at") or "")[:10], kind.replace("_", " "),
                          envelope.get("model")) if x]
    details = kind_spec(kind).view.fact(_fields(envelope.get("fields")))
    if not details and (excerpt := body_excerpt(envelope.get("body"))):
        details = [excerpt]
    line = f"- {' · '.join(str(x) for x in labels)}: **{title}**"
    if details:
        line += " — " + "; ".join(details)
    return f"{line} [{citation}]"


def search_line(*, kind: str, title: str, citation: str, occurred_at: str | None) -> str:
    """A search hit as one Markdown bullet: '- 2026-03-12 optimization: **INT8 of ranker v3** [key@v]'."""
    kind_spec(kind)  # a hit of a kind the registry does not hold is a bug to see, not to print
    when = f"{occurred_at} " if occurred_at else ""
    return f"- {when}{kind}: **{title}** [{citation}]"


def index_phrases(kind: str, fields: Fields) -> list[str]:
    """The kind's own phrases for the index texts; fields its module does not cover are left to the caller."""
    return kind_spec(kind).view.index_phrases(_fields(fields))
