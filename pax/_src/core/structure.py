"""Readable comparison of pytree structures."""

import difflib
from typing import Any, List, cast

import jax

from .errors import StructureMismatchError
from .layout import LAYOUT_KEY
from .module import Module
from .node import EmptyNode


def _describe(tree: Any, path: str, lines: List[str]) -> None:
    if isinstance(tree, Module):
        d = tree.__dict__
        layout = d[LAYOUT_KEY]
        statics = ", ".join(f"{n}={v!r}" for n, v in layout.statics)
        lines.append(f"{path or '<root>'}: {type(tree).__qualname__}({statics})")
        for name in layout.children:
            _describe(d[name], f"{path}.{name}", lines)
        return
    if isinstance(tree, EmptyNode):
        lines.append(f"{path or '<root>'}: EmptyNode")
        return
    children = jax.tree_util.tree_flatten_with_path(
        tree, is_leaf=lambda x: x is not tree and isinstance(x, (Module, EmptyNode))
    )[0]
    if len(children) == 1 and children[0][0] == () and children[0][1] is tree:
        lines.append(f"{path or '<root>'}: leaf")
        return
    lines.append(f"{path or '<root>'}: {type(tree).__name__}")
    for key_path, value in children:
        _describe(value, path + jax.tree_util.keystr(key_path), lines)


def structure_diff(a: Any, b: Any) -> str:
    """A unified diff of the two structures (leaves shown as `leaf`)."""
    la: List[str] = []
    lb: List[str] = []
    _describe(a, "", la)
    _describe(b, "", lb)
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
