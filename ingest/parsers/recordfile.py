"""Elephant record files: YAML/JSON envelopes (one or ``records: [...]``), Markdown with front matter."""

from __future__ import annotations

from typing import Any

from elephant.errors import InvalidRecord
from elephant.ingest.parsers.base import ParseContext, ParseError, build_record, decode_text
from elephant.kinds import KINDS
from elephant.records.envelope import Record
from elephant.records.files import parse_record_text


def looks_like_envelope(data: Any) -> bool:
    """A mapping with a known ``kind`` and a ``key`` (or ``records:`` holding such mappings)."""
    if isinstance(data, dict) and isinstance(data.get("records"), list) and "kind" not in data:
        return any(looks_like_envelope(item) for item in data["records"])
    return isinstance(data, dict) and data.get("kind") in KINDS and "key" in data and "title" in data


def parse(path: str, data: bytes, context: ParseContext) -> list[Record]:
    text = decode_text(data)
    try:
        items = parse_record_text(text, name=path)
    except InvalidRecord as exc:
        raise ParseError(exc.problems[0].message if exc.problems else exc.message) from None
    records: list[Record] = []
    errors: list[str] = []  # every bad record of the file in one report, not the first alone
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(f"record {index + 1} is a {type(item).__name__}, not a mapping")
            continue
        anchor = None if len(items) == 1 else f"record-{index + 1}"
        try:
            records.append(build_record(dict(item), path=path, anchor=anchor, context=context,
                                        lines=getattr(item, "lines", None)))
        except ParseError as exc:
            errors.append(str(exc))
    if errors:
        raise ParseError("; ".join(errors))
    if not records:
        raise ParseError("the file holds no records")
    return records
