"""``rollback_procedure``: a runbook: what it applies to, when to use it, its steps and when it was last tested."""

from __future__ import annotations

from pydantic import field_validator

from elephant.kinds.base import FieldsModel, KindSpec, KindWords, Timestamp, normalise_timestamp


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

SPEC = KindSpec(name="rollback_procedure", fields_model=RollbackProcedureFields, words=WORDS, writable=True,
                ask_prior=0.1)
