"""``regression``: a finding Elephant writes itself when a benchmark is worse than the previous one of its series."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from elephant.kinds.base import BriefPlace, Fields, FieldsModel, KindSpec, KindView, KindWords
from elephant.kinds.phrases import clip, text
from elephant.kinds.units import as_number, format_change, format_points, metric_label


class RegressionStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class RegressionFields(FieldsModel):
    status: RegressionStatus = RegressionStatus.open
    baseline: str | None = None  # key@version of the earlier benchmark
    candidate: str | None = None  # key@version of the benchmark that regressed
    metrics: dict[str, Any] | None = None


WORDS = KindWords(label="regression finding", question=(r"\bregress",))



def outcome(fields: Fields) -> str | None:
    return text(fields.get("status")) or "open"


def figures(fields: Fields) -> list[str]:
    """The metrics that got worse: 'p99 43 → 50 ms (+16 %)', 'NDCG@10 0.412 → 0.405 (−0.7 pt)'."""
    parts = []
    metrics = fields.get("metrics") or {}
    if isinstance(metrics, Mapping):
        for name, item in metrics.items():
            if not isinstance(item, Mapping) or not item.get("worse"):
                continue
            unit = "ms" if name.startswith("latency") else "qps" if name.startswith("throughput") else ""
            label = name.split(".", 1)[-1] if name.startswith("latency") else name.removesuffix("_qps")
            if name.startswith("accuracy."):
                part = format_points(metric_label(name.split(".", 1)[1]), as_number(item.get("baseline")),
                                     as_number(item.get("candidate")))
            else:
                part = format_change(label, as_number(item.get("baseline")), as_number(item.get("candidate")), unit)
            if part:
                parts.append(part)
    return parts


def fact(fields: Fields) -> list[str]:
    parts: list[str] = []
    if fields.get("status"):
        parts.append(str(fields["status"]))
    if fields.get("candidate") and fields.get("baseline"):
        parts.append(f"{fields['candidate']} vs {fields['baseline']}")
    if (worse := figures(fields)):
        parts.append(clip(", ".join(worse), 120))
    return parts


def open_sql(envelope: Any) -> Any:
    """Not resolved, on the canonical envelope JSON."""
    return envelope.not_like('%"status":"resolved"%')


VIEW = KindView(outcome=outcome, outcome_words=lambda fields: f"regression {outcome(fields) or 'open'}",
                outcome_class=lambda fields: "none", figures=figures, fact=fact, index_phrases=lambda fields: [],
                indexed_fields=frozenset(), display="regression", on_timeline=True)

BRIEF = BriefPlace(slot="open_regressions", label="Open regression", order=3, latest=False,
                   summary=lambda f, title, date: f"{date}: " + ("; ".join(figures(f)) or title),
                   details=lambda f: {"baseline": f.get("baseline"), "candidate": f.get("candidate")},
                   is_open=lambda f: f.get("status", "open") == "open",
                   open_sql=open_sql)

SPEC = KindSpec(name="regression", fields_model=RegressionFields, words=WORDS, writable=False,
                ask_prior=0.2, view=VIEW, brief=BRIEF)
