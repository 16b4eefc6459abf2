"""What every parser shares: the error types, the parse context, key derivation and record building.

A parser is a pure function ``parse(path, data, context) -> list[Record]`` that raises ``ParseError``
(the file is bad) or ``SkipFile`` (the file is fine but not ours to turn into records).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elephant.errors import ElephantError, InvalidRecord
from elephant.records.envelope import MAX_KEY_LENGTH, Record, validate_record

# The corpus's largest file is 35 KB; anything past this is a data dump, not an artifact to remember.
MAX_FILE_BYTES = 2 * 1024 * 1024


class ParseError(ElephantError):
    """A file could not be turned into records; ``reason`` says why (the path is added by the pipeline)."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class SkipFile(ParseError):
    """Not an error: the file is deliberately not ingested (binary, empty, template, license...)."""


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know besides the file itself.

    ``related`` holds the other files of a multi-file artifact (an MLPerf result joins several),
    by path relative to the root; ``root`` is the stable name written into ``source.root``.
    """

    root: str = ""
    related: Mapping[str, bytes] = field(default_factory=dict)
    known_paths: frozenset[str] = frozenset()


_UNSAFE = re.compile(r"[^A-Za-z0-9._\-/:+=,~()\[\]]+")


def slugify(text: str) -> str:
    """A key-safe fragment: runs of characters a key may not hold become '-'."""
    slug = _UNSAFE.sub("-", text.strip())
    slug = re.sub(r"/+", "/", slug).strip("/")
    return slug


def anchor_slug(text: str) -> str:
    """GitHub-style heading anchor: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_~\[\]()<>]", "", text.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return re.sub(r"\s", "-", text).strip("-") or "section"


def derive_key(path: str, anchor: str | None = None) -> str:
    """Key from a root-relative path (plus ``:anchor`` for one of several records of a file)."""
    # '.' and '..' segments are refused by the envelope (URL clients would normalise them away).
    key = "/".join(part for part in slugify(path).split("/") if part not in {".", ".."})
    key = re.sub(r"^[^A-Za-z0-9]+", "", key) or "file"
    if anchor:
        key = f"{key}:{re.sub(r'-{2,}', '-', slugify(anchor).replace('/', '-')).strip('-') or 'part'}"
    if len(key) > MAX_KEY_LENGTH:
        import hashlib

        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        key = key[: MAX_KEY_LENGTH - 13] + "~" + digest
    return key


def decode_text(data: bytes) -> str:
    """UTF-8 text of a file, or ``SkipFile`` for empty, binary or non-UTF-8 content."""
    if not data.strip():
        raise SkipFile("empty file")
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkipFile(f"not valid UTF-8 (byte {exc.start})") from None
    return text.lstrip("\ufeff")


_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\$\{[^}\n]*\}", re.S)


def find_placeholder(text: str) -> str | None:
    """The first template placeholder (``{{ }}`` or ``${}``) in the text, if any."""
    match = _PLACEHOLDER.search(text)
    if match is None:
        return None
    found = match.group(0)
    return found if len(found) <= 40 else found[:37] + "..."


def build_record(envelope: dict[str, Any], *, path: str, anchor: str | None, context: ParseContext,
                 lines: Mapping[tuple[str | int, ...], int] | None = None) -> Record:
    """Validate an envelope with ``source`` set; a validation failure becomes a ``ParseError``.

    ``lines``: where each path of the envelope is in the file, for record files (``path:line`` in errors).
    """
    envelope = {k: v for k, v in envelope.items() if v is not None}
    envelope["source"] = {"path": path, "anchor": anchor, "root": context.root or None}
    try:
        return validate_record(envelope, file=path, lines=lines)
    except InvalidRecord as exc:
        raise ParseError(exc.message) from None


def clean_tags(*tags: Any) -> list[str]:
    out: list[str] = []
    for tag in tags:
        if tag is None or tag == "":
            continue
        text = re.sub(r"\s+", "-", str(tag).strip().lower())
        if text and text not in out:
            out.append(text)
    return out


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one: parsed YAML/JSON can hold anything anywhere."""
    return value if isinstance(value, dict) else {}


def to_number(value: Any) -> float | None:
    """A float from a number or numeric text ('1,469.19', '12%'), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "").rstrip("%").strip()
        try:
            return float(text)
        except ValueError:
            return None
    return None


def first_heading(text: str) -> str | None:
    for line in text.splitlines():
        m = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
        if m:
            return strip_markdown(m.group(1))
    return None


def strip_markdown(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`]+", "", text)
    return text.strip()
