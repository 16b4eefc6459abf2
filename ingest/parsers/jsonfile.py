"""JSON files: Elephant record files, benchmark tables (rows with metric columns), else a note."""

from __future__ import annotations

import json

from elephant.ingest.parsers import recordfile, tables, text
from elephant.ingest.parsers.base import ParseContext, decode_text
from elephant.records.envelope import Record


def parse(path: str, data: bytes, context: ParseContext) -> list[Record]:
    content = decode_text(data)
    loaded = tables.load_json(content)
    if recordfile.looks_like_envelope(loaded) or (
            isinstance(loaded, list) and loaded and all(recordfile.looks_like_envelope(x) for x in loaded)):
        return recordfile.parse(path, data, context)
    if tables.is_json_table(loaded):
        return tables.parse_json_table(path, data, context, loaded)
    # Pretty-printed so that values are searchable words; the file's own layout is not meaningful.
    body = json.dumps(loaded, indent=1, ensure_ascii=False) if len(content) < 100_000 else content
    return [text.note_record(path, body, context, tags=("json",))]
