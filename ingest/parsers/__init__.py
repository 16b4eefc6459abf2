"""Parsers of real ML-serving artifacts, one module per format, and the choice of parser per file.

Every parser is ``parse(path, data, context) -> list[Record]`` raising ``ParseError`` / ``SkipFile``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from elephant.ingest.parsers import (
    jsonfile,
    kserve,
    markdown,
    mlperf,
    recordfile,
    tables,
    text,
    triton,
    yamlfile,
)
from elephant.ingest.parsers.base import ParseContext, ParseError, SkipFile, decode_text
from elephant.records import yamlsafe
from elephant.records.envelope import Record
from elephant.records.files import split_front_matter

Parser = Callable[[str, bytes, ParseContext], list[Record]]

__all__ = ["PARSERS", "ParseContext", "ParseError", "Parser", "SkipFile", "choose_parser"]


def parse_markdown_file(path: str, data: bytes, context: ParseContext) -> list[Record]:
    """Markdown: a record file when its front matter is an envelope, a model-zoo card, else a document."""
    content = decode_text(data)
    parts = split_front_matter(content)
    if parts is not None:
        import yaml

        try:
            meta = yamlsafe.safe_load(parts[0])
        except (yaml.YAMLError, RecursionError):
            meta = None
        if recordfile.looks_like_envelope(meta):
            return recordfile.parse(path, data, context)
    if tables.is_model_card(content):
        return tables.parse_model_card(path, data, context)
    return markdown.parse(path, data, context)


PARSERS: dict[str, Parser] = {
    "recordfile": recordfile.parse,
    "mlperf": mlperf.parse,
    "triton": triton.parse,
    "kserve": kserve.parse,
    "markdown": parse_markdown_file,
    "model_card": tables.parse_model_card,
    "delimited": tables.parse_delimited,
    "turnkey": tables.parse_turnkey,
    "yaml": yamlfile.parse,
    "json": jsonfile.parse,
    "text": text.parse,
}

_LICENSES = {"license", "license.md", "license.txt", "copying", "notice"}


def choose_parser(path: str) -> str:
    """The name of the parser for a root-relative path (content sniffing happens inside the parser)."""
    name = PurePosixPath(path).name
    lower = name.lower()
    suffix = PurePosixPath(lower).suffix
    if lower in _LICENSES:
        return "license"
    if mlperf.is_summary(path):
        return "mlperf"
    if "/measurements/" in f"/{path}" and name in mlperf.CM_CAPTURES:
        return "cm_capture"
    if suffix == ".pbtxt" or lower in ("config.pbtxt", "config.pb.txt"):
        return "triton"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix in (".csv", ".tsv"):
        return "delimited"
    return "text"


def parse_file(parser: str, path: str, data: bytes, context: ParseContext) -> list[Record]:
    """Run the named parser; the two pseudo-parsers only skip."""
    if parser == "license":
        raise SkipFile("license text: provenance, not a record")
    if parser == "cm_capture":
        raise SkipFile("MLPerf CM environment capture (cpu/os/pip info): not a result")
    try:
        return PARSERS[parser](path, data, context)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("input nested too deeply") from None
