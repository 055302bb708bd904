"""Marker types shared by everything that is a pax pytree node.

``PaxNode`` is the common base of :class:`pax.Module`, :class:`pax.EmptyNode` and
the Objax-style variables. An attribute of a module that holds a ``PaxNode`` or an
array (or a container of them) is a pytree child of that module.
"""

from typing import Any

import jax
import numpy as np


class PaxNode:
    """Base class of every pax pytree node type (modules, variables, EmptyNode)."""

    __slots__ = ()


def blank_instance(cls: type["PaxNode"]) -> Any:
    """A new, uninitialized instance of ``cls`` (``__init__`` is not run).

    Works for subclasses that also derive from a builtin such as ``list``."""
    return super(PaxNode, cls).__new__(cls)


ARRAY_TYPES = (jax.Array, np.ndarray)
NODE_TYPES = (jax.Array, np.ndarray, PaxNode)


def is_node(x: Any) -> bool:
    """True for arrays and pax nodes: the leaves a module attribute is made of."""
    return isinstance(x, NODE_TYPES)


class EmptyNode(PaxNode):
    """A placeholder for a leaf that is not selected (for example a non-trainable
    weight in ``module.parameters()``). It is a pytree node without children.

    >>> import jax, pax
    >>> jax.tree_util.tree_leaves([pax.EmptyNode(), 1.0])
    [1.0]
    >>> pax.EmptyNode() == pax.EmptyNode()
    True
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "EmptyNode"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EmptyNode)

    def __hash__(self) -> int:
        return hash(EmptyNode)


def _flatten_empty(node: EmptyNode):
    return (), None


def _unflatten_empty(aux: None, children: Any) -> EmptyNode:
    return EmptyNode()


jax.tree_util.register_pytree_node(EmptyNode, _flatten_empty, _unflatten_empty)


def is_empty(x: Any) -> bool:
    """True for :class:`EmptyNode`."""
    return isinstance(x, EmptyNode)


class StaticLeaf(PaxNode):
    """Holds a non-array value inside a module attribute that mixes arrays and
    other values (for example ``[pax.Linear(2, 2), jax.nn.relu]``): the value moves
    into the tree structure, so the leaves stay arrays."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return f"StaticLeaf({self.value!r})"


def _flatten_static_leaf(node: StaticLeaf):
    return (), _HashableValue(node.value)


def _unflatten_static_leaf(aux: "_HashableValue", children: Any) -> StaticLeaf:
    return StaticLeaf(aux.value)


class _HashableValue:
    """Wraps a value for use as pytree aux data: equal by ``==``, hashed when it can
    be and by type otherwise (unhashable values such as lists still compare)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _HashableValue):
            return NotImplemented
        return static_equal(self.value, other.value)

    def __hash__(self) -> int:
        return static_hash(self.value)


jax.tree_util.register_pytree_node(StaticLeaf, _flatten_static_leaf, _unflatten_static_leaf)


def static_hash(value: Any) -> int:
    """Hash of a static value; unhashable values hash by their type."""
    try:
        return hash(value)
    except TypeError:
        return hash(type(value))


def static_equal(a: Any, b: Any) -> bool:
    """``a == b`` for static values, robust to objects whose ``==`` is not a bool."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an odd __eq__ means "not equal" here
        return False
