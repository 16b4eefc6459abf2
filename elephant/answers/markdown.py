"""Deterministic Markdown for answers: one line per attempt with date, what, outcome, metric deltas and a
citation. Same records in, same text out — no model writes these sentences.

The shapes live with the kinds (``elephant/kinds/render.py``) and what fills them in each kind's module;
``ask`` reads them under these names.
"""

from __future__ import annotations

from elephant.kinds.render import date_of, figures_of, outcome_of, outcome_words
from elephant.kinds.render import record_line as attempt_line

__all__ = ["attempt_line", "date_of", "figures_of", "outcome_of", "outcome_words"]
