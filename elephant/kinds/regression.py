"""``regression``: a finding Elephant writes itself when a benchmark is worse than the previous one of its series."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from elephant.kinds.base import FieldsModel, KindSpec, KindWords


class RegressionStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class RegressionFields(FieldsModel):
    status: RegressionStatus = RegressionStatus.open
    baseline: str | None = None  # key@version of the earlier benchmark
    candidate: str | None = None  # key@version of the benchmark that regressed
    metrics: dict[str, Any] | None = None


WORDS = KindWords(label="regression finding", question=(r"\bregress",))

SPEC = KindSpec(name="regression", fields_model=RegressionFields, words=WORDS, writable=False,
                ask_prior=0.2)
