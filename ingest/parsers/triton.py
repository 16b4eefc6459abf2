"""Triton ``config.pbtxt`` → one ``serving_config`` record (the text kept verbatim in ``raw``).

Why a hand-written reader rather than protobuf's ``text_format`` with Triton's schema: the schema ships
as ``model_config_pb2`` only inside ``tritonclient`` (PyPI, 2.73), whose ``tritonclient.grpc`` package
must be imported to reach it (grpc, numpy, ml_dtypes, rapidjson: a network client for a file format),
and whose requirements pin ``ml-dtypes<=0.5.4`` and, for grpc, ``protobuf<7`` against this project's
ml_dtypes 0.7 (onnx) and protobuf 7; compiling Triton's ``model_config.proto`` needs ``protoc`` at
build time, and copying its generated descriptor would be vendoring. So ``pbtxt.parse_pbtxt`` reads the
syntax, and the typo check ``text_format`` would give is done here on the top-level names, which are
Triton's documented ``ModelConfig`` fields: Triton refuses to load a config with an unknown field, so
ingest refuses it too, naming the field and the closest known one.
"""

from __future__ import annotations

import difflib
from pathlib import PurePosixPath
from typing import Any

from elephant.ingest.parsers.base import (
    ParseContext,
    ParseError,
    SkipFile,
    build_record,
    clean_tags,
    decode_text,
    derive_key,
    find_placeholder,
)
from elephant.ingest.parsers.pbtxt import parse_pbtxt
from elephant.records.envelope import Record

_TYPE_PRECISION = {
    "TYPE_FP32": "fp32", "TYPE_FP16": "fp16", "TYPE_BF16": "bf16", "TYPE_FP64": "fp64",
    "TYPE_INT8": "int8", "TYPE_UINT8": "uint8", "TYPE_INT32": "int32", "TYPE_INT64": "int64",
    "TYPE_STRING": "string", "TYPE_BOOL": "bool", "TYPE_INT16": "int16",
}


# Triton's ModelConfig message, top-level fields (docs: user_guide/model_configuration.md, model_config.proto).
MODEL_CONFIG_FIELDS = frozenset({
    "name", "platform", "backend", "runtime", "version_policy", "max_batch_size", "input", "output",
    "batch_input", "batch_output", "optimization", "dynamic_batching", "sequence_batching",
    "ensemble_scheduling", "instance_group", "default_model_filename", "cc_model_filenames", "metric_tags",
    "parameters", "model_warmup", "model_operations", "model_transaction_policy", "model_repository_agents",
    "response_cache", "model_metrics",
})


def check_field_names(config: dict[str, Any]) -> None:
    """ParseError for a top-level name Triton's ModelConfig does not have (a typo Triton would refuse)."""
    unknown = sorted(set(config) - MODEL_CONFIG_FIELDS)
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, MODEL_CONFIG_FIELDS, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ParseError(f"unknown Triton ModelConfig field(s): {', '.join(hints)}")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in _as_list(value) if isinstance(v, dict)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _precision(config: dict[str, Any]) -> str | None:
    """Precision from a TensorRT accelerator setting, else from the (float) tensor data types."""
    optimization = config.get("optimization")
    if isinstance(optimization, dict):
        accel = optimization.get("execution_accelerators")
        for group in _dicts(accel):
            for name in ("gpu_execution_accelerator", "cpu_execution_accelerator"):
                for item in _dicts(group.get(name)):
                    for param in _dicts(item.get("parameters")):
                        if param.get("key") == "precision_mode" and isinstance(param.get("value"), str):
                            return param["value"].lower()
    types = [t.get("data_type") for part in ("input", "output") for t in _dicts(config.get(part))]
    mapped = [_TYPE_PRECISION.get(str(t)) for t in types if t]
    for preferred in ("fp16", "bf16", "int8", "fp32"):
        if preferred in mapped:
            return preferred
    return mapped[0] if mapped else None


def _parameters(config: dict[str, Any]) -> dict[str, Any]:
    """Triton ``parameters`` are key / value{string_value} pairs or a map; flattened to key: text."""
    out: dict[str, Any] = {}
    params = config.get("parameters")
    for item in _dicts(params):
        if "key" in item:
            value = item.get("value")
            out[str(item["key"])] = value.get("string_value", value) if isinstance(value, dict) else value
        else:
            out.update({str(k): v for k, v in item.items()})
    return out


