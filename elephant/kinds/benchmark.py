"""``benchmark``: a measurement of a model on some hardware and scenario (percentiles, throughput, accuracy)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from elephant.kinds.base import BriefPlace, Fields, FieldsModel, KindSpec, KindView, KindWords
from elephant.kinds.phrases import accuracy_text, words
from elephant.kinds.units import as_number, format_number, index_number, metric_label


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
    question=(r"\bbenchmark", r"\bbench(?:es)?\b", r"\bmeasured\b", r"\bmeasurements?\b", r"\bload[- ]test", r"\bmlperf\b",
              r"\bpercentiles?\b"),
)



def is_offline(fields: Fields) -> bool:
    """An offline run: its latency percentiles time samples of one huge batch over the whole run (an
    MLPerf Offline p50 is minutes), so they say nothing about serving latency; only throughput counts."""
    # MLPerf folders spell scenarios "Offline" or "offline".
    return "".join(ch for ch in str(fields.get("scenario") or "").lower() if ch.isalnum()) == "offline"


def outcome(fields: Fields) -> str | None:
    valid = fields.get("valid")
    return None if valid is None else ("valid" if valid else "invalid")


def outcome_words(fields: Fields) -> str:
    return {"valid": "valid run", "invalid": "INVALID run"}.get(outcome(fields) or "", "measured")


def outcome_class(fields: Fields) -> str:
    return "none"


def figures(fields: Fields) -> list[str]:
    """'p50 21 ms, p99 45 ms, 820 qps, NDCG@10 0.412 (c6i.4xlarge, server, batch 16)'."""
    parts: list[str] = []
    latency = fields.get("latency_ms") or {}
    if isinstance(latency, Mapping) and not is_offline(fields):  # an offline "p50" is minutes into the run
        for pct in ("p50", "p90", "p95", "p99"):
            if (value := as_number(latency.get(pct))) is not None:
                parts.append(f"{pct} {format_number(value)} ms")
    if (qps := as_number(fields.get("throughput_qps"))) is not None:
        parts.append(f"{format_number(qps)} qps")
    accuracy = fields.get("accuracy") or {}
    if isinstance(accuracy, Mapping):
        for name, value in accuracy.items():
            if (number := as_number(value)) is not None:
                parts.append(f"{metric_label(str(name))} {format_number(number)}")
    if (rate := as_number(fields.get("error_rate"))) is not None and rate > 0:
        parts.append(f"errors {format_number(rate * 100)} %")
    where = [str(fields[name]) for name in ("hardware", "scenario") if fields.get(name)]
    if fields.get("batch_size") is not None:
        where.append(f"batch {fields['batch_size']}")
    if fields.get("concurrency") is not None:
        where.append(f"concurrency {fields['concurrency']}")
    if where and parts:
        parts[-1] += f" ({', '.join(where)})"
    return parts


def headline(fields: Fields) -> list[str]:
    """For a row: 'p99 45 ms, 820 qps, NDCG@10 0.412, p50 21 ms, …, c6i.4xlarge / server / batch 16' — the tail
    latency, throughput and accuracy people compare first, then the rest, then where it ran."""
    parts: list[str] = []
    latency = fields.get("latency_ms") or {}
    shown = [] if is_offline(fields) or not isinstance(latency, Mapping) else [
        (pct, number) for pct in ("p99", "p95", "p90", "p50") if (number := as_number(latency.get(pct))) is not None]
    if shown:
        parts.append(f"{shown[0][0]} {format_number(shown[0][1])} ms")
    if (qps := as_number(fields.get("throughput_qps"))) is not None:
        parts.append(f"{format_number(qps)} qps")
    accuracy = fields.get("accuracy") or {}
    if isinstance(accuracy, Mapping):
        parts.extend(f"{metric_label(str(name))} {format_number(number)}" for name, value in accuracy.items()
                     if (number := as_number(value)) is not None)
    if (rate := as_number(fields.get("error_rate"))) is not None and rate > 0:
        parts.append(f"errors {format_number(rate * 100)} %")
    parts.extend(f"{pct} {format_number(number)} ms" for pct, number in reversed(shown[1:]))
    where = [str(fields[name]) for name in ("hardware", "scenario") if fields.get(name)]
    if fields.get("batch_size") is not None:
        where.append(f"batch {fields['batch_size']}")
    if where:
        parts.append(" / ".join(where))
    return parts


def fact(fields: Fields) -> list[str]:
    """'c6i.4xlarge, server, batch 16; p50 21 / p99 45 ms; 820 qps; accuracy ndcg@10 0.412'."""
    parts: list[str] = []
    setup = ", ".join(str(x) for x in (fields.get("hardware"), fields.get("scenario")) if x)
    if fields.get("batch_size") is not None:
        setup += f"{', ' if setup else ''}batch {fields['batch_size']}"
    if fields.get("concurrency") is not None:
        setup += f"{', ' if setup else ''}concurrency {fields['concurrency']}"
    if setup:
        parts.append(setup)
    latency = fields.get("latency_ms") or {}
    shown = [f"{p} {format_number(latency[p])}" for p in ("p50", "p90", "p95", "p99") if latency.get(p) is not None]
    if shown:
        parts.append(" / ".join(shown) + " ms")
    if fields.get("throughput_qps") is not None:
        parts.append(f"{format_number(fields['throughput_qps'])} qps")
    if (accuracy := accuracy_text(fields.get("accuracy"))):
        parts.append(f"accuracy {accuracy}")
    if (rate := as_number(fields.get("error_rate"))) is not None:
        parts.append(f"error rate {format_number(rate * 100)} %")
    if fields.get("valid") is False:
        parts.append("INVALID run")
    return parts


def index_phrases(fields: Fields) -> list[str]:
    out: list[str] = []
    for name in ("hardware", "scenario"):
        if fields.get(name):
            out.append(f"{name}: {words(fields[name])}")
    for name, label in (("batch_size", "batch size"), ("concurrency", "concurrency")):
        if fields.get(name) is not None:
            out.append(f"{label} {index_number(fields[name])}")
    latency = fields.get("latency_ms") or {}
    if latency:
        out.append("latency " + ", ".join(f"{p} {index_number(v)} ms" for p, v in latency.items() if v is not None))
    if fields.get("throughput_qps") is not None:
        out.append(f"throughput {index_number(fields['throughput_qps'])} qps")
    for metric, value in (fields.get("accuracy") or {}).items():
        out.append(f"{words(metric)} {index_number(value)}")
    if fields.get("error_rate") is not None:
        out.append(f"error rate {index_number(fields['error_rate'])}")
    if fields.get("valid") is False:
        out.append("result invalid")
    return out


def brief_summary(fields: Fields, title: str, date: str) -> str:
    return f"{date}: " + (", ".join(figures(fields)) or "no figures recorded")


VIEW = KindView(outcome=outcome, outcome_words=outcome_words, outcome_class=outcome_class, figures=figures,
                fact=fact, index_phrases=index_phrases,
                indexed_fields=frozenset({"hardware", "scenario", "batch_size", "concurrency", "latency_ms",
                                          "throughput_qps", "accuracy", "error_rate", "valid"}),
                display="benchmark", on_timeline=False,  # benchmarks have their own chart page
                headline=headline)

BRIEF = BriefPlace(slot="latest_benchmark", label="Latest benchmark", order=1, latest=True, summary=brief_summary,
                   details=lambda f: {"latency_ms": f.get("latency_ms"), "throughput_qps": f.get("throughput_qps"),
                                      "hardware": f.get("hardware"), "scenario": f.get("scenario")})

SPEC = KindSpec(name="benchmark", fields_model=BenchmarkFields, words=WORDS, writable=True,
                ask_prior=0.3, view=VIEW, brief=BRIEF)


def normalise_series_part(value: object) -> str:
    """A series component compared loosely: MLPerf folders spell scenarios "Offline" or "offline",
    "SingleStream" or "singlestream"."""
    return "".join(ch for ch in str(value or "").lower() if ch.isalnum())


def series_parts(envelope: Mapping[str, object]) -> tuple[str, str, str]:
    """(model, hardware, scenario) of a benchmark envelope, the last two normalised."""
    fields = envelope.get("fields")
    fields = fields if isinstance(fields, Mapping) else {}
    return (str(envelope.get("model") or ""), normalise_series_part(fields.get("hardware")),
            normalise_series_part(fields.get("scenario")))


def series_key(envelope: Mapping[str, object]) -> str | None:
    """The indexed series column of a benchmark with a model (``heads.series``); None for anything else.

    Regression checks look their baseline up by it (an index range) instead of reading every
    benchmark of the model. Long values are hashed so the column stays bounded.
    """
    if envelope.get("kind") != "benchmark" or not envelope.get("model"):
        return None
    text = "\x1f".join(series_parts(envelope))
    if len(text) > 200:
        import hashlib

        text = text[:130] + "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text
