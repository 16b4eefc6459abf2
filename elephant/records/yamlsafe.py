"""YAML loading with a budget on alias expansion ("billion laughs", issue 20 row 5).

PyYAML's safe loader shares an aliased node rather than copying it, so six levels of nine aliases
each load quickly into a few objects, but everything that walks the result afterwards (validation,
hashing, JSON) sees 9**6 values: a 400-byte file cost 36 s and 1.8 GB. The composed node graph is
measured *before* it is constructed: a node's expanded size is computed once per node (memoised),
so the check is linear in the file, and a document expanding past ``MAX_EXPANDED_NODES`` is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_EXPANDED_NODES = 200_000


class AliasBudgetExceeded(yaml.YAMLError):
    """A document whose aliases expand past the budget, or refer to themselves."""


def _expanded_size(root: Node, budget: int) -> int:
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # Iterative post-order walk: deep documents must not hit Python's recursion limit.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        ident = id(node)
        if children_done:
            open_nodes.discard(ident)
            total = 1
            for child in _children(node):
                total += sizes[id(child)]
                if total > budget:
                    raise AliasBudgetExceeded(
                        f"the document's aliases expand to more than {budget} values (an alias bomb?)")
            sizes[ident] = total
            continue
        if ident in sizes:
            continue
        if ident in open_nodes:
            raise AliasBudgetExceeded("an alias refers to a node that contains it (a recursive document)")
        open_nodes.add(ident)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents whose aliases expand past ``MAX_EXPANDED_NODES``."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _expanded_size(node, MAX_EXPANDED_NODES)
        return node


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with the alias budget."""
    return yaml.load(text, Loader=BoundedSafeLoader)


def safe_load_with_node(text: str) -> tuple[Any, Node | None]:
    """``safe_load`` that also returns the composed node tree, whose marks give each value's line."""
    loader = BoundedSafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


NodePath = tuple[str | int, ...]


def line_map(root: Node | None, *, first_line: int = 1, limit: int = MAX_EXPANDED_NODES) -> dict[NodePath, int]:
    """The line (1-based, counted from ``first_line``) where each path of a document starts: a mapping entry
    at its key, a list item at the item. Walked without recursion; at most ``limit`` paths (aliases repeat)."""
    lines: dict[NodePath, int] = {}
    if root is None:
        return lines
    stack: list[tuple[Node, NodePath]] = [(root, ())]
    while stack and len(lines) < limit:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + first_line)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                label = key.value if isinstance(key.value, str) else str(key.value)
                lines[(*path, label)] = key.start_mark.line + first_line
                stack.append((value, (*path, label)))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, (*path, index)))
    return lines


def safe_load_all(text: str) -> Iterator[Any]:
    """``yaml.safe_load_all`` with the alias budget (per document)."""
    return yaml.load_all(text, Loader=BoundedSafeLoader)
