"""``note``: free text (guidelines, budgets, lessons learnt); no fields are required."""

from __future__ import annotations

from elephant.kinds.base import FieldsModel, KindSpec, KindWords


class NoteFields(FieldsModel):
    pass


WORDS = KindWords(
    label="note",
    question=(r"\bguidelines?\b", r"\brules?\b", r"\bpolic(?:y|ies)\b", r"\bbest practices?\b", r"\bslos?\b",
              r"\bbudgets?\b", r"\bconventions?\b", r"\bnotes?\b"),
)

SPEC = KindSpec(name="note", fields_model=NoteFields, words=WORDS, writable=True,
                ask_prior=-0.5)
