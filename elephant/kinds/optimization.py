"""``optimization``: an attempt to make a model faster, smaller or cheaper, with baseline, result and outcome."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from elephant.kinds.base import BriefPlace, Fields, FieldsModel, KindSpec, KindView, KindWords
from elephant.kinds.phrases import (
    OUTCOME_CLASSES,
    OUTCOME_WORDS,
    accuracy_text,
    clip,
    index_pair,
    text,
    words,
)
from elephant.kinds.units import as_number, format_change, format_number, format_points, metric_label


class Technique(StrEnum):
    quantization_int8 = "quantization_int8"
    quantization_fp16 = "quantization_fp16"
    quantization_fp8 = "quantization_fp8"
    quantization_int4 = "quantization_int4"
    onnx_export = "onnx_export"
    graph_optimization = "graph_optimization"
    tensorrt = "tensorrt"
    pruning = "pruning"
    distillation = "distillation"
    batching = "batching"
    caching = "caching"
    other = "other"


class Outcome(StrEnum):
    adopted = "adopted"
    rejected = "rejected"
    rolled_back = "rolled_back"
    in_progress = "in_progress"


class Measurement(FieldsModel):
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_p99: float | None = None
    throughput_qps: float | None = None
    accuracy: float | dict[str, float] | None = None


# Spellings of the known techniques that people write in ``fields.technique`` (after lower-casing and turning
# separators into "_"): each names one value of ``Technique``.
TECHNIQUE_SPELLINGS: dict[str, str] = {
    **{f"{p}_quantization": f"quantization_{p}" for p in ("int8", "fp16", "fp8", "int4")},
    **{p: f"quantization_{p}" for p in ("int8", "fp16", "fp8", "int4")},
    "bf16": "quantization_fp16", "half_precision": "quantization_fp16", "8bit": "quantization_int8",
    "4bit": "quantization_int4", "onnx": "onnx_export", "graph_optimisation": "graph_optimization",
    "trt": "tensorrt", "knowledge_distillation": "distillation", "dynamic_batching": "batching",
}
TECHNIQUE_MAX_LENGTH = 80


def normalise_technique(value: Any) -> str | None:
    """``fields.technique`` as stored: a known technique as its ``Technique`` value ("INT8-quantization" →
    ``quantization_int8``); any other method kept verbatim (trimmed), read as ``other`` with its own words."""
    if value is None:
        return None
    if isinstance(value, Technique):
        return value.value
    if not isinstance(value, str):
        raise ValueError(f"technique must be text, got {type(value).__name__}")
    written = " ".join(value.split())
    if not written:
        return None
    if len(written) > TECHNIQUE_MAX_LENGTH:
        raise ValueError(f"technique is longer than {TECHNIQUE_MAX_LENGTH} characters")
    folded = re.sub(r"[\s./-]+", "_", written.lower()).strip("_")
    if folded in Technique.__members__:
        return folded
    return TECHNIQUE_SPELLINGS.get(folded, written)


def technique_class(value: Any) -> str | None:
    """The ``Technique`` a stored technique belongs to: itself when known, ``other`` for any other method."""
    if not isinstance(value, str) or not value:
        return None
    return value if value in Technique.__members__ else Technique.other.value


class OptimizationFields(FieldsModel):
    technique: str | None = Field(
        None, description="a known technique, one of " + ", ".join(f"`{t.value}`" for t in Technique)
        + " (spellings such as `INT8` or `int8-quantization` are stored as their value)"
        + "; any other method (`speculative_decoding`, `AWQ`) is kept as written and read as `other`")
    baseline: Measurement | None = None
    result: Measurement | None = None
    accuracy_metric: str | None = None
    outcome: Outcome | None = None
    reason: str | None = None

    @field_validator("technique", mode="before")
    @classmethod
    def _technique(cls, value: Any) -> str | None:
        return normalise_technique(value)


QUANTIZATION = ("quantization_int8", "quantization_fp16", "quantization_fp8", "quantization_int4")

# Technique names as people say them, so "int8" and "quantization" both find quantization_int8 in an index text.
TECHNIQUE_WORDS = {
    "quantization_int8": "INT8 quantization",
    "quantization_fp16": "FP16 half precision quantization",
    "quantization_fp8": "FP8 quantization",
    "quantization_int4": "INT4 quantization",
    "onnx_export": "ONNX export",
    "graph_optimization": "graph optimization compilation",
    "tensorrt": "TensorRT engine",
    "pruning": "pruning",
    "distillation": "knowledge distillation",
    "batching": "batching",
    "caching": "caching",
    "other": "other",
}

# Regular expressions that name a technique in a question ("8-bit" is INT8, "smaller student" is distillation).
TECHNIQUE_PATTERNS: dict[str, tuple[str, ...]] = {
    "quantization_int8": (r"\bint-?8\b", r"\b8[- ]?bits?\b", r"\bu8s8\b", r"\bs8s8\b"),
    "quantization_fp16": (r"\bfp-?16\b", r"\bbf-?16\b", r"\bhalf[- ]precision\b", r"\b16[- ]?bits?\b"),
    "quantization_fp8": (r"\bfp-?8\b", r"\bfloat-?8\b", r"\be4m3\b"),
    "quantization_int4": (r"\bint-?4\b", r"\b4[- ]?bits?\b", r"\bgptq\b", r"\bawq\b"),
    "distillation": (r"\bdistil(?!bert|roberta|gpt)", r"\bkd\b", r"\bstudents?\b", r"\bteachers?\b", r"\bsmaller (?:\w+ )?(?:model|network|net)\b",
                     r"\bcompact (?:\w+ )?model\b", r"\bknowledge transfer\b"),
    "pruning": (r"\bprun", r"\bsparsit", r"\bsparse\b", r"\bfewer features\b", r"\bdrop(?:ped|ping)? features\b",
                r"\bremov\w* (?:\w+ )?features\b", r"\bdepth[- ]pruned\b"),
    "tensorrt": (r"\btensor-?rt\b", r"\btrt\b", r"\btrt-?llm\b"),
    "onnx_export": (r"\bonnx export\b", r"\bexport(?:ed|ing)? to onnx\b"),
    "graph_optimization": (r"\bgraph optimi[sz]", r"\boperator fusion\b", r"\bfus(?:e|ed|ion)\b", r"\bcompil",
                           r"\btreelite\b"),
    "batching": (r"\bbatching\b", r"\bmicro-?batch", r"\bdynamic batch", r"\bbatch(?:ed)? requests\b"),
    "caching": (r"\bcach", r"\bmemoi[sz]", r"\blru\b"),
}
# Words that name quantization without saying which precision: they match every quantization technique.
GENERIC_QUANTIZATION = (r"\bquanti[sz]", r"\blower precision\b", r"\breduced precision\b", r"\bcalibrat")

WORDS = KindWords(
    label="optimization attempt",
    question=(r"\boptimi[sz]", r"\bopts\b", r"\btr(?:y|ied|ies)\b", r"\battempts?\b", r"\bspeed ?ups?\b", r"\bfaster\b",
              r"\bmake .* (?:faster|smaller|cheaper)\b"),
)



def outcome(fields: Fields) -> str | None:
    return text(fields.get("outcome"))


def outcome_words(fields: Fields) -> str:
    """'rolled back: calibration drift'."""
    value = outcome(fields)
    said = OUTCOME_WORDS.get(value or "", value or "outcome not recorded")
    reason = text(fields.get("reason"))
    return f"{said}: {reason}" if reason else said


def outcome_class(fields: Fields) -> str:
    value = outcome(fields)
    return value if value in OUTCOME_CLASSES else "none"


def figures(fields: Fields) -> list[str]:
    """Baseline → result for latency percentiles, throughput and accuracy."""
    base = fields.get("baseline") or {}
    result = fields.get("result") or {}
    if not isinstance(base, Mapping) or not isinstance(result, Mapping):
        return []
    parts: list[str] = []
    for pct in ("p50", "p90", "p95", "p99"):
        name = f"latency_ms_{pct}"
        if (part := format_change(pct, as_number(base.get(name)), as_number(result.get(name)), "ms")):
            parts.append(part)
    if (part := format_change("throughput", as_number(base.get("throughput_qps")),
                              as_number(result.get("throughput_qps")), "qps")):
        parts.append(part)
    parts.extend(_accuracy_changes(base.get("accuracy"), result.get("accuracy"), fields.get("accuracy_metric")))
    return parts


def _accuracy_changes(before: Any, after: Any, metric: Any) -> list[str]:
    label = metric_label(str(metric)) if metric else "accuracy"
    if isinstance(before, Mapping) or isinstance(after, Mapping):
        before_d = before if isinstance(before, Mapping) else {}
        after_d = after if isinstance(after, Mapping) else {}
        out = []
        for name in list(dict.fromkeys([*before_d, *after_d])):
            if (part := format_points(metric_label(str(name)), as_number(before_d.get(name)),
                                      as_number(after_d.get(name)))):
                out.append(part)
        return out
    part = format_points(label, as_number(before), as_number(after))
    return [part] if part else []


def fact(fields: Fields) -> list[str]:
    """'quantization int8 rolled back; p99 45 → 18 ms (−60 %); reason: ...'."""
    parts: list[str] = []
    head = " ".join(str(x) for x in (fields.get("technique"), fields.get("outcome")) if x)
    if head:
        parts.append(head.replace("_", " "))
    baseline, result = fields.get("baseline") or {}, fields.get("result") or {}
    label = metric_label(str(fields["accuracy_metric"])) if fields.get("accuracy_metric") else "accuracy"
    for name, what, unit in (("latency_ms_p99", "p99", "ms"), ("latency_ms_p95", "p95", "ms"),
                             ("latency_ms_p50", "p50", "ms"), ("throughput_qps", "throughput", "qps")):
        before, after = as_number(baseline.get(name)), as_number(result.get(name))
        if after is not None and (change := format_change(what, before, after, unit)):
            parts.append(change)
        elif result.get(name) is not None:
            parts.append(f"{what} {format_number(result[name])} {unit}")
    before_acc, after_acc = baseline.get("accuracy"), result.get("accuracy")
    if as_number(before_acc) is not None and as_number(after_acc) is not None:
        parts.append(str(format_points(label, as_number(before_acc), as_number(after_acc))))
    elif after_acc is not None:
        parts.append(f"{label} {accuracy_text(after_acc)}")
    if fields.get("reason"):
        parts.append(f"reason: {clip(fields['reason'])}")
    return parts


def index_phrases(fields: Fields) -> list[str]:
    out: list[str] = []
    if fields.get("technique"):
        out.append(f"technique: {TECHNIQUE_WORDS.get(fields['technique'], words(fields['technique']))}")
    if fields.get("outcome"):
        out.append(f"outcome: {words(fields['outcome'])}")
    baseline, result = fields.get("baseline") or {}, fields.get("result") or {}
    for name, label, unit in (("latency_ms_p50", "p50", "ms"), ("latency_ms_p95", "p95", "ms"),
                              ("latency_ms_p99", "p99", "ms"), ("throughput_qps", "throughput", "qps")):
        if (phrase := index_pair(label, baseline.get(name), result.get(name), unit)):
            out.append(phrase)
    metric = fields.get("accuracy_metric")
    before, after = baseline.get("accuracy"), result.get("accuracy")
    if isinstance(before, int | float) or isinstance(after, int | float):
        if (phrase := index_pair(words(metric or "accuracy"), before, after)):
            out.append(phrase)
    elif isinstance(after, Mapping):
        for name, value in after.items():
            prior = before.get(name) if isinstance(before, Mapping) else None
            if (phrase := index_pair(words(name), prior, value)):
                out.append(phrase)
    if fields.get("reason"):
        out.append(f"reason: {fields['reason']}")
    return out


VIEW = KindView(outcome=outcome, outcome_words=outcome_words, outcome_class=outcome_class, figures=figures,
                fact=fact, index_phrases=index_phrases,
                indexed_fields=frozenset({"technique", "baseline", "result", "accuracy_metric", "outcome", "reason"}),
                display="optimization", on_timeline=True)

def brief_summary(fields: Fields, title: str, date: str) -> str:
    """'2026-03-12: INT8 dynamic quantization of ranker v3 (INT8 quantization; p99 45 → 18 ms)'."""
    said = [TECHNIQUE_WORDS.get(str(fields["technique"]), words(fields["technique"]))] if fields.get("technique") else []
    said += figures(fields)[:2]
    return f"{date}: {clip(title, 80)}" + (f" ({'; '.join(s for s in said if s)})" if any(said) else "")


# An attempt still in progress needs the engineer's attention: someone is changing the model right now.
BRIEF = BriefPlace(slot="attempts_in_progress", label="In-progress attempt", order=7, latest=False,
                   summary=brief_summary,
                   details=lambda f: {"technique": f.get("technique"), "outcome": f.get("outcome")},
                   is_open=lambda f: f.get("outcome") == "in_progress",
                   open_sql=lambda envelope: envelope.like('%"outcome":"in_progress"%'))

SPEC = KindSpec(name="optimization", fields_model=OptimizationFields, words=WORDS, writable=True,
                ask_prior=0.6, view=VIEW, brief=BRIEF)
