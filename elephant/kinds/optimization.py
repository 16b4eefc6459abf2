"""``optimization``: an attempt to make a model faster, smaller or cheaper, with baseline, result and outcome."""

from __future__ import annotations

from enum import StrEnum

from elephant.kinds.base import FieldsModel, KindSpec, KindWords


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


class OptimizationFields(FieldsModel):
    technique: Technique | None = None
    baseline: Measurement | None = None
    result: Measurement | None = None
    accuracy_metric: str | None = None
    outcome: Outcome | None = None
    reason: str | None = None


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
    "distillation": (r"\bdistil", r"\bstudents?\b", r"\bteachers?\b", r"\bsmaller (?:\w+ )?(?:model|network|net)\b",
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
    question=(r"\boptimi[sz]", r"\btr(?:y|ied|ies)\b", r"\battempts?\b", r"\bspeed ?ups?\b", r"\bfaster\b",
              r"\bmake .* (?:faster|smaller|cheaper)\b"),
)

SPEC = KindSpec(name="optimization", fields_model=OptimizationFields, words=WORDS, writable=True,
                ask_prior=0.6)
