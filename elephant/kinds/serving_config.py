"""``serving_config``: how a model is served (runtime, hardware, replicas, batching, threads, precision)."""

from __future__ import annotations

from collections.abc import Mapping

from elephant.kinds.base import BriefPlace, Fields, FieldsModel, KindSpec, KindView, KindWords, no_figures
from elephant.kinds.phrases import words
from elephant.kinds.units import format_number, index_number


class Batching(FieldsModel):
    max_batch_size: int | None = None
    max_queue_delay_ms: float | None = None


class ServingConfigFields(FieldsModel):
    runtime: str | None = None
    hardware: str | None = None
    replicas: int | None = None
    batching: Batching | None = None
    threads: int | None = None
    precision: str | None = None
    raw: str | None = None


WORDS = KindWords(
    label="serving config",
    question=(r"\bconfig", r"\bserving setup\b", r"\breplicas?\b", r"\bruntime\b", r"\bserved with\b",
              r"\bserving stack\b", r"\binstance[ _]group"),
)



def outcome_words(fields: Fields) -> str:
    """'triton, c6i.4xlarge, int8, 6 replicas'."""
    parts = [str(fields[n]) for n in ("runtime", "hardware", "precision") if fields.get(n)]
    if fields.get("replicas") is not None:
        parts.append(f"{fields['replicas']} replicas")
    return ", ".join(parts) or "serving config"


def fact(fields: Fields) -> list[str]:
    parts: list[str] = []
    where = " on ".join(str(x) for x in (fields.get("runtime"), fields.get("hardware")) if x)
    if where:
        parts.append(where)
    if fields.get("replicas") is not None:
        parts.append(f"{fields['replicas']} replicas")
    batching = fields.get("batching") or {}
    if batching.get("max_batch_size") is not None:
        delay = batching.get("max_queue_delay_ms")
        parts.append(f"batch ≤ {batching['max_batch_size']}"
                     + (f", queue ≤ {format_number(delay)} ms" if delay is not None else ""))
    if fields.get("threads") is not None:
        parts.append(f"{fields['threads']} threads")
    if fields.get("precision"):
        parts.append(str(fields["precision"]))
    return parts


def index_phrases(fields: Fields) -> list[str]:
    out: list[str] = []
    for name in ("runtime", "hardware", "precision"):
        if fields.get(name):
            out.append(f"{name}: {words(fields[name])}")
    for name in ("replicas", "threads"):
        if fields.get(name) is not None:
            out.append(f"{name} {index_number(fields[name])}")
    batching = fields.get("batching") or {}
    if batching:
        out.append("dynamic batching " + ", ".join(f"{words(k)} {index_number(v)}" for k, v in batching.items()))
    return out


def brief_summary(fields: Fields, title: str, date: str) -> str:
    """'triton, c6i.4xlarge, int8, 6 replicas, 4 threads, batch ≤ 16, queue delay 2 ms'."""
    parts = [str(fields[n]) for n in ("runtime", "hardware", "precision") if fields.get(n)]
    if fields.get("replicas") is not None:
        parts.append(f"{fields['replicas']} replicas")
    if fields.get("threads") is not None:
        parts.append(f"{fields['threads']} threads")
    batching = fields.get("batching") or {}
    if isinstance(batching, Mapping) and batching.get("max_batch_size") is not None:
        delay = batching.get("max_queue_delay_ms")
        parts.append(f"batch ≤ {batching['max_batch_size']}"
                     + (f", queue delay {format_number(delay)} ms" if isinstance(delay, int | float) else ""))
    return ", ".join(parts) or "serving config (no fields recorded)"


VIEW = KindView(outcome=lambda fields: None, outcome_words=outcome_words, outcome_class=lambda fields: "none",
                figures=no_figures, fact=fact, index_phrases=index_phrases,
                indexed_fields=frozenset({"runtime", "hardware", "replicas", "batching", "threads", "precision",
                                          "raw"}),
                display="serving config", on_timeline=True)

BRIEF = BriefPlace(slot="serving_config", label="Serving", order=0, latest=True, summary=brief_summary,
                   details=lambda f: {name: f.get(name) for name in ("runtime", "hardware", "replicas", "precision",
                                                                     "threads", "batching")})

SPEC = KindSpec(name="serving_config", fields_model=ServingConfigFields, words=WORDS, writable=True,
                ask_prior=0.1, view=VIEW, brief=BRIEF)
