"""A record's ``fields`` as table rows: dotted path, value, unit.

Units live in field names (docs/design.md §3: ``latency_ms``, ``throughput_qps``), so the unit of
``latency_ms.p99`` comes from its parent and that of ``baseline.latency_ms_p99`` from its own name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from elephant.kinds.units import format_number

# Unit words in field names ("latency_ms", "latency_ms_p99", "throughput_qps") and what they mean; a bare
# "_s" counts only at the end of a name.
_UNITS = {"seconds": "s", "percent": "%", "bytes": "bytes", "qps": "qps", "pct": "%", "ms": "ms", "us": "µs",
          "ns": "ns", "mb": "MB", "gb": "GB"}
_UNIT_WORD = re.compile(r"_(" + "|".join(_UNITS) + r")(?=_|$)")
_CITATION = re.compile(r"^[^\s@]{1,512}@\d{1,9}$")
_CITE_FIELDS = {"baseline", "candidate"}  # a regression finding's two benchmarks, as key@version
_KEY_FIELDS = {"rollback_key", "baseline_key", "candidate_key", "record_key"}


@dataclass(frozen=True)
class FieldRow:
    path: str
    value: Any
    unit: str = ""
    style: str = "text"  # text, number, pre (multi-line text), list, bool, empty, cite (key@version), key

    @property
    def shown(self) -> str:
        if self.style == "number":
            return format_number(self.value)
        if self.style == "bool":
            return "yes" if self.value else "no"
        if self.style == "empty":
            return "—"
        return str(self.value)


def unit_of(path: str) -> str:
    """The unit a dotted path's names carry, nearest name first: 'latency_ms.p99' → 'ms'."""
    for name in reversed(re.split(r"[.\[\]]+", path.lower())):
        found = _UNIT_WORD.findall(name)
        if found:
            return _UNITS[found[-1]]
        if name.endswith("_s"):
            return "s"
    return ""


def field_rows(fields: Any, prefix: str = "") -> list[FieldRow]:
    """Leaves of ``fields`` in their written order; lists of plain values stay one row."""
    rows: list[FieldRow] = []
    if isinstance(fields, dict):
        if not fields and prefix:
            rows.append(FieldRow(prefix, None, style="empty"))
        for name, value in fields.items():
            rows.extend(field_rows(value, f"{prefix}.{name}" if prefix else str(name)))
        return rows
    if isinstance(fields, list):
        if all(not isinstance(v, dict | list) for v in fields):
            rows.append(FieldRow(prefix, [str(v) for v in fields], unit_of(prefix), "list" if fields else "empty"))
        else:
            for i, value in enumerate(fields):
                rows.extend(field_rows(value, f"{prefix}[{i}]"))
        return rows
    leaf = prefix.rsplit(".", 1)[-1]
    if fields is None:
        rows.append(FieldRow(prefix, None, style="empty"))
    elif isinstance(fields, bool):
        rows.append(FieldRow(prefix, fields, style="bool"))
    elif isinstance(fields, int | float):
        rows.append(FieldRow(prefix, fields, unit_of(prefix), "number"))
    elif isinstance(fields, str) and "\n" in fields.strip():
        rows.append(FieldRow(prefix, fields, style="pre"))
    elif isinstance(fields, str) and _CITATION.match(fields) and ("/" in fields or leaf in _CITE_FIELDS):
        rows.append(FieldRow(prefix, fields, style="cite"))
    elif isinstance(fields, str) and leaf in _KEY_FIELDS:
        rows.append(FieldRow(prefix, fields, style="key"))
    else:
        rows.append(FieldRow(prefix, fields, unit_of(prefix)))
    return rows


def split_citation(value: str) -> tuple[str, int]:
    key, _, version = value.rpartition("@")
    return key, int(version)
