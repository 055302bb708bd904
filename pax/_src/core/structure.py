"""Readable comparison of pytree structures."""

import difflib
from typing import Any, cast

import jax

from .errors import StructureMismatchError
from .layout import LAYOUT_KEY
from .module import Module
from .node import StaticLeaf


def _children(node: Any) -> list[tuple[str, Any]] | None:
    """``(key string, child)`` for the node's direct children; ``None`` for a leaf."""
    flat, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if len(flat) == 1 and flat[0][0] == () and flat[0][1] is node:
        return None
    return [(jax.tree_util.keystr(key_path), child) for key_path, child in flat]


def tree_nodes(tree: Any, root: str = "") -> list[tuple[str, Any, bool]]:
    """Every node of ``tree`` in pre-order as ``(path, node, is_leaf)``: the one walk
    behind ``pax.assert_structure_equal``, checkpoint structures and ``pax.Stack``'s
    block comparison. Paths are ``jax.tree_util.keystr`` paths after ``root``.

    >>> import jax.numpy as jnp
    >>> [(path, leaf) for path, _, leaf in tree_nodes({"a": [jnp.ones(2)], "b": None})]
    [('', False), ("['a']", False), ("['a'][0]", True), ("['b']", False)]
    """
    out: list[tuple[str, Any, bool]] = []
    stack: list[tuple[str, Any]] = [(root, tree)]
    while stack:
        path, node = stack.pop()
        children = _children(node)
        out.append((path, node, children is None))
        if children:
            stack.extend((path + key, child) for key, child in reversed(children))
    return out


def _label(node: Any, is_leaf: bool) -> str:
    if is_leaf:
        return "leaf"
    if isinstance(node, Module):
        statics = ", ".join(f"{n}={v!r}" for n, v in node.__dict__[LAYOUT_KEY].statics)
        return f"{type(node).__qualname__}({statics})"
    if isinstance(node, StaticLeaf):
        return f"static {node.value!r}"
    return type(node).__qualname__


def _describe(tree: Any) -> list[str]:
    return [f"{path or '<root>'}: {_label(node, leaf)}" for path, node, leaf in tree_nodes(tree)]


def structure_diff(a: Any, b: Any) -> str:
    """A unified diff of the two structures (leaves shown as `leaf`)."""
    la, lb = _describe(a), _describe(b)
    diff = "\n".join(difflib.unified_diff(la, lb, "first", "second", lineterm="", n=2))
    if diff:
        return diff
    # Same printout: a static value that compares unequal (e.g. no ``__eq__``).
    return (
        "(the two structures print the same, so a static value compares unequal; "
        "give it an `__eq__` or use the same object)\n"
        f"first:  {jax.tree_util.tree_structure(a)}\n"
        f"second: {jax.tree_util.tree_structure(b)}"
    )


def assert_structure_equal(tree_a: Any, tree_b: Any) -> bool:
    """Raise ``ValueError`` with a readable diff if the two pytrees differ in structure.

    >>> import pax
    >>> pax.assert_structure_equal(pax.Linear(2, 2), pax.Linear(2, 2))
    True
    """
    # cast: jaxlib's PyTreeDef has no type stubs
    if cast(Any, jax.tree_util.tree_structure(tree_a)) == jax.tree_util.tree_structure(tree_b):
        return True
    raise StructureMismatchError(
        "The two pytrees have different structures:\n" + structure_diff(tree_a, tree_b)
    )
