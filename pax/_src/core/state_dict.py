"""Saving a module's arrays to a nested dict and loading them back."""

import functools
from typing import Any, Dict, TypeVar

import jax
import numpy as np

from .layout import LAYOUT_KEY, plain_dict
from .module import Module, module_from_dict
from .node import ARRAY_TYPES, PaxNode, is_node

T = TypeVar("T", bound=Module)


def _leaf_to_state(x: Any) -> Any:
    if isinstance(x, Module):
        return module_to_state_dict(x)
    if isinstance(x, ARRAY_TYPES):
        return x
    if isinstance(x, PaxNode):  # a variable wrapper: save its value
        value = getattr(x, "value", None)
        return value if isinstance(value, ARRAY_TYPES) else None
    return None


def module_to_state_dict(module: Module) -> Dict[str, Any]:
    """Nested dict of array leaves: submodules become dicts, other values ``None``."""
    d = module.__dict__
    return {
        name: jax.tree_util.tree_map(_leaf_to_state, d[name], is_leaf=is_node)
        for name in d[LAYOUT_KEY].children
    }


def _load_leaf(path: str, current: Any, saved: Any) -> Any:
    if isinstance(current, Module):
        if not isinstance(saved, dict):
            raise ValueError(f"state_dict entry `{path}` should be a dict for a module.")
        return module_from_state_dict(current, saved, path)
    if isinstance(current, ARRAY_TYPES):
        if isinstance(saved, np.generic):  # e.g. np.float32(1.5) for a 0-d array leaf
            saved = np.asarray(saved)
        if not hasattr(saved, "shape") or tuple(saved.shape) != tuple(current.shape):
            raise ValueError(
                f"state_dict entry `{path}` has shape "
                f"{getattr(saved, 'shape', type(saved).__name__)}, the module expects "
                f"{tuple(current.shape)}."
            )
        return saved
    if isinstance(current, PaxNode) and saved is not None:
        # a variable wrapper holding one array: rebuild it around the saved value
        treedef: Any = jax.tree_util.tree_structure(current)  # PyTreeDef: no type stubs
        if treedef.num_leaves == 1:
            return jax.tree_util.tree_unflatten(treedef, [saved])
    return current


def module_from_state_dict(module: T, state: Dict[str, Any], prefix: str = "") -> T:
    """A copy of ``module`` with arrays from ``state`` (see ``Module.state_dict``)."""
    d = module.__dict__
    layout = d[LAYOUT_KEY]
    expected = set(layout.children)
    missing = expected - set(state)
    extra = set(state) - expected
    if missing or extra:
        raise ValueError(
            f"state_dict does not match {type(module).__qualname__} at "
            f"`{prefix or '<root>'}`: missing {sorted(missing)}, unexpected {sorted(extra)}."
        )
    new_d = plain_dict(module)
    for name in layout.children:
        path = f"{prefix}.{name}"
        current, saved = d[name], state[name]
        try:
            new_d[name] = jax.tree_util.tree_map(
                functools.partial(_load_leaf, path), current, saved, is_leaf=is_node
            )
        except (TypeError, ValueError) as err:
            if "state_dict" in str(err):
                raise
            raise ValueError(
                f"state_dict entry `{path}` does not match the module's structure: {err}"
            ) from None
    return module_from_dict(type(module), new_d)


def save_weights_to_dict(module: Module) -> Dict[str, Any]:
    """PAX 0.5's name for :meth:`pax.Module.state_dict`: a nested dict of the array
    leaves, in which submodules become dicts and other values ``None``.

    >>> import jax, pax
    >>> net = pax.Sequential(pax.Linear(1, 2), jax.nn.relu, pax.Linear(2, 3))
    >>> weights = pax.experimental.save_weights_to_dict(net)
    >>> jax.tree_util.tree_map(lambda x: x.shape, weights)
    {'modules': ({'bias': (2,), 'weight': (1, 2)}, {}, {'bias': (3,), 'weight': (2, 3)})}
    """
    return module_to_state_dict(module)


def load_weights_from_dict(module: T, state_dict: Dict[str, Any]) -> T:
    """PAX 0.5's name for :meth:`pax.Module.load_state_dict`: a copy of ``module``
    with the arrays of ``state_dict`` (as made by :func:`save_weights_to_dict`).

    >>> import jax, pax
    >>> a = pax.Sequential(pax.Linear(1, 2), jax.nn.relu, pax.Linear(2, 3))
    >>> b = pax.Sequential(pax.Linear(1, 2), jax.nn.relu, pax.Linear(2, 3))
    >>> b = pax.experimental.load_weights_from_dict(b, pax.experimental.save_weights_to_dict(a))
    >>> bool((a[0].weight == b[0].weight).all())
    True
    """
    return module_from_state_dict(module, state_dict)
