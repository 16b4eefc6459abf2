"""``incident``: something broke in production: severity, symptom, root cause, when, and the rollback used."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator
from sqlalchemy import or_

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
from elephant.kinds.phrases import clip, day, text


class IncidentFields(FieldsModel):
    severity: str | None = None
    symptom: str | None = None
    root_cause: str | None = None
    detected_at: Timestamp | None = None
    resolved_at: Timestamp | None = None
    rollback_key: str | None = None

    _ts = field_validator("detected_at", "resolved_at", mode="before")(normalise_timestamp)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


WORDS = KindWords(
    label="incident",
    question=(r"\bincidents?\b", r"\boutages?\b", r"\bpaged\b", r"\bsev ?\d\b", r"\bpostmortem", r"\bspiked?\b",
              r"\bcrash", r"\bout of memory\b", r"\boom\b", r"\bwent down\b", r"\bbroke\b", r"\berrors?\b"),
)



def outcome(fields: Fields) -> str | None:
    return "resolved" if fields.get("resolved_at") else "open"


def outcome_words(fields: Fields) -> str:
    """'sev2, resolved 2026-01-21; cause: INT8 kernel regression'."""
    severity = text(fields.get("severity"))
    resolved = text(fields.get("resolved_at"))
    state = f"resolved {resolved[:10]}" if resolved else "open"
    cause = text(fields.get("root_cause"))
    said = f"{severity + ', ' if severity else ''}{state}"
    return f"{said}; cause: {cause}" if cause else said


def outcome_class(fields: Fields) -> str:
    return "none" if fields.get("resolved_at") else "in_progress"


def fact(fields: Fields) -> list[str]:
    parts: list[str] = []
    if fields.get("severity"):
        parts.append(f"severity {fields['severity']}")
    if fields.get("symptom"):
        parts.append(f"symptom: {clip(fields['symptom'])}")
    if fields.get("root_cause"):
        parts.append(f"cause: {clip(fields['root_cause'])}")
    if fields.get("resolved_at"):
        parts.append(f"resolved {day(fields['resolved_at'])}")
    if fields.get("rollback_key"):
        parts.append(f"rollback: {fields['rollback_key']}")
    return parts


def open_sql(envelope: Any) -> Any:
    """Not resolved, on the canonical envelope JSON: no resolved_at, or an empty one."""
    return or_(envelope.not_like('%"resolved_at"%'), envelope.like('%"resolved_at":null%'),
               envelope.like('%"resolved_at":""%'))


VIEW = KindView(outcome=outcome, outcome_words=outcome_words, outcome_class=outcome_class, figures=no_figures,
                fact=fact, index_phrases=lambda fields: [], indexed_fields=frozenset(),
                display="incident", on_timeline=True)

BRIEF = BriefPlace(slot="open_incidents", label="Open incident", order=4, latest=False,
                   summary=lambda f, title, date: f"{date}: {title} ({f.get('severity') or 'severity not recorded'})",
                   details=lambda f: {"severity": f.get("severity"), "symptom": f.get("symptom")},
                   is_open=lambda f: not f.get("resolved_at"), open_sql=open_sql)

SPEC = KindSpec(name="incident", fields_model=IncidentFields, words=WORDS, writable=True,
                ask_prior=0.4, view=VIEW, brief=BRIEF)
