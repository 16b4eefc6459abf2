"""Benchmark tables → ``benchmark`` records, and ``optimization`` records where a table compares precisions.

- ONNX model-zoo cards (Markdown): accuracy tables with FP32 / INT8 / QDQ rows become one benchmark
  per row; the card's "Compared with the fp32 X, int8 X's Top-1 accuracy drop ratio is 0.27% ... and
  performance improvement is 1.82x" sentence becomes an ``optimization`` (baseline FP32, result INT8).
  The card's text itself is kept as a note (``ingest.parsers.markdown``).
- CSV / TSV / JSON tables with latency or throughput columns: one benchmark per row; others are notes.
- TurnkeyML ``turnkey_stats.yaml``: one benchmark describing the export/benchmark build.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import PurePosixPath
from typing import Any

import yaml

from elephant.ingest.parsers import markdown
from elephant.ingest.parsers.base import (
    ParseContext,
    ParseError,
    SkipFile,
    anchor_slug,
    as_dict,
    build_record,
    clean_tags,
    decode_text,
    derive_key,
    strip_markdown,
    to_number,
)
from elephant.records import yamlsafe
from elephant.records.envelope import Record

_ACCURACY_COLUMN = re.compile(r"accuracy|top-?\s?[15]|\bmap\b|\bf1\b|\bem\b|iou|score|error|auc|bleu|rouge", re.I)
_PRECISION = re.compile(r"(?:^|[-_ ])(int8|qdq|fp32|fp16|bf16|int4|fp8)(?:$|[-_ ])", re.I)
_COMPARE = re.compile(
    r"Compared with the fp32 (?P<base>.+?), (?P<rest>.*?performance improvement is (?P<speedup>[\d.]+)x.*)$",
    re.I | re.M,
)
_DROP = re.compile(
    r"(?P<metric>Top-\d (?:accuracy|error)|global pixelwise accuracy|mean IoU|mAP|accuracy|error)\s+"
    r"(?P<dir>drop|decline|rising)\s+ratio is (?P<value>-?[\d.]+)%", re.I,
)
_METRIC_COLUMN = re.compile(r"latency|throughput|qps|samples|tokens|fps|p50|p90|p95|p99|ms\b", re.I)
MAX_TABLE_ROWS = 2000


def is_model_card(text: str) -> bool:
    return bool(_COMPARE.search(text)) or (
        "|" in text and re.search(r"\|\s*[^|\n]*-int8\s*\|", text, re.I) is not None)


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of each pipe table in a Markdown text."""
    tables: list[tuple[list[str], list[list[str]]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines) - 1:
        line, nxt = lines[i].strip(), lines[i + 1].strip()
        if line.startswith("|") and re.fullmatch(r"\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?", nxt):
            header = [strip_markdown(c) for c in line.strip("|").split("|")]
            rows: list[list[str]] = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append([strip_markdown(c) for c in lines[i].strip().strip("|").split("|")])
                i += 1
            tables.append((header, rows[:MAX_TABLE_ROWS]))
        else:
            i += 1
    return tables


def _precision_of(name: str) -> str:
    match = _PRECISION.search(name)
    if not match:
        return "fp32"
    found = match.group(1).lower()
    return "int8" if found == "qdq" else found


def _base_name(name: str) -> str:
    return re.sub(r"[-_ ]?(int8|qdq|fp32|fp16|bf16|int4|fp8)$", "", name.strip(), flags=re.I).strip() or name.strip()


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _hardware(text: str) -> str | None:
    match = re.search(r"collected with (.+?)(?:,| Processor)", text)
    if match:
        return strip_markdown(match.group(1)).replace("®", "").strip() + " Processor"
    return None


def _batch_size(text: str) -> int | None:
    match = re.search(r"batch size is (\d+)", text)
    return int(match.group(1)) if match else None


def parse_model_card(path: str, data: bytes, context: ParseContext) -> list[Record]:
    """The card as a note (sections kept), plus benchmark rows and INT8-vs-FP32 optimizations."""
    text = decode_text(data).replace("\r\n", "\n")
    records = markdown.parse(path, data, context, tags=("onnx-model-zoo",))
    hardware = _hardware(text)
    batch = _batch_size(text)
    tool = "Intel Neural Compressor" if "Neural Compressor" in text else None
    rows_by_name: dict[str, dict[str, Any]] = {}
    used_anchors: set[str] = {r.source.anchor for r in records if r.source and r.source.anchor}
    for header, rows in markdown_tables(text):
        metric_cols = [(i, h) for i, h in enumerate(header) if _ACCURACY_COLUMN.search(h) and i > 0]
        if not metric_cols or not any(re.search(r"int8|qdq", r[0], re.I) for r in rows if r):
            continue
        for row in rows:
            if not row or not row[0].strip():
                continue
            name = row[0].strip()
            accuracy = {h.strip(): v for i, h in metric_cols
                        if i < len(row) and (v := to_number(row[i])) is not None}
            if not accuracy:
                continue
            anchor = anchor_slug(name)
            base_anchor, n = anchor, 2
            while anchor in used_anchors:
                anchor, n = f"{base_anchor}-{n}", n + 1
            used_anchors.add(anchor)
            precision = _precision_of(name)
            key = derive_key(path, anchor)
            fields = {"hardware": hardware, "scenario": "accuracy_eval", "batch_size": batch,
                      "accuracy": accuracy, "precision": precision, "runtime": "onnxruntime",
                      "base_model": _base_name(name),
                      "table_row": dict(zip(header, row, strict=False))}
            records.append(build_record({
                # Each row is its own model artifact (ResNet50-int8 is not a later ResNet50-fp32), so
                # regression checks never compare precisions; the optimization record links the pair.
                "kind": "benchmark", "key": key, "model": name, "model_version": precision,
                "title": f"{name} accuracy ({precision.upper()}): "
                         + ", ".join(f"{k} {v:g}" for k, v in accuracy.items()),
                "tags": clean_tags("onnx-model-zoo", precision, "onnx"),
                "body": f"{name} ({precision}) on {hardware or 'unspecified hardware'}: "
                        + ", ".join(f"{k} {v:g}" for k, v in accuracy.items()) + ".",
                "fields": {k: v for k, v in fields.items() if v is not None},
            }, path=path, anchor=anchor, context=context))
            rows_by_name[_norm(name)] = {"key": key, "accuracy": accuracy, "name": name}
    for match in _COMPARE.finditer(text):
        base = strip_markdown(match.group("base")).strip()
        speedup = float(match.group("speedup").rstrip("."))
        drops = {}
        for d in _DROP.finditer(match.group("rest")):
            metric = d.group("metric").strip()
            value = float(d.group("value"))
            drops[metric] = value
        wanted = _norm(base)
        baseline_row = rows_by_name.get(wanted + "fp32") or rows_by_name.get(wanted)
        result_row = rows_by_name.get(wanted + "int8") or next(
            (r for n, r in rows_by_name.items() if wanted in n and "int8" in n), None)
        first_metric = next(iter(drops), None)
        anchor = f"int8-vs-fp32-{anchor_slug(base)}"
        if anchor in used_anchors:
            continue
        used_anchors.add(anchor)

        def accuracy_of(row: dict[str, Any] | None) -> float | None:
            if not row:
                return None
            values = list(row["accuracy"].values())
            return values[0] if values else None

        baseline = {"precision": "fp32", "accuracy": accuracy_of(baseline_row), "throughput_relative": 1.0}
        result = {"precision": "int8", "accuracy": accuracy_of(result_row), "throughput_relative": speedup,
                  "speedup_x": speedup}
        drop_text = ", ".join(f"{m} drop {v:g}%" for m, v in drops.items())
        links = [{"rel": "baseline", "key": baseline_row["key"]}] if baseline_row else []
        if result_row:
            links.append({"rel": "result", "key": result_row["key"]})
        records.append(build_record({
            "kind": "optimization",
            "key": derive_key(path, anchor),
            "model": base,
            "title": f"{base} INT8 quantization: {speedup:g}x faster" + (f", {drop_text}" if drop_text else ""),
            "tags": clean_tags("onnx-model-zoo", "int8", "quantization", "onnxruntime"),
            "links": links,
            "body": strip_markdown(match.group(0)).lstrip("> ").strip()
                    + (f"\nQuantized with {tool} (onnxruntime backend)." if tool else "")
                    + (f"\nMeasured on {hardware}, batch size {batch}." if hardware else ""),
            "fields": {k: v for k, v in {
                "technique": "quantization_int8",
                "baseline": {k: v for k, v in baseline.items() if v is not None},
                "result": {k: v for k, v in result.items() if v is not None},
                "accuracy_metric": first_metric,
                "accuracy_drop_pct": drops or None,
                "speedup_x": speedup,
                "tool": tool,
                "hardware": hardware,
                "batch_size": batch,
            }.items() if v is not None},
        }, path=path, anchor=anchor, context=context))
    return records


def _rows_to_benchmarks(path: str, header: list[str], rows: list[dict[str, Any]],
                        context: ParseContext) -> list[Record]:
    metric_cols = [h for h in header if _METRIC_COLUMN.search(h)]
    name_col = next((h for h in header if re.search(r"model|name|config|system", h, re.I)), header[0])
    records: list[Record] = []
    used: set[str] = set()
    for index, row in enumerate(rows, start=1):
        label = str(row.get(name_col) or f"row-{index}")
        anchor = anchor_slug(label)[:80] or f"row-{index}"
        if anchor in used:
            anchor = f"{anchor}-{index}"
        used.add(anchor)
        numbers = {h: to_number(row.get(h)) for h in metric_cols}
        lat = {p: numbers[h] for h in metric_cols for p in ("p50", "p90", "p95", "p99")
               if p in h.lower() and numbers[h] is not None}
        qps = next((numbers[h] for h in metric_cols if re.search(r"qps|throughput|samples", h, re.I)
                    and numbers[h] is not None), None)
        fields = {
            "hardware": next((str(row[h]) for h in header if re.search(r"hardware|device|gpu|cpu", h, re.I)
                              and row.get(h)), None),
            "scenario": next((str(row[h]).lower() for h in header if "scenario" in h.lower() and row.get(h)), None),
            "latency_ms": lat or None,
            "throughput_qps": qps,
            "metrics": {h: v for h, v in numbers.items() if v is not None} or None,
            "row": {h: row.get(h) for h in header},
        }
        records.append(build_record({
            "kind": "benchmark", "key": derive_key(path, anchor), "title": f"{label} ({PurePosixPath(path).name})",
            "model": label, "tags": clean_tags("table"),
            "body": ", ".join(f"{h}: {row.get(h)}" for h in header),
            "fields": {k: v for k, v in fields.items() if v is not None},
        }, path=path, anchor=anchor, context=context))
    return records


def _table_note(path: str, text: str, context: ParseContext, columns: list[str], rows: int) -> list[Record]:
    return [build_record({
        "kind": "note", "key": derive_key(path), "title": f"Table {PurePosixPath(path).name}",
        "tags": clean_tags("table"), "body": text,
        "fields": {"columns": columns, "rows": rows},
    }, path=path, anchor=None, context=context)]


def parse_delimited(path: str, data: bytes, context: ParseContext) -> list[Record]:
    """CSV / TSV: benchmark rows when the header names latency/throughput columns, else a note."""
    text = decode_text(data)
    delimiter = "\t" if path.lower().endswith(".tsv") or text.count("\t") > text.count(",") else ","
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        table = [r for r in reader if any(c.strip() for c in r)][: MAX_TABLE_ROWS + 1]
    except csv.Error as exc:
        raise ParseError(f"malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}") from None
    if not table:
        raise SkipFile("empty table")
    header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(table[0])]
    has_header = not any(to_number(h) is not None for h in header)
    if has_header and any(_METRIC_COLUMN.search(h) for h in header) and len(table) > 1:
        rows = [dict(zip(header, r, strict=False)) for r in table[1:]]
        return _rows_to_benchmarks(path, header, rows, context)
    return _table_note(path, text, context, header if has_header else [], len(table) - int(has_header))


