"""``feature_definition``: a model input feature, where it is computed in training and serving, and their parity."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import field_validator

from elephant.kinds.base import (
    BriefPlace,
    Fields,
    FieldsModel,
    KindSpec,
    KindView,
    KindWords,
    Timestamp,
    no_figures,
    normalise_timestamp,
)
from elephant.kinds.phrases import OUTCOME_WORDS, clip, day, text
from elephant.kinds.units import as_number, format_number, metric_label


class Parity(StrEnum):
    verified = "verified"
    drift = "drift"
    unknown = "unknown"


class FeatureDefinitionFields(FieldsModel):
    feature: str | None = None
    entity: str | None = None
    dtype: str | None = None
    transformation: str | None = None
    training_source: str | None = None
    serving_source: str | None = None
    parity: Parity | None = None
    parity_checked_at: Timestamp | None = None
    skew_metric: str | float | dict[str, Any] | None = None

    _ts = field_validator("parity_checked_at", mode="before")(normalise_timestamp)


WORDS = KindWords(
    label="feature definition",
    question=(r"\bfeatures?\b", r"\bparity\b", r"\bskew", r"\bdrift", r"\bpsi\b"),
)



def outcome(fields: Fields) -> str | None:
    return text(fields.get("parity"))


def _skew(skew: Any) -> str:
    """'PSI 0.31' from a mapping of skew metrics; text as written."""
    if isinstance(skew, Mapping):
        return ", ".join(f"{metric_label(str(k))} {format_number(v) if as_number(v) is not None else v}"
                         for k, v in skew.items())
    return str(skew) if skew is not None else ""


def outcome_words(fields: Fields) -> str:
    """'parity drift (PSI 0.31, checked 2026-02-01)'."""
    said = OUTCOME_WORDS.get(outcome(fields) or "", "parity not recorded")
    skew_text = _skew(fields.get("skew_metric"))
    checked = text(fields.get("parity_checked_at"))
    extra = ", ".join(p for p in (skew_text, f"checked {checked[:10]}" if checked else "") if p)
    return f"{said} ({extra})" if extra else said


def fact(fields: Fields) -> list[str]:
    parts: list[str] = []
    if fields.get("feature"):
        parts.append(str(fields["feature"]) + (f" ({fields['entity']})" if fields.get("entity") else ""))
    if fields.get("parity"):
        checked = f" (checked {day(fields['parity_checked_at'])})" if fields.get("parity_checked_at") else ""
        parts.append(f"parity {fields['parity']}{checked}")
    if fields.get("skew_metric") is not None:
        parts.append(f"skew {clip(_skew(fields['skew_metric']), 80)}")
    return parts


def brief_summary(fields: Fields, title: str, date: str) -> str:
    return f"{fields.get('feature') or title}: {outcome_words(fields)}"


VIEW = KindView(outcome=outcome, outcome_words=outcome_words, outcome_class=lambda fields: "none",
                figures=no_figures, fact=fact, index_phrases=lambda fields: [], indexed_fields=frozenset(),
                display="feature", on_timeline=True)

BRIEF = BriefPlace(slot="features_not_verified", label="Feature parity", order=5, latest=False,
                   summary=brief_summary,
                   details=lambda f: {"feature": f.get("feature"), "parity": f.get("parity") or "unknown"},
                   is_open=lambda f: f.get("parity") != "verified",
                   open_sql=lambda envelope: envelope.not_like('%"parity":"verified"%'))

SPEC = KindSpec(name="feature_definition", fields_model=FeatureDefinitionFields, words=WORDS, writable=True,
                ask_prior=0.2, view=VIEW, brief=BRIEF)
