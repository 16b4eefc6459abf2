"""Reading Elephant record files: YAML or JSON (one record or ``records: [...]``) and Markdown with
YAML front matter (the Markdown is the body)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from elephant.errors import FieldProblem, InvalidRecord
from elephant.records.yamlsafe import AliasBudgetExceeded, NodePath, line_map, safe_load_with_node

MAX_RECORD_FILE_BYTES = 8 * 1024 * 1024
RECORD_SUFFIXES = {".yaml", ".yml", ".json", ".md", ".markdown"}


@dataclass(frozen=True)
class RecordFileError:
    file: str
    message: str

    def describe(self) -> str:
        return f"{self.file}: {self.message}"


class LocatedRecord(dict[str, Any]):
    """A raw record read from a YAML text, knowing the line where each of its paths starts, so that a
    validation error can say ``file:line`` (``lines[()]`` is the record's first line)."""

    lines: dict[NodePath, int]

    @classmethod
    def of(cls, data: dict[str, Any], lines: dict[NodePath, int], prefix: NodePath) -> LocatedRecord:
        located = cls(data)
        depth = len(prefix)
        located.lines = {path[depth:]: line for path, line in lines.items() if path[:depth] == prefix}
        return located


def _locate(items: list[Any], lines: dict[NodePath, int], prefix: NodePath) -> list[Any]:
    return [LocatedRecord.of(item, lines, (*prefix, i)) if isinstance(item, dict) else item
            for i, item in enumerate(items)]


def _problem(file: str, message: str) -> InvalidRecord:
    return InvalidRecord(FieldProblem(field="", file=file, message=message))


def split_front_matter(text: str) -> tuple[str, str] | None:
    """``(yaml_text, body)`` when the text opens with a ``---`` front matter block, else None."""
    stripped = text.lstrip("\ufeff")
    if not stripped.startswith("---"):
        return None
    lines = stripped.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() in {"---", "..."}:
            return "".join(lines[1:i]), "".join(lines[i + 1:]).lstrip("\n")
    return None


def parse_record_text(text: str, *, name: str) -> list[dict[str, Any]]:
    """Raw envelopes (not yet validated) from a record file's text; ``name`` decides the format. Records
    read from YAML (front matter included) are ``LocatedRecord``s: they know their lines."""
    suffix = Path(name).suffix.lower()
    lines: dict[NodePath, int] = {}
    if suffix in {".md", ".markdown"}:
        parts = split_front_matter(text)
        if parts is None:
            raise _problem(name, "a Markdown record file needs a YAML front matter block (--- ... ---)")
        data, lines = _load_yaml(parts[0], name, first_line=2)  # line 1 is the opening ---
        if not isinstance(data, dict):
            raise _problem(name, "the front matter must be a mapping (kind, key, title, ...)")
        if parts[1].strip() and not data.get("body"):
            data["body"] = parts[1]
        return [LocatedRecord.of(data, lines, ())]
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _problem(name, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise _problem(name, "refused JSON: nested too deeply") from None
    else:
        data, lines = _load_yaml(text, name)
    if isinstance(data, dict) and "records" in data and "kind" not in data:
        items = data["records"]
        if not isinstance(items, list):
            raise _problem(name, "'records' must be a list of records")
        return _locate(items, lines, ("records",)) if lines else items
    if isinstance(data, list):
        return _locate(data, lines, ()) if lines else data
    if data is None:
        raise _problem(name, "the file is empty")
    return [LocatedRecord.of(data, lines, ()) if lines and isinstance(data, dict) else data]


def _load_yaml(text: str, name: str, *, first_line: int = 1) -> tuple[Any, dict[NodePath, int]]:
    """The document and the line of each of its paths."""
    try:
        data, node = safe_load_with_node(text)
        return data, line_map(node, first_line=first_line)
    except AliasBudgetExceeded as exc:
        raise _problem(name, f"refused YAML: {exc}") from None
    except RecursionError:
        raise _problem(name, "refused YAML: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + first_line}, column {mark.column + 1}" if mark else ""
        raise _problem(name, f"malformed YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise _problem(name, f"malformed YAML: {exc}") from None


def read_record_file(path: Path, *, display: str | None = None) -> list[dict[str, Any]]:
    """Raw envelopes from a record file on disk, with clear errors for missing, binary or huge files."""
    name = display or str(path)
    if not path.exists():
        raise _problem(name, "no such file")
    if path.is_dir():
        raise _problem(name, "is a directory (use `elephant ingest` for folders)")
    size = path.stat().st_size
    if size > MAX_RECORD_FILE_BYTES:
        raise _problem(name, f"file is {size} bytes; record files are limited to {MAX_RECORD_FILE_BYTES}")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise _problem(name, "binary file, not a record file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _problem(name, f"not valid UTF-8 (byte {exc.start})") from None
    if path.suffix.lower() not in RECORD_SUFFIXES:
        raise _problem(name, f"unsupported record file type {path.suffix or '(none)'}; use .yaml, .json or .md")
    return parse_record_text(text, name=name)
