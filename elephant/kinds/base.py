"""What every record kind is made of (``KindSpec``), and the pieces kind modules share.

A kind module (``elephant/kinds/<kind>.py``) ends with one ``SPEC = KindSpec(...)``. Every part is a required
argument, so a kind that lacks one fails at import (and in mypy), not later in a renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class KindSpec:
    """One record kind: its fields model and the words people use for it."""

    name: str
    fields_model: type[FieldsModel]
    words: KindWords
    writable: bool  # False: only Elephant writes it (regression findings); agents' write tools leave it out
    ask_prior: float  # a small score that breaks ask's ties towards what "what did we try" usually means
