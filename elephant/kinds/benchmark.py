"""``benchmark``: a measurement of a model on some hardware and scenario (percentiles, throughput, accuracy)."""

from __future__ import annotations

from pydantic import Field

from elephant.kinds.base import FieldsModel, KindSpec, KindWords


class LatencyMs(FieldsModel):
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


class BenchmarkFields(FieldsModel):
    hardware: str | None = None
    scenario: str | None = None
    batch_size: int | None = None
    concurrency: int | None = None
    latency_ms: LatencyMs | None = None
    throughput_qps: float | None = None
    accuracy: dict[str, float] | None = None
    error_rate: float | None = Field(default=None, ge=0)
    valid: bool | None = None


WORDS = KindWords(
    label="benchmark",
    question=(r"\bbenchmark", r"\bmeasured\b", r"\bmeasurements?\b", r"\bload[- ]test", r"\bmlperf\b",
              r"\bpercentiles?\b"),
)

SPEC = KindSpec(name="benchmark", fields_model=BenchmarkFields, words=WORDS, writable=True,
                ask_prior=0.3)