def serving_fields(config: dict[str, Any], raw: str) -> dict[str, Any]:
    """Elephant ``serving_config`` fields from a parsed Triton model config."""
    instance_groups = _dicts(config.get("instance_group"))
    replicas = sum(_int(g.get("count")) or 1 for g in instance_groups) if instance_groups else None
    kinds = sorted({str(g.get("kind", "KIND_AUTO")).removeprefix("KIND_").lower() for g in instance_groups})
    batching: dict[str, Any] = {}
    if (mbs := _int(config.get("max_batch_size"))) is not None:
        batching["max_batch_size"] = mbs
    dyn = config.get("dynamic_batching")
    if isinstance(dyn, dict):
        batching["dynamic"] = True
        delay_us = dyn.get("max_queue_delay_microseconds")
        if isinstance(delay_us, int | float) and not isinstance(delay_us, bool):
            batching["max_queue_delay_ms"] = delay_us / 1000.0
        preferred = [p for p in _as_list(dyn.get("preferred_batch_size")) if _int(p) is not None]
        if preferred:
            batching["preferred_batch_size"] = preferred
        for extra in ("preserve_ordering", "priority_levels", "default_priority_level", "default_queue_policy"):
            if extra in dyn:
                batching[extra] = dyn[extra]
    if isinstance(config.get("sequence_batching"), dict):
        batching["sequence"] = config["sequence_batching"]
    fields: dict[str, Any] = {
        "runtime": "triton",
        "backend": config.get("backend") or None,
        "platform": config.get("platform") or None,
        "hardware": ",".join(kinds) if kinds else None,
        "replicas": replicas,
        "batching": batching or None,
        "precision": _precision(config),
        "instance_group": instance_groups or None,
        "optimization": config.get("optimization"),
        "parameters": _parameters(config) or None,
        "inputs": [{k: v for k, v in t.items() if k in ("name", "data_type", "dims")}
                   for t in _dicts(config.get("input"))] or None,
        "outputs": [{k: v for k, v in t.items() if k in ("name", "data_type", "dims")}
                    for t in _dicts(config.get("output"))] or None,
        "ensemble": config.get("ensemble_scheduling"),
        "response_cache": config.get("response_cache"),
        "model_warmup": config.get("model_warmup"),
        "raw": raw,
    }
    return {k: v for k, v in fields.items() if v is not None}


def parse(path: str, data: bytes, context: ParseContext) -> list[Record]:
    text = decode_text(data)
    placeholder = find_placeholder(text)
    if placeholder:
        raise SkipFile(f"template placeholder {placeholder}: not valid protobuf text until rendered")
    config = parse_pbtxt(text)
    if not config:
        raise ParseError("no fields: not a Triton model config")
    check_field_names(config)
    name = config.get("name") if isinstance(config.get("name"), str) else None
    folder = PurePosixPath(path).parent.name or "model"
    model = name or folder
    fields = serving_fields(config, text)
    engine = fields.get("backend") or fields.get("platform") or "triton"
    batching = fields.get("batching", {})
    summary = [f"Triton model config for {model}: {engine}"]
    if "max_batch_size" in batching:
        summary.append(f"max_batch_size {batching['max_batch_size']}")
    if batching.get("dynamic"):
        delay = batching.get("max_queue_delay_ms")
        summary.append("dynamic batching" + (f" (max queue delay {delay:g} ms)" if delay is not None else ""))
    if fields.get("replicas"):
        summary.append(f"{fields['replicas']} instance(s) on {fields.get('hardware', 'auto')}")
    envelope = {
        "kind": "serving_config",
        "key": derive_key(path),
        "title": f"Triton config: {model} ({engine})",
        "model": model,
        "tags": clean_tags("triton", engine, fields.get("precision"), fields.get("hardware")),
        "body": ", ".join(summary) + ".",
        "fields": fields,
    }
    return [build_record(envelope, path=path, anchor=None, context=context)]
