"""Anything else readable as text → one ``note`` (title from the first line, body the text)."""

from __future__ import annotations

from pathlib import PurePosixPath

from elephant.ingest.parsers.base import ParseContext, build_record, clean_tags, decode_text, derive_key
from elephant.records.envelope import Record

MAX_NOTE_CHARS = 200_000


def note_record(path: str, text: str, context: ParseContext, *, title: str | None = None,
                tags: tuple[str, ...] = (), fields: dict[str, object] | None = None) -> Record:
    name = PurePosixPath(path).name
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    heading = title or (f"{name}: {first[:100]}" if first and len(first) < 100 and first != name else name)
    suffix = PurePosixPath(path).suffix.lstrip(".").lower()
    return build_record({
        "kind": "note", "key": derive_key(path), "title": heading,
        "tags": clean_tags("file", suffix or None, *tags),
        "body": text[:MAX_NOTE_CHARS], "fields": {"format": suffix or "text", **(fields or {})},
    }, path=path, anchor=None, context=context)


def parse(path: str, data: bytes, context: ParseContext) -> list[Record]:
    return [note_record(path, decode_text(data).replace("\r\n", "\n"), context)]
