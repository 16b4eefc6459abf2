"""The numeric leaves of a record's ``fields``, as search's side table ``head_numbers`` holds them."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any


def numeric_leaves(envelope: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(dotted path, value) of every finite number reached through objects only from ``fields``.

    The same values a strict SQL/JSON path admits for a numeric comparison: numbers inside arrays,
    booleans and strings are left out (``[1, 50] < 40`` admits nothing).
    """
    fields = envelope.get("fields")
    if not isinstance(fields, Mapping):
        return []
    return list(_walk(fields, "fields"))


def _walk(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, float]]:
    for name, value in node.items():
        if "." in str(name):
            continue  # a --where name splits on dots, so no condition can name this field
        path = f"{prefix}.{name}"
        if isinstance(value, Mapping):
            yield from _walk(value, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                continue  # an integer past float range: JSON comparisons would not admit it either
            if math.isfinite(number):
                yield path, number
