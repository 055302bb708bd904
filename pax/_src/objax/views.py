"""Variable views: variables whose storage is an array held by a pax module.

A view reads ``owner.<attr>`` (or the leaf at key ``path`` inside it) and writes a new
value back into that attribute in place, through the core's one escape hatch
(:func:`pax._src.core.mutation.write_in_place`). Module attributes seen as variables
(``module_vars.py``) and the per-block variables of a ``pax.Stack``
(``stack_vars.py``) are views; the Objax transforms (``swapping.py``) watch the
owners of the views they swap.

>>> import jax.numpy as jnp, pax
>>> net = pax.Linear(2, 2)
>>> view = net.vars()["(Linear).bias"]
>>> is_view(view), read_attribute(net, "bias", ()) is net.bias
(True, True)
>>> write_attribute(net, "bias", (), jnp.ones((2,)))
>>> net.bias.tolist()
[1.0, 1.0]
"""

from typing import Any

import jax
from jax.tree_util import DictKey, GetAttrKey, SequenceKey

from ..core.mutation import write_in_place
from ..core.node import is_node

Path = tuple[Any, ...]


class AttributeView:
    """Storage of a view of ``_owner.<_attr>`` at ``_path`` (mixed into variable classes,
    whose ``__slots__`` hold these three fields)."""

    __slots__ = ()
    _owner: Any
    _attr: str
    _path: Path


def is_view(storage: Any) -> bool:
    """True for a variable that views an array attribute of a module."""
    return isinstance(storage, AttributeView)


def read_attribute(owner: Any, attr: str, path: Path) -> Any:
    """``owner.<attr>`` at ``path``; ``ValueError`` when the module no longer has it."""
    try:
        value = owner.__dict__[attr]
    except KeyError:
        raise ValueError(
            f"The variable view of `({type(owner).__name__}).{attr}` is stale: the "
            f"module no longer has that attribute. Call `vars()` again."
        ) from None
    return _get_path(value, path) if path else value


def write_attribute(owner: Any, attr: str, path: Path, new: Any) -> None:
    """Store ``new`` at ``path`` inside ``owner.<attr>``, in place."""
    if path:
        new = _replace_path(read_attribute(owner, attr, ()), path, new)
    write_in_place(owner, attr, new)


def _get_path(value: Any, path: Path) -> Any:
    for key in path:
        if isinstance(key, SequenceKey):
            value = value[key.idx]
        elif isinstance(key, DictKey):
            value = value[key.key]
        elif isinstance(key, GetAttrKey):
            value = getattr(value, key.name)
        else:
            return _find_path(value, path)
    return value


def _find_path(value: Any, path: Path) -> Any:
    for p, leaf in jax.tree_util.tree_flatten_with_path(value, is_leaf=is_node)[0]:
        if tuple(p) == path:
            return leaf
    raise ValueError(f"No leaf at {jax.tree_util.keystr(path)} in {type(value).__name__}.")


def _replace_path(value: Any, path: Path, new: Any) -> Any:
    pairs, treedef = jax.tree_util.tree_flatten_with_path(value, is_leaf=is_node)
    if not any(tuple(p) == path for p, _ in pairs):
        raise ValueError(
            f"Cannot assign the variable view: no leaf at {jax.tree_util.keystr(path)} "
            f"any more. Call `vars()` again."
        )
    leaves = [new if tuple(p) == path else x for p, x in pairs]
    return jax.tree_util.tree_unflatten(treedef, leaves)
