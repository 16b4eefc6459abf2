"""``note``: free text (guidelines, budgets, lessons learnt); no fields are required."""

from __future__ import annotations

from elephant.kinds.base import FieldsModel, KindSpec, KindView, KindWords, no_figures


class NoteFields(FieldsModel):
    pass


WORDS = KindWords(
    label="note",
    question=(r"\bguidelines?\b", r"\brules?\b", r"\bpolic(?:y|ies)\b", r"\bbest practices?\b", r"\bslos?\b",
              r"\bbudgets?\b", r"\bconventions?\b", r"\bnotes?\b"),
)

# A note has no outcome and no figures: its body speaks (a context fact falls back to the body's first paragraph).
VIEW = KindView(outcome=lambda fields: None, outcome_words=lambda fields: "note", outcome_class=lambda fields: "none",
                figures=no_figures, fact=lambda fields: [], index_phrases=lambda fields: [],
                indexed_fields=frozenset(), display="note", on_timeline=True)

SPEC = KindSpec(name="note", fields_model=NoteFields, words=WORDS, writable=True,
                ask_prior=-0.5, view=VIEW, brief=None)
