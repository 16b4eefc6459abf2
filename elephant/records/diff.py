"""Field-level differences between two versions of a record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from typing_extensions import TypedDict

ChangeKind = Literal["added", "removed", "changed"]
_MISSING = object()

# Functional form: "from" is a Python keyword. One changed path as JSON.
FieldChangeOut = TypedDict("FieldChangeOut", {"path": str, "change": ChangeKind, "from": Any, "to": Any})


@dataclass(frozen=True)
class FieldChange:
    path: str
    change: ChangeKind
    before: Any = None
    after: Any = None

    def to_dict(self) -> FieldChangeOut:
        return {"path": self.path, "change": self.change, "from": self.before, "to": self.after}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaves: ``fields.latency_ms.p99``, ``tags[1]``; empty containers are leaves."""
    out: dict[str, Any] = {}
    if not prefix and value in ({}, []):
        return out
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def diff_envelopes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """Changed leaf paths between two envelopes, in path order."""
    left, right = flatten(before), flatten(after)
    changes: list[FieldChange] = []
    for path in sorted(set(left) | set(right)):
        a, b = left.get(path, _MISSING), right.get(path, _MISSING)
        if a is _MISSING:
            changes.append(FieldChange(path, "added", None, b))
        elif b is _MISSING:
            changes.append(FieldChange(path, "removed", a, None))
        elif a != b or type(a) is not type(b):
            changes.append(FieldChange(path, "changed", a, b))
    return changes
