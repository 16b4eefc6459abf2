"""YAML files: Elephant record files, KServe resources, TurnkeyML stats, else a note.

Helm chart templates (``{{ .Values... }}``) are not YAML until rendered: skipped with the reason.
KServe runtimes keep ``{{.Name}}``-style placeholders inside quoted strings, which KServe itself fills
in at deploy time; those files parse as YAML and are ingested.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from elephant.ingest.parsers import kserve, recordfile, tables, text
from elephant.ingest.parsers.base import ParseContext, ParseError, SkipFile, decode_text, find_placeholder
from elephant.records.envelope import Record

_BRACE_PLACEHOLDER = re.compile(r"(?<=:\s)\{[A-Za-z_][A-Za-z0-9_]*\}(?=\S)")
_HELM_MARKERS = (".Values", ".Release", ".Chart", "{{-", "-}}", "{{ include", "{{ template")


def parse(path: str, data: bytes, context: ParseContext) -> list[Record]:
    content = decode_text(data)
    placeholder = find_placeholder(content)
    if placeholder and ("/templates/" in f"/{path}" or any(m in content for m in _HELM_MARKERS)):
        raise SkipFile(f"Helm template (placeholder {placeholder}): not valid YAML until rendered")
    try:
        docs = kserve.load_documents(content)
    except ParseError as exc:
        if placeholder:
            raise SkipFile(f"template placeholder {placeholder}: not valid YAML until rendered") from None
        # Samples such as ``image: {docker_username}/app`` are meant to be filled in by hand first.
        brace = _BRACE_PLACEHOLDER.search(content)
        if brace:
            raise SkipFile(f"template placeholder {brace.group(0)}: not valid YAML until filled in") from None
        raise exc
    if not docs:
        raise SkipFile("no YAML documents (only comments)")
    if len(docs) == 1 and recordfile.looks_like_envelope(docs[0]):
        return recordfile.parse(path, data, context)
    if any(kserve.is_kserve_document(d) for d in docs):
        return kserve.parse_documents(path, content, docs, context)
    if PurePosixPath(path).name == "turnkey_stats.yaml":
        return tables.parse_turnkey(path, data, context)
    kinds = sorted({str(d.get("kind")) for d in docs if isinstance(d, dict) and d.get("kind")})
    return [text.note_record(path, content.replace("\r\n", "\n"), context, tags=("yaml", *kinds),
                             fields={"yaml_kinds": kinds} if kinds else None)]
