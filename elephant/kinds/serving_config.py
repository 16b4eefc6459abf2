"""``serving_config``: how a model is served (runtime, hardware, replicas, batching, threads, precision)."""

from __future__ import annotations

from elephant.kinds.base import FieldsModel, KindSpec, KindWords


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

SPEC = KindSpec(name="serving_config", fields_model=ServingConfigFields, words=WORDS, writable=True,
                ask_prior=0.1)
