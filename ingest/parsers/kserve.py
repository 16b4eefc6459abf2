"""KServe ``InferenceService`` / ``ServingRuntime`` / ``LLMInferenceService`` YAML → ``serving_config``,
or ``deployment`` when the service describes a canary rollout (``canaryTrafficPercent``).

Multi-document files give one record per KServe document (anchored ``<kind>-<name>``).
"""

from __future__ import annotations

from typing import Any

import yaml

from elephant.ingest.parsers.base import (
    ParseContext,
    ParseError,
    as_dict,
    build_record,
    clean_tags,
    derive_key,
    to_number,
)
from elephant.records import yamlsafe
from elephant.records.envelope import Record

SERVICE_KINDS = {"InferenceService"}
RUNTIME_KINDS = {"ServingRuntime", "ClusterServingRuntime"}
LLM_KINDS = {"LLMInferenceService", "LLMInferenceServiceConfig"}
KSERVE_KINDS = SERVICE_KINDS | RUNTIME_KINDS | LLM_KINDS
# Predictor keys that name the framework in the pre-``model:`` InferenceService shape.
FRAMEWORKS = ("tensorflow", "pytorch", "sklearn", "xgboost", "onnx", "triton", "huggingface", "lightgbm",
              "pmml", "paddle", "torchserve", "mlflow")


