"""``rollback_procedure``: a runbook: what it applies to, when to use it, its steps and when it was last tested."""

from __future__ import annotations

from pydantic import field_validator

from elephant.kinds.base import (
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


class RollbackProcedureFields(FieldsModel):
    applies_to: str | list[str] | None = None
    trigger: str | None = None
    steps: list[str] | None = None
    verification: str | None = None
    last_tested_at: Timestamp | None = None

    _ts = field_validator("last_tested_at", mode="before")(normalise_timestamp)


WORDS = KindWords(
    label="rollback procedure runbook",
    question=(r"\bhow (?:do|to|should|can|would) (?:we |i |you )?(?:roll ?back|revert|fall ?back)",
              r"\brunbooks?\b", r"\bprocedures?\b", r"\bsteps\b", r"\bplaybook"),
)



def outcome(fields: Fields) -> str | None:
    return "tested" if fields.get("last_tested_at") else "untested"


def outcome_words(fields: Fields) -> str:
    tested = text(fields.get("last_tested_at"))
    return f"last tested {tested[:10]}" if tested else "never tested"


def fact(fields: Fields) -> list[str]:
    parts: list[str] = []
    applies = fields.get("applies_to")
    if applies:
        parts.append("for " + (", ".join(map(str, applies)) if isinstance(applies, list) else str(applies)))
    if fields.get("trigger"):
        parts.append(f"when: {clip(fields['trigger'])}")
    steps = fields.get("steps") or []
    if steps:
        parts.append(f"{len(steps)} steps, first: {clip(steps[0], 100)}")
    if fields.get("last_tested_at"):
        parts.append(f"last tested {day(fields['last_tested_at'])}")
    return parts


VIEW = KindView(outcome=outcome, outcome_words=outcome_words, outcome_class=lambda fields: "none",
                figures=no_figures, fact=fact, index_phrases=lambda fields: [], indexed_fields=frozenset(),
                display="runbook", on_timeline=True)

SPEC = KindSpec(name="rollback_procedure", fields_model=RollbackProcedureFields, words=WORDS, writable=True,
                ask_prior=0.1, view=VIEW, brief=None)
