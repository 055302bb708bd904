"""A pytree's structure as a list that survives a process: node paths and type names.

A treedef cannot be stored (its static data holds functions and other Python
objects), and its text shows memory addresses. The description here lists every
node in pre-order as ``[path, type name]``, with leaves as ``[path, "*"]``; two trees
with the same description flatten to leaves with the same paths in the same order.
Static fields (hyper-parameters, activation functions, the training flag) are not
part of it: on load they come from ``like``.
"""

from typing import Any

from ..core.structure import tree_nodes

LEAF = "*"

Entry = tuple[str, str]


def describe(tree: Any) -> list[Entry]:
    """Every node of ``tree`` in pre-order as ``(path, type name)``, leaves as ``(path, "*")``.

    >>> import jax.numpy as jnp
    >>> describe({"a": [jnp.ones(2), None], "b": 1.0})
    [('', 'dict'), ("['a']", 'list'), ("['a'][0]", '*'), ("['a'][1]", 'NoneType'), ("['b']", '*')]
    """
    return [
        (path, LEAF if leaf else type(node).__qualname__) for path, node, leaf in tree_nodes(tree)
    ]


def first_difference(expected: list[Entry], found: list[Entry]) -> tuple[str, str, str] | None:
    """The first node where two descriptions differ, as ``(path, expected, found)``
    phrases for an error message; ``None`` when they are equal.

    >>> first_difference([("", "dict"), ("['a']", "*")], [("", "dict"), ("['b']", "*")])
    ("['a']", 'a leaf', 'nothing')
    """
    found_paths = {path for path, _ in found}
    expected_paths = {path for path, _ in expected}
    for i, (path, kind) in enumerate(expected):
        found_path, found_kind = found[i] if i < len(found) else (None, "")
        if (path, kind) == (found_path, found_kind):
            continue
        if path == found_path:
            return path, _show(kind), _show(found_kind)
        if path not in found_paths:
            return path, _show(kind), MISSING_IN_FILE
        if found_path is not None and found_path not in expected_paths:
            return found_path, MISSING_IN_LIKE, _show(found_kind)
        return path, f"{_show(kind)} at this position", f"`{found_path}` there"
    if len(found) > len(expected):
        path, kind = found[len(expected)]
        return path, MISSING_IN_LIKE, _show(kind)
    return None


MISSING_IN_FILE = MISSING_IN_LIKE = "nothing"


def _show(kind: str) -> str:
    return "a leaf" if kind == LEAF else f"a node of type {kind}"
