"""A small protobuf text-format reader producing plain dicts.

``google.protobuf.text_format`` needs the message schema (Triton's ``model_config.proto``), which only
``tritonclient`` ships, behind dependency pins this project cannot take (``ingest.parsers.triton`` says
which, and checks the field names itself); this reader accepts the same syntax (``name: value``, ``name { ... }``, ``name < ... >``,
``[a, b]`` lists, repeated fields, ``#`` comments, adjacent string concatenation) without a schema.
A field seen more than once, or written with ``[...]``, becomes a list.
"""

from __future__ import annotations

import re
from typing import Any

from elephant.ingest.parsers.base import ParseError

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?[fF]?(?![\w.]))
  | (?P<ident>[-+]?[A-Za-z_][\w.\-/]*)
  | (?P<punct>[{}\[\]:,;<>])
    """,
    re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_CLOSE = {"{": "}", "<": ">"}
MAX_DEPTH = 64


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    line = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ParseError(f"protobuf text: unexpected character {text[pos]!r} at line {line}")
        kind = m.lastgroup or ""
        value = m.group(0)
        if kind != "ws":
            out.append((kind, value, line))
        line += value.count("\n")
        pos = m.end()
    return out


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _scalar(kind: str, value: str) -> Any:
    if kind == "number":
        text = value.rstrip("fF")
        if re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        return float(text)
    if value in ("true", "True", "t"):
        return True
    if value in ("false", "False", "f"):
        return False
    return value  # enum names such as KIND_GPU stay text


class _Reader:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise ParseError("protobuf text: unexpected end of file")
        self.i += 1
        return tok

    def message(self, close: str | None, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise ParseError("protobuf text: nesting too deep")
        out: dict[str, Any] = {}
        seen_list: set[str] = set()
        while True:
            tok = self.peek()
            if tok is None:
                if close is not None:
                    raise ParseError(f"protobuf text: missing {close!r} before end of file")
                return out
            kind, value, line = tok
            if close is not None and value == close:
                self.i += 1
                return out
            if kind not in ("ident", "string") or value.startswith(("-", "+")):
                raise ParseError(f"protobuf text: expected a field name at line {line}, got {value!r}")
            self.i += 1
            name = value if kind == "ident" else _unquote(value)
            if name.startswith("[") or kind == "string":
                name = name.strip("[]")
            nxt = self.peek()
            had_colon = nxt is not None and nxt[1] == ":"
            if had_colon:
                self.i += 1
            values, is_list = self.field_value(depth, had_colon)
            if name in out or is_list or name in seen_list:
                current = out.get(name)
                merged = (current if isinstance(current, list) and name in seen_list
                          else ([] if name not in out else [current]))
                merged.extend(values)
                out[name] = merged
                seen_list.add(name)
            else:
                out[name] = values[0]
            sep = self.peek()
            if sep is not None and sep[1] in (",", ";"):
                self.i += 1

    def field_value(self, depth: int, had_colon: bool) -> tuple[list[Any], bool]:
        kind, value, line = self.take()
        if value in _CLOSE:
            return [self.message(_CLOSE[value], depth + 1)], False
        if value == "[":
            items: list[Any] = []
            while True:
                tok = self.peek()
                if tok is None:
                    raise ParseError("protobuf text: missing ']' before end of file")
                if tok[1] == "]":
                    self.i += 1
                    return items, True
                items.extend(self.field_value(depth, True)[0])
                sep = self.peek()
                if sep is not None and sep[1] == ",":
                    self.i += 1
        if not had_colon:
            raise ParseError(f"protobuf text: expected ':' or '{{' at line {line}, got {value!r}")
        if kind == "string":
            text = _unquote(value)
            while (nxt := self.peek()) is not None and nxt[0] == "string":
                text += _unquote(self.take()[1])
            return [text], False
        if kind in ("number", "ident"):
            return [_scalar(kind, value)], False
        raise ParseError(f"protobuf text: unexpected {value!r} at line {line}")


def parse_pbtxt(text: str) -> dict[str, Any]:
    """A dict from protobuf text format; ``ParseError`` with a line number on malformed input."""
    try:
        return _Reader(text).message(None, 0)
    except RecursionError:
        raise ParseError("protobuf text: nesting too deep") from None
