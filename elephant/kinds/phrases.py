"""Small phrase builders that kind modules share: outcome words, clipped free text, and the index texts'
pairs and flattened fields. Numbers go through ``elephant.kinds.units``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from elephant.kinds.units import format_number, index_number, metric_label

# A kind's outcome value in words, wherever it is shown.
OUTCOME_WORDS = {
    "adopted": "adopted", "rejected": "rejected", "rolled_back": "rolled back", "in_progress": "in progress",
    "succeeded": "succeeded", "failed": "failed", "verified": "parity verified", "drift": "parity drift",
    "unknown": "parity unknown", "open": "open", "resolved": "resolved",
}

# The colours of a timeline, in the words of optimization outcomes; other kinds map their states onto them.
OUTCOME_CLASSES = ("adopted", "rejected", "rolled_back", "in_progress", "none")

FREE_TEXT_CHARS = 160  # free text (reasons, symptoms) in a context fact is cut here


def text(value: Any) -> str:
    """A field as text; '' for None."""
    return "" if value is None else str(value)


def words(value: Any) -> str:
    """An identifier-ish value as words: ``rolled_back`` → ``rolled back``."""
    return str(value).replace("_", " ")


def clip(value: Any, limit: int = FREE_TEXT_CHARS) -> str:
    """Free text on one line, cut with an ellipsis past ``limit`` characters."""
    flat = " ".join(str(value).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def day(value: Any) -> str:
    """The date part of a timestamp field."""
    return str(value)[:10]


def accuracy_text(value: Any) -> str | None:
    """An accuracy figure or a mapping of them: 'NDCG@10 0.412, AUC 0.9'."""
    if isinstance(value, Mapping):
        return ", ".join(f"{metric_label(str(k))} {format_number(v)}" for k, v in value.items()) or None
    return format_number(value) if value is not None else None


# ---------------------------------------------------------------- index texts (plain numbers, see units.index_number)
def index_pair(label: str, before: Any, after: Any, unit: str = "") -> str | None:
    """'p99 45 ms → 18 ms' for the index texts."""
    if before is None and after is None:
        return None
    suffix = f" {unit}" if unit else ""
    if before is None:
        return f"{label} {index_number(after)}{suffix}"
    if after is None:
        return f"{label} {index_number(before)}{suffix} before"
    return f"{label} {index_number(before)}{suffix} → {index_number(after)}{suffix}"


def index_flat(value: Any, prefix: str = "") -> Iterable[str]:
    """Nested mappings as ``name value`` phrases, for the fields no kind-specific phrase covers."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from index_flat(v, f"{prefix} {words(k)}".strip())
    elif isinstance(value, list):
        shown = ", ".join(index_number(v) if not isinstance(v, Mapping | list) else str(v) for v in value[:20])
        yield f"{prefix}: {shown}" if prefix else shown
    elif value is not None and value != "":
        yield f"{prefix} {index_number(value)}".strip() if isinstance(value, int | float) else f"{prefix}: {words(value)}"
