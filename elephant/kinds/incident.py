"""``incident``: something broke in production: severity, symptom, root cause, when, and the rollback used."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from elephant.kinds.base import FieldsModel, KindSpec, KindWords, Timestamp, normalise_timestamp


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

SPEC = KindSpec(name="incident", fields_model=IncidentFields, words=WORDS, writable=True,
                ask_prior=0.4)