def is_kserve_document(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") in KSERVE_KINDS and "kserve" in str(doc.get("apiVersion", ""))


def load_documents(text: str) -> list[Any]:
    try:
        return [d for d in yamlsafe.safe_load_all(text) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParseError(f"malformed YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ParseError(f"malformed YAML: {exc}") from None
    except RecursionError:
        raise ParseError("malformed YAML: nesting too deep") from None


def _get(data: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _containers(spec: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found.extend(c for c in value if isinstance(c, dict))
            elif key == "container" and isinstance(value, dict):
                found.append(value)
            elif isinstance(value, dict | list):
                found.extend(_containers(value))
    elif isinstance(spec, list):
        for item in spec:
            found.extend(_containers(item))
    return found


def _hardware(spec: Any) -> str | None:
    gpus = 0.0
    for container in _containers(spec):
        resources = as_dict(container.get("resources"))
        for section in ("limits", "requests"):
            limits = as_dict(resources.get(section))
            for name, value in limits.items():
                if "gpu" in str(name).lower():
                    gpus = max(gpus, to_number(value) or 0.0)
    if gpus:
        return f"{gpus:g}x gpu"
    return "cpu" if _containers(spec) else None


def _int(value: Any) -> int | None:
    number = to_number(value)
    return int(number) if number is not None and number == int(number) else None


def _service_fields(doc: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    spec = as_dict(doc.get("spec"))
    predictor = as_dict(spec.get("predictor"))
    model_format = _get(predictor, "model", "modelFormat", "name")
    framework = model_format or next((f for f in FRAMEWORKS if f in predictor), None)
    storage = (_get(predictor, "model", "storageUri")
               or next((_get(predictor, f, "storageUri") for f in FRAMEWORKS if f in predictor), None))
    runtime_name = _get(predictor, "model", "runtime")
    batcher = as_dict(predictor.get("batcher"))
    batching: dict[str, Any] = {}
    if batcher:
        if (mbs := _int(batcher.get("maxBatchSize"))) is not None:
            batching["max_batch_size"] = mbs
        if (lat := to_number(batcher.get("maxLatency"))) is not None:
            batching["max_queue_delay_ms"] = lat  # KServe's batcher maxLatency is in milliseconds
    fields: dict[str, Any] = {
        "runtime": "kserve",
        "framework": framework,
        "serving_runtime": runtime_name,
        "storage_uri": storage,
        "hardware": _hardware(predictor),
        "replicas": _int(predictor.get("minReplicas")),
        "max_replicas": _int(predictor.get("maxReplicas")),
        "autoscaling": {k: predictor[k] for k in ("scaleTarget", "scaleMetric", "autoScaling") if k in predictor} or None,
        "batching": batching or None,
        "components": sorted(k for k in ("predictor", "transformer", "explainer") if k in spec),
        "deployment_mode": _get(doc, "metadata", "annotations", "serving.kserve.io/deploymentMode"),
    }
    return {k: v for k, v in fields.items() if v not in (None, [], {})}, framework


def _runtime_fields(doc: dict[str, Any]) -> dict[str, Any]:
    spec = as_dict(doc.get("spec"))
    formats = [f"{f.get('name')}{'@' + str(f['version']) if f.get('version') else ''}"
               for f in spec.get("supportedModelFormats", []) or [] if isinstance(f, dict)]
    containers = _containers(spec)
    first = containers[0] if containers else {}
    fields: dict[str, Any] = {
        "runtime": "kserve",
        "server_type": _get(doc, "metadata", "annotations", "serving.kserve.io/server-type"),
        "supported_model_formats": formats or None,
        "protocol_versions": spec.get("protocolVersions"),
        "image": first.get("image"),
        "args": first.get("args"),
        "hardware": _hardware(spec),
        "multi_model": spec.get("multiModel"),
    }
    return {k: v for k, v in fields.items() if v not in (None, [], {})}


def _llm_fields(doc: dict[str, Any]) -> dict[str, Any]:
    spec = as_dict(doc.get("spec"))
    fields: dict[str, Any] = {
        "runtime": "kserve-llm",
        "model_uri": _get(spec, "model", "uri"),
        "replicas": _int(spec.get("replicas")),
        "hardware": _hardware(spec),
        "parallelism": spec.get("parallelism"),
        "prefill": {"replicas": _int(_get(spec, "prefill", "replicas")),
                    "parallelism": _get(spec, "prefill", "parallelism")} if "prefill" in spec else None,
        "router": sorted(spec["router"]) if isinstance(spec.get("router"), dict) else None,
        "lora_adapters": _get(spec, "model", "lora"),
        "base_refs": spec.get("baseRefs"),
    }
    args = [a for c in _containers(spec) for a in (c.get("args") or []) if isinstance(a, str)]
    if args:
        fields["args"] = args
    return {k: v for k, v in fields.items() if v not in (None, [], {})}


def _record_for(doc: dict[str, Any], *, path: str, anchor: str | None, raw: str,
                context: ParseContext) -> Record:
    kind = str(doc["kind"])
    name = str(_get(doc, "metadata", "name") or "unnamed")
    key = derive_key(path, anchor)
    canary = _get(doc, "spec", "predictor", "canaryTrafficPercent")
    if kind in SERVICE_KINDS:
        fields, framework = _service_fields(doc)
        model = name
        tags = clean_tags("kserve", kind, framework, fields.get("hardware"))
    elif kind in RUNTIME_KINDS:
        fields = _runtime_fields(doc)
        model = None
        framework = fields.get("server_type")
        tags = clean_tags("kserve", kind, framework)
    else:
        fields = _llm_fields(doc)
        model = str(_get(doc, "spec", "model", "name") or name)
        framework = "llm"
        tags = clean_tags("kserve", kind, "llm", fields.get("hardware"))
    fields["resource_kind"] = kind
    fields["name"] = name
    fields["raw"] = raw
    if kind in SERVICE_KINDS and (percent := to_number(canary)) is not None:
        # canaryTrafficPercent 0 sends every request back to the last good revision: a rollback/pin.
        is_rollback = percent == 0
        fields.update({
            "strategy": "rollback" if is_rollback else "canary",
            "traffic_percent": max(0.0, min(100.0, percent)),
            "status": "rolled_back" if is_rollback else "in_progress",
            # The manifest names only the model being rolled out; the last good revision lives in the cluster.
            "to_version": None if is_rollback else fields.get("storage_uri"),
        })
        fields = {k: v for k, v in fields.items() if v is not None}
        what = ("rolled back / pinned to the previous good revision (0% to the new model)" if is_rollback
                else f"canary rollout with {percent:g}% of traffic on the new revision")
        return build_record({
            "kind": "deployment", "key": key, "model": model,
            "title": f"KServe {'rollback' if is_rollback else 'canary'}: {name} ({percent:g}% canary traffic)",
            "tags": [*tags, "canary", *(["rollback"] if is_rollback else [])],
            "body": f"InferenceService {name}: {what}; canaryTrafficPercent: {percent:g}.",
            "fields": fields,
        }, path=path, anchor=anchor, context=context)
    parts = [f"KServe {kind} {name}"]
    if framework:
        parts.append(f"format {framework}")
    if fields.get("storage_uri") or fields.get("model_uri"):
        parts.append(f"model {fields.get('storage_uri') or fields.get('model_uri')}")
    if fields.get("hardware"):
        parts.append(f"on {fields['hardware']}")
    return build_record({
        "kind": "serving_config", "key": key, "model": model,
        "title": f"KServe {kind}: {name}" + (f" ({framework})" if framework and framework != "llm" else ""),
        "tags": tags, "body": ", ".join(parts) + ".", "fields": fields,
    }, path=path, anchor=anchor, context=context)


def _document_texts(text: str, count: int) -> list[str]:
    """The verbatim text of each YAML document, so each record's ``raw`` is its own document."""
    chunks: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.rstrip() == "---" or line.startswith("--- "):
            chunks.append("".join(current))
            current = []
        else:
            current.append(line)
    chunks.append("".join(current))
    chunks = [c for c in chunks if c.strip() and any(
        ln.strip() and not ln.lstrip().startswith("#") for ln in c.splitlines())]
    return chunks if len(chunks) == count else [text] * count


def parse_documents(path: str, text: str, docs: list[Any], context: ParseContext) -> list[Record]:
    """Records for the KServe documents of an already loaded YAML file."""
    raws = _document_texts(text, len(docs))
    chosen = [(doc, raw) for doc, raw in zip(docs, raws, strict=True) if is_kserve_document(doc)]
    if not chosen:
        raise ParseError("no KServe InferenceService, ServingRuntime or LLMInferenceService document")
    records: list[Record] = []
    used: set[str] = set()
    for doc, raw in chosen:
        anchor = None
        if len(chosen) > 1:
            anchor = f"{doc['kind']}-{_get(doc, 'metadata', 'name') or 'unnamed'}".lower()
            base, n = anchor, 2
            while anchor in used:
                anchor, n = f"{base}-{n}", n + 1
            used.add(anchor)
        records.append(_record_for(doc, path=path, anchor=anchor, raw=raw, context=context))
    return records


def parse(path: str, data: bytes, context: ParseContext) -> list[Record]:
    from elephant.ingest.parsers.base import decode_text

    content = decode_text(data)
    return parse_documents(path, content, load_documents(content), context)