def parse_json_table(path: str, data: bytes, context: ParseContext, loaded: Any) -> list[Record]:
    """A JSON list of row objects (or ``{"results": [...]}``) with metric columns → benchmarks."""
    rows = loaded.get("results") if isinstance(loaded, dict) else loaded
    if not (isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)):
        raise ParseError("not a table: expected a list of row objects")
    header: list[str] = []
    for row in rows[:MAX_TABLE_ROWS]:
        header.extend(str(k) for k in row if str(k) not in header)
    if not any(_METRIC_COLUMN.search(h) for h in header):
        raise ParseError("no latency or throughput columns")
    return _rows_to_benchmarks(path, header, [{str(k): v for k, v in r.items()} for r in rows[:MAX_TABLE_ROWS]],
                               context)


def is_json_table(loaded: Any) -> bool:
    rows = loaded.get("results") if isinstance(loaded, dict) else loaded
    if not (isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)):
        return False
    return any(_METRIC_COLUMN.search(str(k)) for r in rows[:50] for k in r)


def parse_turnkey(path: str, data: bytes, context: ParseContext) -> list[Record]:
    """TurnkeyML build stats: what was exported/benchmarked, where, and whether it succeeded."""
    text = decode_text(data)
    try:
        stats = yamlsafe.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParseError(f"malformed YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ParseError("malformed YAML: nesting too deep") from None
    if not isinstance(stats, dict) or "model_name" not in stats:
        raise ParseError("not a turnkey_stats.yaml: no model_name")
    model = str(stats["model_name"])
    builds = as_dict(stats.get("builds"))
    build_name, build = next(((str(k), v) for k, v in builds.items() if isinstance(v, dict)), ("", {}))
    system = as_dict(stats.get("system_info"))
    info = as_dict(stats.get("onnx_model_information"))
    status = build.get("benchmark_status")
    stages = as_dict(build.get("completed_build_stages"))
    fields = {
        "hardware": system.get("Processor"),
        "scenario": "build",
        "batch_size": next((d[0] for d in (stats.get("onnx_input_dimensions") or {}).values()
                            if isinstance(d, list) and d and isinstance(d[0], int)), None)
        if isinstance(stats.get("onnx_input_dimensions"), dict) else None,
        "valid": status == "successful" if status else None,
        "benchmark_status": status,
        "runtime": build.get("runtime"),
        "device_type": build.get("device_type"),
        "iterations": build.get("iterations"),
        "build": build_name or None,
        "build_stage_seconds": {str(k): v for k, v in stages.items() if isinstance(v, int | float)} or None,
        "opset": info.get("opset"),
        "onnx_size_kib": info.get("size on disk (KiB)"),
        "parameters": stats.get("parameters"),
        "author": stats.get("author"),
        "task": stats.get("task"),
        "model_class": stats.get("class"),
        "os": system.get("OS Version"),
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    body = (f"TurnkeyML {build_name or 'build'} of {model} ({stats.get('author', '?')}): ONNX opset "
            f"{info.get('opset', '?')}, {stats.get('parameters', '?')} parameters, runtime {build.get('runtime', '?')} "
            f"on {system.get('Processor', '?')}; benchmark status {status or 'unknown'}.")
    return [build_record({
        "kind": "benchmark", "key": derive_key(path), "model": model,
        "title": f"TurnkeyML {model} ONNX export on {build.get('device_type', '?')} ({status or 'unknown'})",
        "tags": clean_tags("turnkeyml", "onnx", build.get("runtime"), stats.get("task")),
        "body": body, "fields": fields,
    }, path=path, anchor=None, context=context)]


def load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ParseError("malformed JSON: nesting too deep") from None
