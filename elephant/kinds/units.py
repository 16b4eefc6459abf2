"""Reading numbers out of record fields, where a value may be missing, a bool or text."""

from __future__ import annotations

from typing import Any


def as_number(value: Any) -> float | None:
    """The value as a float when it is an int or float (bools are not numbers here), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
