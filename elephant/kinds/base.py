"""What every record kind is made of (``KindSpec``), and the pieces kind modules share.

A kind module (``elephant/kinds/<kind>.py``) ends with one ``SPEC = KindSpec(...)``. Every part is a required
argument, so a kind that lacks one fails at import (and in mypy), not later in a renderer. The parts that
read and render a record (``KindView``) are small pure functions of the record's ``fields``; the generic
shapes they fill (a line, a card, a context fact) live in ``elephant/kinds/render.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from elephant.timeutil import normalise_occurred_at


class FieldsModel(BaseModel):
    """A kind's ``fields``: typed where we know the field, open for anything else (kept, never dropped)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


Timestamp = str  # normalised by ``normalise_timestamp``


def normalise_timestamp(value: Any) -> Any:
    """A pydantic ``before`` validator for timestamp fields: ISO-8601 text, a date or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date | str):
        try:
            return normalise_occurred_at(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 date or datetime: {value!r}") from exc
    raise ValueError(f"expected an ISO-8601 date or datetime, got {type(value).__name__}")


@dataclass(frozen=True)
class KindWords:
    """The words people use for a kind."""

    label: str  # how index texts name it: "optimization attempt", "rollback procedure runbook"
    question: tuple[str, ...]  # regular expressions that point a question at this kind


Fields = Mapping[str, Any]


def no_figures(fields: Fields) -> list[str]:
    """For kinds without headline numbers (notes, runbooks, incidents)."""
    return []


@dataclass(frozen=True)
class KindView:
    """How a kind's records are read and shown. Each part takes the record's ``fields``."""

    outcome: Callable[[Fields], str | None]  # the machine outcome: "adopted", "rolled_back", "open", "verified"
    outcome_words: Callable[[Fields], str]  # the same for people: "rolled back: calibration drift"
    outcome_class: Callable[[Fields], str]  # a timeline colour: adopted, rejected, rolled_back, in_progress, none
    figures: Callable[[Fields], list[str]]  # headline figures: "p99 45 → 18 ms (−60 %)", "820 qps"
    fact: Callable[[Fields], list[str]]  # short phrases for a context pack's bullet
    index_phrases: Callable[[Fields], list[str]]  # words and numbers for the embedder and lexical index
    indexed_fields: frozenset[str]  # the fields ``index_phrases`` covers; the rest are indexed generically
    display: str  # the kind's name on a page or a line: "serving config", "runbook"
    on_timeline: bool  # shown on a model's timeline by default (benchmarks have their own chart page)
    # The figures a one-line row (a search hit in a table) leads with, most telling first, when they differ
    # from ``figures`` in order or choice; None: ``figures``.
    headline: Callable[[Fields], list[str]] | None = None


@dataclass(frozen=True)
class BriefPlace:
    """Where a kind shows in a model's brief, and how.

    ``latest``: the latest record of the kind fills the slot (the serving config); otherwise every record
    still open is listed (open incidents). ``open_sql`` prefilters open records in SQL on the canonical
    envelope JSON so only candidates are decoded; ``is_open`` stays the authority.
    """

    slot: str  # the brief's JSON member: "serving_config", "open_incidents"
    label: str  # the Markdown label: "Serving", "Open incident"
    order: int  # position among the brief's lines
    latest: bool
    summary: Callable[[Fields, str, str], str]  # (fields, title, date) → the line's text
    details: Callable[[Fields], dict[str, Any]]  # structured members of the brief item
    is_open: Callable[[Fields], bool] = field(default=lambda fields: True)
    open_sql: Callable[[Any], Any] | None = None  # envelope column → SQL condition (open kinds only)
    alarm: Callable[[Fields], bool] = field(default=lambda fields: False)  # a latest record that needs attention


@dataclass(frozen=True)
class KindSpec:
    """One record kind: its fields model, the words people use for it, how it reads and shows, its brief place."""

    name: str
    fields_model: type[FieldsModel]
    words: KindWords
    writable: bool  # False: only Elephant writes it (regression findings); agents' write tools leave it out
    ask_prior: float  # a small score that breaks ask's ties towards what "what did we try" usually means
    view: KindView
    brief: BriefPlace | None  # None: the brief does not show this kind (a deliberate choice, not a gap)
