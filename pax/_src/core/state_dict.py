"""Saving a module's arrays to a nested dict and loading them back."""

from typing import Any, TypeVar

import jax
import numpy as np

from .errors import StateDictMismatchError
from .layout import LAYOUT_KEY, plain_dict
from .module import Module, module_from_dict
from .node import ARRAY_TYPES, EmptyNode, PaxNode, is_node

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


def module_to_state_dict(module: Module) -> dict[str, Any]:
    """Nested dict of array leaves: submodules become dicts, other values ``None``."""
    d = module.__dict__
    return {
        name: jax.tree_util.tree_map(_leaf_to_state, d[name], is_leaf=is_node)
        for name in d[LAYOUT_KEY].children
    }


def _load_leaf(path: str, current: Any, trainable: Any, saved: Any) -> Any:
    if isinstance(current, Module):
        if not isinstance(saved, dict):
            raise StateDictMismatchError(
                f"state_dict entry `{path}` should be a dict for a module."
            )
        return module_from_state_dict(current, saved, path)
    if isinstance(current, ARRAY_TYPES):
        if isinstance(saved, np.generic):  # e.g. np.float32(1.5) for a 0-d array leaf
            saved = np.asarray(saved)
        if not isinstance(saved, ARRAY_TYPES):
            raise StateDictMismatchError(
                f"state_dict entry `{path}` should be an array, got {type(saved).__name__}."
            )
        if tuple(saved.shape) != tuple(current.shape) and not isinstance(trainable, EmptyNode):
            raise StateDictMismatchError(
                f"state_dict entry `{path}` has shape {tuple(saved.shape)}, the module "
                f"expects {tuple(current.shape)} (a trainable parameter keeps its shape)."
            )
        return saved
    if isinstance(current, PaxNode) and saved is not None:
        # a variable wrapper holding one array: rebuild it around the saved value
        treedef: Any = jax.tree_util.tree_structure(current)  # PyTreeDef: no type stubs
        if treedef.num_leaves == 1:
            return jax.tree_util.tree_unflatten(treedef, [saved])
    return current


def _first_difference(current: Any, saved: Any, path: str) -> str | None:
    """Where the containers (lists, tuples, dicts) of ``saved`` first differ from the
    module's attribute ``current``, said in words; ``None`` where they agree (leaves and
    modules are checked when they are loaded)."""
    if isinstance(current, (list, tuple)) and not is_node(current):
        kind = type(current).__name__
        if not isinstance(saved, (list, tuple)) or isinstance(saved, list) != isinstance(
            current, list
        ):
            return f"`{path}` is a {kind} in the module, a {type(saved).__name__} in the state_dict"
        if len(saved) != len(current):
            return (
                f"`{path}` has {len(current)} entries in the module, {len(saved)} in the state_dict"
            )
        for i, (c, s) in enumerate(zip(current, saved)):
            found = _first_difference(c, s, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(current, dict):
        if not isinstance(saved, dict):
            return f"`{path}` is a dict in the module, a {type(saved).__name__} in the state_dict"
        if set(current) != set(saved):
            missing = sorted(map(repr, set(current) - set(saved)))
            extra = sorted(map(repr, set(saved) - set(current)))
            return f"`{path}` misses keys {missing} and has unexpected keys {extra}"
        for key in current:
            found = _first_difference(current[key], saved[key], f"{path}[{key!r}]")
            if found:
                return found
    return None


def module_from_state_dict(module: T, state: dict[str, Any], prefix: str = "") -> T:
    """A copy of ``module`` with arrays from ``state`` (see ``Module.state_dict``).

    A trainable parameter must keep its shape; a non-trainable array (a buffer, such as
    a statistic or a log whose shape depends on the data) takes the saved array's shape,
    as in PAX 0.5. The structure (attributes, list lengths, dict keys) must match: the
    error names the first path where it does not.
    """
    d = module.__dict__
    layout = d[LAYOUT_KEY]
    if not isinstance(state, dict):
        raise StateDictMismatchError(
            f"state_dict entry `{prefix or '<root>'}` should be a dict for "
            f"{type(module).__qualname__}, got {type(state).__name__}."
        )
    expected = set(layout.children)
    missing = expected - set(state)
    extra = set(state) - expected
    if missing or extra:
        raise StateDictMismatchError(
            f"state_dict does not match {type(module).__qualname__} at "
            f"`{prefix or '<root>'}`: missing {sorted(missing)}, unexpected {sorted(extra)}."
        )
    params = module.parameters()  # EmptyNode where a leaf is not trainable
    # a `parameters()` overridden to return something else: every leaf counts as trainable
    trainable = params.__dict__ if type(params) is type(module) else d
    new_d = plain_dict(module)
    for name in layout.children:
        path = f"{prefix}.{name}"
        current, saved = d[name], state[name]
        difference = _first_difference(current, saved, path)
        if difference:
            raise StateDictMismatchError(
                f"state_dict does not match the structure of the module: {difference}. "
                f"Load a state_dict saved from a module built the same way."
            )

        def load(key_path: Any, c: Any, t: Any, s: Any, path: str = path) -> Any:
            return _load_leaf(path + jax.tree_util.keystr(key_path), c, t, s)

        try:
            new_d[name] = jax.tree_util.tree_map_with_path(
                load, current, trainable[name], saved, is_leaf=is_node
            )
        except StateDictMismatchError:
            raise
        except (TypeError, ValueError) as err:
            raise StateDictMismatchError(
                f"state_dict entry `{path}` does not match the module's structure: {err}"
            ) from None
    return module_from_dict(type(module), new_d)


def save_weights_to_dict(module: Module) -> dict[str, Any]:
    """PAX 0.5's name for :meth:`pax.Module.state_dict`: a nested dict of the array
    leaves, in which submodules become dicts and other values ``None``.

    >>> import jax, pax
    >>> net = pax.Sequential(pax.Linear(1, 2), jax.nn.relu, pax.Linear(2, 3))
    >>> weights = pax.experimental.save_weights_to_dict(net)
    >>> jax.tree_util.tree_map(lambda x: x.shape, weights)
    {'modules': ({'bias': (2,), 'weight': (1, 2)}, {}, {'bias': (3,), 'weight': (2, 3)})}
    """
    return module_to_state_dict(module)


def load_weights_from_dict(module: T, state_dict: dict[str, Any]) -> T:
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
