"""Records rendered to text: chunks for the embedder and one document for the lexical index.

The important fields are spelled out as words and numbers ("p99 45 ms → 18 ms", "outcome: rolled
back") because neither the embedder nor the lexical index understands JSON structure, and the
questions people ask use those words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from elephant.kinds import kind_spec
from elephant.kinds.optimization import TECHNIQUE_WORDS
from elephant.kinds.units import index_number

# The embedder truncates at 256 word pieces (about 1,000 characters of English); longer chunks would
# lose their tail silently, so bodies are cut below that, on paragraph or sentence boundaries.
CHUNK_CHARS = 800
MAX_CHUNKS = 16


def words(value: Any) -> str:
    """An identifier-ish value as words: ``rolled_back`` → ``rolled back``."""
    return str(value).replace("_", " ")


def _pair(label: str, before: Any, after: Any, unit: str = "") -> str | None:
    if before is None and after is None:
        return None
    suffix = f" {unit}" if unit else ""
    if before is None:
        return f"{label} {index_number(after)}{suffix}"
    if after is None:
        return f"{label} {index_number(before)}{suffix} before"
    return f"{label} {index_number(before)}{suffix} → {index_number(after)}{suffix}"


def _flat(value: Any, prefix: str = "") -> Iterable[str]:
    """Nested mappings as ``name value`` phrases, for the fields no kind-specific renderer covers."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flat(v, f"{prefix} {words(k)}".strip())
    elif isinstance(value, list):
        shown = ", ".join(index_number(v) if not isinstance(v, Mapping | list) else str(v) for v in value[:20])
        yield f"{prefix}: {shown}" if prefix else shown
    elif value is not None and value != "":
        yield f"{prefix} {index_number(value)}".strip() if isinstance(value, int | float) else f"{prefix}: {words(value)}"


def _measurements(baseline: Mapping[str, Any], result: Mapping[str, Any], metric: str | None) -> list[str]:
    out: list[str] = []
    for name, label, unit in (("latency_ms_p50", "p50", "ms"), ("latency_ms_p95", "p95", "ms"),
                              ("latency_ms_p99", "p99", "ms"), ("throughput_qps", "throughput", "qps")):
        phrase = _pair(label, baseline.get(name), result.get(name), unit)
        if phrase:
            out.append(phrase)
    before, after = baseline.get("accuracy"), result.get("accuracy")
    if isinstance(before, int | float) or isinstance(after, int | float):
        phrase = _pair(words(metric or "accuracy"), before, after)
        if phrase:
            out.append(phrase)
    elif isinstance(after, Mapping):
        for name, value in after.items():
            prior = before.get(name) if isinstance(before, Mapping) else None
            phrase = _pair(words(name), prior, value)
            if phrase:
                out.append(phrase)
    return out


_COVERED = {
    "optimization": {"technique", "baseline", "result", "accuracy_metric", "outcome", "reason"},
    "benchmark": {"hardware", "scenario", "batch_size", "concurrency", "latency_ms", "throughput_qps",
                  "accuracy", "error_rate", "valid"},
    "serving_config": {"runtime", "hardware", "replicas", "batching", "threads", "precision", "raw"},
    "deployment": {"strategy", "traffic_percent", "from_version", "to_version", "status", "metrics"},
}


