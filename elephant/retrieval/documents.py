"""Records rendered to text: chunks for the embedder and one document for the lexical index.

The important fields are spelled out as words and numbers ("p99 45 ms → 18 ms", "outcome: rolled
back") because neither the embedder nor the lexical index understands JSON structure, and the
questions people ask use those words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from elephant.kinds import kind_spec
from elephant.kinds.phrases import index_flat, words
from elephant.kinds.render import index_phrases

# The embedder truncates at 256 word pieces (about 1,000 characters of English); longer chunks would
# lose their tail silently, so bodies are cut below that, on paragraph or sentence boundaries.
CHUNK_CHARS = 800
MAX_CHUNKS = 16


def render_fields(kind: str, fields: Mapping[str, Any]) -> list[str]:
    """The fields as short phrases of words and numbers: the kind's own phrases first, then every field its
    module does not cover, flattened (so nothing written is unsearchable)."""
    covered = kind_spec(kind).view.indexed_fields
    out = index_phrases(kind, fields)
    for name, value in fields.items():
        if name not in covered:
            out += list(index_flat(value, words(name)))
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
