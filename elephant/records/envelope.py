"""Records: the common envelope and the kind-specific ``fields`` of DESIGN §2, validated with pydantic.

Minimum fields are typed (a wrong type is an error naming its path); unknown extra fields are kept.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from elephant.errors import FieldProblem, InvalidRecord
from elephant.timeutil import normalise_occurred_at

KINDS = (
    "serving_config",
    "benchmark",
    "optimization",
    "feature_definition",
    "deployment",
    "incident",
    "rollback_procedure",
    "note",
    # Written by Elephant itself when a benchmark is worse than its predecessor.
    "regression",
)
Kind = Literal[
    "serving_config", "benchmark", "optimization", "feature_definition", "deployment",
    "incident", "rollback_procedure", "note", "regression",
]

# A key is a path-like identity; '@' is reserved for citations (key@version).
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:+=,~()\[\]]*$")
MAX_KEY_LENGTH = 512


class _Open(BaseModel):
    """Typed where we know the field, open for anything else (kept, never dropped)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


Timestamp = str  # normalised by validators below


def _norm_ts(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date | str):
        try:
            return normalise_occurred_at(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 date or datetime: {value!r}") from exc
    raise ValueError(f"expected an ISO-8601 date or datetime, got {type(value).__name__}")


class LatencyMs(_Open):
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


class Batching(_Open):
    max_batch_size: int | None = None
    max_queue_delay_ms: float | None = None


class ServingConfigFields(_Open):
    runtime: str | None = None
    hardware: str | None = None
    replicas: int | None = None
    batching: Batching | None = None
    threads: int | None = None
    precision: str | None = None
    raw: str | None = None


class BenchmarkFields(_Open):
    hardware: str | None = None
    scenario: str | None = None
    batch_size: int | None = None
    concurrency: int | None = None
    latency_ms: LatencyMs | None = None
    throughput_qps: float | None = None
    accuracy: dict[str, float] | None = None
    error_rate: float | None = Field(default=None, ge=0)
    valid: bool | None = None


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


class Measurement(_Open):
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_p99: float | None = None
    throughput_qps: float | None = None
    accuracy: float | dict[str, float] | None = None


class OptimizationFields(_Open):
    technique: Technique | None = None
    baseline: Measurement | None = None
    result: Measurement | None = None
    accuracy_metric: str | None = None
    outcome: Outcome | None = None
    reason: str | None = None


class Parity(StrEnum):
    verified = "verified"
    drift = "drift"
    unknown = "unknown"


class FeatureDefinitionFields(_Open):
    feature: str | None = None
    entity: str | None = None
    dtype: str | None = None
    transformation: str | None = None
    training_source: str | None = None
    serving_source: str | None = None
    parity: Parity | None = None
    parity_checked_at: Timestamp | None = None
    skew_metric: str | float | dict[str, Any] | None = None

    _ts = field_validator("parity_checked_at", mode="before")(_norm_ts)


class Strategy(StrEnum):
    shadow = "shadow"
    canary = "canary"
    ab_test = "ab_test"
    full = "full"
    rollback = "rollback"


class DeploymentStatus(StrEnum):
    in_progress = "in_progress"
    succeeded = "succeeded"
    rolled_back = "rolled_back"
    failed = "failed"


class DeploymentFields(_Open):
    strategy: Strategy | None = None
    traffic_percent: float | None = Field(default=None, ge=0, le=100)
    from_version: str | None = None
    to_version: str | None = None
    status: DeploymentStatus | None = None
    metrics: dict[str, Any] | None = None

    @field_validator("from_version", "to_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class IncidentFields(_Open):
    severity: str | None = None
    symptom: str | None = None
    root_cause: str | None = None
    detected_at: Timestamp | None = None
    resolved_at: Timestamp | None = None
    rollback_key: str | None = None

    _ts = field_validator("detected_at", "resolved_at", mode="before")(_norm_ts)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class RollbackProcedureFields(_Open):
    applies_to: str | list[str] | None = None
    trigger: str | None = None
    steps: list[str] | None = None
    verification: str | None = None
    last_tested_at: Timestamp | None = None

    _ts = field_validator("last_tested_at", mode="before")(_norm_ts)


class NoteFields(_Open):
    pass


class RegressionStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class RegressionFields(_Open):
    status: RegressionStatus = RegressionStatus.open
    baseline: str | None = None  # key@version of the earlier benchmark
    candidate: str | None = None  # key@version of the benchmark that regressed
    metrics: dict[str, Any] | None = None


FIELD_MODELS: dict[str, type[_Open]] = {
    "serving_config": ServingConfigFields,
    "benchmark": BenchmarkFields,
    "optimization": OptimizationFields,
    "feature_definition": FeatureDefinitionFields,
    "deployment": DeploymentFields,
    "incident": IncidentFields,
    "rollback_procedure": RollbackProcedureFields,
    "note": NoteFields,
    "regression": RegressionFields,
}


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rel: str = Field(min_length=1)
    key: str = Field(min_length=1)


class Source(BaseModel):
    """Where a record came from: ``path`` relative to the ingest ``root``; ``anchor`` for a part of a file."""

    model_config = ConfigDict(extra="forbid")
    path: str
    anchor: str | None = None
    root: str | None = None


class Record(BaseModel):
    """A validated envelope: what a writer hands to the store."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)
    title: str = Field(min_length=1)
    model: str | None = None
    model_version: str | None = None
    occurred_at: str | None = None
    tags: list[str] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    body: str = ""
    fields: dict[str, Any] = Field(default_factory=dict)
    source: Source | None = None

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        value = value.strip()
        if not KEY_PATTERN.match(value) or "//" in value or value.endswith("/"):
            raise ValueError(
                "a key is letters, digits and . _ - / : + = , ~ ( ) [ ] without spaces or '@', "
                "not starting with a symbol or ending with '/'"
            )
        return value

    @field_validator("title")
    @classmethod
    def _check_title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is empty")
        return value.strip()

    @field_validator("model", "model_version", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value.strip() or None
        return value

    _occurred = field_validator("occurred_at", mode="before")(_norm_ts)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [t for t in re.split(r"[,\s]+", value) if t]
        if isinstance(value, list):
            seen: list[str] = []
            for tag in value:
                text = str(tag).strip() if isinstance(tag, str | int | float) else tag
                if text not in seen:
                    seen.append(text)
            return seen
        return value

    def envelope(self) -> dict[str, Any]:
        """The JSON form stored with each version (empty optional parts left out)."""
        data = self.model_dump(mode="json", exclude_none=True)
        for empty in ("tags", "links", "fields"):
            if not data.get(empty):
                data.pop(empty, None)
        if not data.get("body"):
            data.pop("body", None)
        return data

    def content_hash(self) -> str:
        return content_hash(self.envelope())


def content_hash(envelope: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of an envelope; ``source`` is provenance, not content."""
    material = {k: v for k, v in envelope.items() if k != "source"}
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif _is_union_label(str(item)):
            continue  # union-branch labels pydantic adds to locations
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _is_union_label(item: str) -> bool:
    return "[" in item or item.startswith(("function-", "is-instance", "literal")) or item in {
        "str", "int", "float", "bool", "dict", "list", "none"}


def _problems(exc: ValidationError, *, prefix: str, file: str | None, key: str | None) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for err in exc.errors():
        path = _loc_to_path(tuple(err["loc"]))
        path = f"{prefix}.{path}" if prefix and path else (prefix or path)
        message = err["msg"]
        if err["type"] == "missing":
            message = "is required"
        elif err["type"] == "extra_forbidden":
            message = "is not an envelope field (kind-specific data goes under 'fields')"
        elif err["type"] == "literal_error" and path == "kind":
            message = f"unknown kind {err.get('input')!r}; expected one of {', '.join(KINDS)}"
        else:
            message = f"{message} (got {_short(err.get('input'))})"
        if path not in seen:  # a union reports each branch; the first says enough
            seen.add(path)
            problems.append(FieldProblem(field=path, message=message, file=file, key=key))
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_record(data: Any, *, file: str | None = None) -> Record:
    """Validate one envelope (a mapping) into a ``Record``; raise ``InvalidRecord`` naming file, key, field."""
    if not isinstance(data, Mapping):
        raise InvalidRecord(FieldProblem(field="", file=file,
                                         message=f"a record must be a mapping, got {type(data).__name__}"))
    raw_key = data.get("key")
    key = str(raw_key) if isinstance(raw_key, str | int) else None
    try:
        record = Record.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidRecord(_problems(exc, prefix="", file=file, key=key)) from None
    model = FIELD_MODELS[record.kind]
    try:
        typed = model.model_validate(record.fields)
    except ValidationError as exc:
        raise InvalidRecord(_problems(exc, prefix="fields", file=file, key=record.key)) from None
    fields = typed.model_dump(mode="json", exclude_unset=True)
    return record.model_copy(update={"fields": fields})