def render_fields(kind: str, fields: Mapping[str, Any]) -> list[str]:
    """The kind-specific fields as short phrases of words and numbers."""
    out: list[str] = []
    if kind == "optimization":
        if fields.get("technique"):
            out.append(f"technique: {TECHNIQUE_WORDS.get(fields['technique'], words(fields['technique']))}")
        if fields.get("outcome"):
            out.append(f"outcome: {words(fields['outcome'])}")
        out += _measurements(fields.get("baseline") or {}, fields.get("result") or {}, fields.get("accuracy_metric"))
        if fields.get("reason"):
            out.append(f"reason: {fields['reason']}")
    elif kind == "benchmark":
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
    elif kind == "serving_config":
        for name in ("runtime", "hardware", "precision"):
            if fields.get(name):
                out.append(f"{name}: {words(fields[name])}")
        for name in ("replicas", "threads"):
            if fields.get(name) is not None:
                out.append(f"{name} {index_number(fields[name])}")
        batching = fields.get("batching") or {}
        if batching:
            out.append("dynamic batching " + ", ".join(f"{words(k)} {index_number(v)}" for k, v in batching.items()))
    elif kind == "deployment":
        if fields.get("strategy"):
            out.append(f"strategy: {words(fields['strategy'])}")
        if fields.get("traffic_percent") is not None:
            out.append(f"traffic {index_number(fields['traffic_percent'])} %")
        if fields.get("from_version") or fields.get("to_version"):
            out.append(f"from {fields.get('from_version', '?')} to {fields.get('to_version', '?')}")
        if fields.get("status"):
            out.append(f"status: {words(fields['status'])}")
        out += [p for p in _flat(fields.get("metrics") or {}, "metrics")]
    covered = _COVERED.get(kind, set())
    for name, value in fields.items():
        if name not in covered:
            out += list(_flat(value, words(name)))
    return out


def render_header(envelope: Mapping[str, Any]) -> str:
    """Title, kind, model and the important fields: the record's first (and often only) chunk."""
    kind = str(envelope.get("kind", ""))
    parts = [str(envelope.get("title", "")).rstrip(".") + "."]
    about = kind_spec(kind).words.label
    if envelope.get("model"):
        about += f" for {envelope['model']}"
        if envelope.get("model_version"):
            about += f" {envelope['model_version']}"
    if envelope.get("occurred_at"):
        about += f" on {str(envelope['occurred_at'])[:10]}"
    parts.append(about + ".")
    phrases = render_fields(kind, envelope.get("fields") or {})
    if phrases:
        parts.append("; ".join(phrases) + ".")
    if envelope.get("tags"):
        parts.append("tags: " + ", ".join(str(t) for t in envelope["tags"]) + ".")
    return " ".join(parts)


def split_body(body: str, size: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs packed into chunks of at most ``size`` characters; long paragraphs cut at sentences."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        while len(paragraph) > size:
            cut = paragraph.rfind(". ", 0, size)
            cut = cut + 1 if cut > size // 3 else paragraph.rfind(" ", 0, size)
            cut = cut if cut > 0 else size
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        pieces.append(paragraph)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= size:
            chunks[-1] += " " + piece
        else:
            chunks.append(piece)
    return chunks


def render_chunks(envelope: Mapping[str, Any]) -> list[str]:
    """Texts to embed for one record: the header, then body chunks prefixed with the title.

    A short body rides along in the header chunk, so most records are one vector; each further chunk
    repeats the title so it still says what it is about.
    """
    header = render_header(envelope)
    body = str(envelope.get("body") or "")
    raw = (envelope.get("fields") or {}).get("raw") if envelope.get("kind") == "serving_config" else None
    if raw:
        body = f"{body}\n\n{raw}" if body else str(raw)
    chunks = split_body(body) if body.strip() else []
    if chunks and len(header) + 1 + len(chunks[0]) <= CHUNK_CHARS:
        header = f"{header} {chunks.pop(0)}"
    title = str(envelope.get("title", ""))
    return [header, *[f"{title}: {c}" for c in chunks][:MAX_CHUNKS - 1]]


def render_lexical(envelope: Mapping[str, Any]) -> tuple[str, str]:
    """(title, text) for the lexical index: everything a person might type as an exact term."""
    key = str(envelope.get("key", ""))
    extras = [key, re.sub(r"[/_\-:.]+", " ", key), str(envelope.get("kind", "")),
              str(envelope.get("model") or ""), str(envelope.get("model_version") or "")]
    source = envelope.get("source") or {}
    if source.get("path"):
        extras.append(re.sub(r"[/_\-.]+", " ", str(source["path"])))
    text = "\n".join([render_header(envelope), " ".join(e for e in extras if e), str(envelope.get("body") or ""),
                      str((envelope.get("fields") or {}).get("raw") or "")])
    return str(envelope.get("title", "")), text
