"""Record kinds: one module per kind (``elephant/kinds/<kind>.py``), this registry, and the one number and
units formatter (``units.py``).

Everything that differs between kinds asks the registry; asking for a kind it does not hold raises
``UnknownKind``, so a new kind cannot be half-added and a renderer never guesses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from elephant.errors import UnknownKind
from elephant.kinds import (
    benchmark,
    deployment,
    feature_definition,
    incident,
    note,
    optimization,
    regression,
    rollback_procedure,
    serving_config,
)
from elephant.kinds.base import KindSpec

# The order people meet them in (docs/design.md §3); lists of kinds (errors, schemas) follow it.
_SPECS: tuple[KindSpec, ...] = (
    serving_config.SPEC,
    benchmark.SPEC,
    optimization.SPEC,
    feature_definition.SPEC,
    deployment.SPEC,
    incident.SPEC,
    rollback_procedure.SPEC,
    note.SPEC,
    regression.SPEC,  # written by Elephant itself when a benchmark is worse than its predecessor
)
_REGISTRY: dict[str, KindSpec] = {spec.name: spec for spec in _SPECS}

KINDS: tuple[str, ...] = tuple(_REGISTRY)
WRITABLE_KINDS: tuple[str, ...] = tuple(spec.name for spec in _SPECS if spec.writable)

if TYPE_CHECKING:
    KindName = str
    WritableKindName = str
else:
    # Literal types built from the registry: pydantic and FastAPI validate and document them as enums.
    KindName = Literal[KINDS]
    WritableKindName = Literal[WRITABLE_KINDS]


def kind_spec(name: str) -> KindSpec:
    """The spec of kind ``name``; ``UnknownKind`` for a kind the registry does not hold."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownKind(name, KINDS) from None


def all_kinds() -> tuple[KindSpec, ...]:
    """Every kind, in registry order."""
    return _SPECS


__all__ = ["KINDS", "WRITABLE_KINDS", "KindName", "KindSpec", "UnknownKind", "WritableKindName", "all_kinds",
           "kind_spec"]
