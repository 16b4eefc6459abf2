"""Bounds every record value must keep before it is written (issue 20).

A record is stored as JSON text and indexed by code that turns numbers into floats, strings into SQL
parameters and nested data into words, so what one database or one renderer cannot hold must be
refused at the door, naming the field, rather than accepted and left to fail later in the indexer
(where one bad record used to block every job behind it):

- integers within a signed 64-bit range, floats finite (JSON has no NaN or Infinity);
- strings without NUL (PostgreSQL text cannot hold it) and without lone surrogates (not encodable
  as UTF-8);
- nesting at most ``MAX_DEPTH`` containers deep and at most ``MAX_ITEMS`` values in one record,
  so validating, hashing and rendering stay linear and small.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from elephant.errors import FieldProblem, InvalidInput

MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_TAGS = 256
MAX_TAG_LENGTH = 200

# Unpaired UTF-16 surrogates, which JSON's \\ud800-style escapes can smuggle into a Python str.
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored (NUL or a lone surrogate), or None."""
    found = _BAD_CHARS.search(value)
    if found is None:
        return None
    char = found.group()
    offset = found.start()
    if char == "\x00":
        return f"contains a NUL character (at offset {offset}); text may not hold U+0000"
    return f"contains a lone surrogate U+{ord(char):04X} (at offset {offset}); text must be valid Unicode"


def value_problems(data: Any, *, file: str | None = None, key: str | None = None,
                   prefix: str = "") -> list[FieldProblem]:
    """Every bound ``data`` breaks, each naming its field path (``fields.latency_ms.p99``, ``tags[3]``)."""
    problems: list[FieldProblem] = []
    count = 0
    # An explicit stack instead of recursion: a document nested 10,000 deep must give a problem, not
    # a RecursionError.
    stack: list[tuple[Any, str, int]] = [(data, prefix, 0)]
    while stack:
        value, path, depth = stack.pop()
        count += 1
        if count > MAX_ITEMS:
            problems.append(FieldProblem(field=prefix, file=file, key=key,
                                         message=f"holds more than {MAX_ITEMS} values; split it into several records"))
            break
        message: str | None = None
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if not MIN_INT <= value <= MAX_INT:
                message = (f"integer {_digits(value)} is outside the signed 64-bit range "
                           f"[-2^63, 2^63-1]; store it as a string if it is an identifier")
        elif isinstance(value, float):
            if not math.isfinite(value):
                message = f"{value} is not a finite number (NaN and Infinity cannot be stored)"
        elif isinstance(value, str):
            message = text_problem(value)
        elif isinstance(value, Mapping | list | tuple):
            if depth >= MAX_DEPTH:
                message = f"nested more than {MAX_DEPTH} levels deep"
            elif isinstance(value, Mapping):
                items = list(value.items())
                for name, item in reversed(items):
                    name_text = str(name)
                    child = f"{path}.{name_text}" if path else name_text
                    bad_name = text_problem(name_text) if isinstance(name, str) else None
                    if bad_name:
                        problems.append(FieldProblem(field=child, file=file, key=key, message=f"name {bad_name}"))
                        continue
                    stack.append((item, child, depth + 1))
            else:
                for index in range(len(value) - 1, -1, -1):
                    stack.append((value[index], f"{path}[{index}]", depth + 1))
        if message:
            problems.append(FieldProblem(field=path, file=file, key=key, message=message))
    problems.sort(key=lambda p: p.field)
    return problems


def _digits(value: int) -> str:
    """A huge integer shortened for a message (a 400-digit number is not worth echoing)."""
    if abs(value) < 10**40:
        return str(value)
    # str() of an int past 4,300 digits raises in Python 3.11+; the bit length is always there.
    return f"of about {int(value.bit_length() * 0.30103) + 1} digits"


def check_texts(max_length: int | None = None, **values: Any) -> None:
    """Refuse parameters that no database can take, naming the parameter (``query``, ``key``, ...).

    Strings, and strings inside lists, are checked; None and other types pass through.
    """
    for name, value in values.items():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if not isinstance(item, str):
                continue
            problem = text_problem(item)
            if problem is None and max_length is not None and len(item) > max_length:
                problem = f"is {len(item)} characters; at most {max_length}"
            if problem:
                raise InvalidInput(name, problem)
