"""Trainable parameters: ``parameters_method`` and the functions built on it."""

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import jax

from .freezing import FROZEN_KEY, freeze_aware, is_frozen
from .layout import LAYOUT_KEY, Layout, is_data_leaf, plain_dict
from .module import Module, merge, module_from_dict, with_statics
from .node import EmptyNode, PaxNode, is_node
from .variable import is_trainable, is_variable

T = TypeVar("T", bound=Module)


def _select_leaf(x: Any, keep_arrays: bool, submodules: bool) -> Any:
    if isinstance(x, Module):
        return x.parameters() if submodules else all_empty(x)
    if isinstance(x, EmptyNode):
        return x
    if isinstance(x, PaxNode):  # a variable wrapper
        return x if is_trainable(x) else EmptyNode()
    if is_data_leaf(x):  # arrays, tracers, and jax.eval_shape's placeholders
        return x if keep_arrays else EmptyNode()
    return x  # a static value inside a mixed attribute


def select_fields(module: T, names: Iterable[str], all_fields: bool, submodules: bool) -> T:
    """The module with only the trainable leaves kept (others become ``EmptyNode``).

    The arrays of ``names`` (or of every attribute when ``all_fields``) are trainable;
    submodules contribute their own ``parameters()`` (when ``submodules``, and always
    when named, so a frozen submodule stays frozen) and only trainable variables
    (``TrainVar``) stay: a ``StateVar`` is never trainable, even in a named attribute.
    """
    d = module.__dict__
    if is_frozen(module):
        return all_empty(module)
    layout: Layout = d[LAYOUT_KEY]
    new_d = plain_dict(module)
    names = frozenset(names)
    for name in layout.children:
        value = d[name]
        named = name in names
        keep_arrays = all_fields or named
        keep_submodules = submodules or named
        if is_node(value):
            new_d[name] = _select_leaf(value, keep_arrays, keep_submodules)
        elif is_data_leaf(value):
            new_d[name] = value if keep_arrays else EmptyNode()
        else:
            new_d[name] = jax.tree_util.tree_map(
                functools.partial(
                    _select_leaf, keep_arrays=keep_arrays, submodules=keep_submodules
                ),
                value,
                is_leaf=is_node,
            )
    return module_from_dict(type(module), new_d)


def all_empty(module: T) -> T:
    """The module with every leaf replaced by ``EmptyNode`` (nothing trainable)."""
    return jax.tree_util.tree_map(lambda _: EmptyNode(), module, is_leaf=is_variable)


def parameters_method(*trainable_attributes: str, submodules: bool = True) -> Callable:
    """Return a ``parameters`` method in which the named attributes are trainable.

    >>> import jax.numpy as jnp, pax
    >>> class Linear(pax.Module):
    ...     parameters = pax.parameters_method("weight")
    ...     def __init__(self):
    ...         self.weight = jnp.array(1.0)
    >>> fc = Linear()
    >>> fc == fc.parameters()
    True

    Args:
      *trainable_attributes: names of trainable attributes (a string may hold
        several names separated by spaces).
      submodules: include the parameters of submodules.

    Returns:
      A method returning a copy of the module with only the trainable leaves;
      the others are ``pax.EmptyNode``.
    """
    names = []
    for entry in trainable_attributes:
        if not isinstance(entry, str):
            raise TypeError(f"parameters_method takes attribute names (str), got {entry!r}.")
        names.extend(entry.split())
    names_set = frozenset(names)

    def parameters(self):
        missing = [n for n in names if n not in self.__dict__]
        if missing:
            raise ValueError(
                f"{type(self).__qualname__}.parameters names attribute(s) {missing} "
                f"that the module does not have. Set them in `__init__` (use `None` "
                f"for an optional weight)."
            )
        return select_fields(self, names_set, all_fields=False, submodules=submodules)

    parameters.__doc__ = f"Trainable parameters: {', '.join(names) or 'none of its own'}."
    return freeze_aware(parameters)


class ParameterModule(Module):
    """A module whose own array attributes are all trainable.

    >>> import jax.numpy as jnp, pax
    >>> class Scale(pax.ParameterModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.s = jnp.ones(())
    >>> m = Scale()
    >>> m.parameters() == m
    True
    """

    def parameters(self):
        return select_fields(self, (), all_fields=True, submodules=True)


class StateModule(Module):
    """A module whose own array attributes are all non-trainable state.

    >>> import jax, jax.numpy as jnp, pax
    >>> class Counter(pax.StateModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.count = jnp.zeros(())
    >>> jax.tree_util.tree_leaves(Counter().parameters())
    []
    """

    parameters = parameters_method()


def select_parameters(module: T) -> T:
    """``module.parameters()``: a copy whose non-trainable leaves are ``None``.

    >>> import jax, pax
    >>> bn = pax.BatchNorm1D(3)
    >>> count = lambda tree: len(jax.tree_util.tree_leaves(tree))
    >>> count(bn), count(pax.select_parameters(bn))
    (6, 2)
    """
    return module.parameters()


def update_parameters(module: T, *, params: T) -> T:
    """A copy of ``module`` whose trainable leaves come from ``params``.

    >>> import jax, pax
    >>> fc = pax.Linear(2, 2)
    >>> zeros = jax.tree_util.tree_map(lambda p: p * 0, fc.parameters())
    >>> pax.update_parameters(fc, params=zeros).weight.sum().item()
    0.0
    """
    return module.update_parameters(params)


def freeze_parameters(module: T) -> T:
    """A copy in which nothing is trainable (all parameters become state).

    >>> import pax
    >>> net = pax.freeze_parameters(pax.Linear(2, 2))
    >>> jax.tree_util.tree_leaves(net.parameters())
    []
    """

    def freeze(m: Module) -> Module:
        return with_statics(m, {FROZEN_KEY: True})

    return module.apply(freeze)


def unfreeze_parameters(module: T, *, origin: T) -> T:
    """Undo :func:`freeze_parameters`: the leaves of ``module`` in the structure of
    ``origin`` (the module before freezing).

    >>> import jax, pax
    >>> net = pax.Linear(2, 2)
    >>> frozen = pax.freeze_parameters(net)
    >>> again = pax.unfreeze_parameters(frozen, origin=net)
    >>> len(jax.tree_util.tree_leaves(again.parameters()))
    2
    """
    leaves = jax.tree_util.tree_leaves(module)
    treedef: Any = jax.tree_util.tree_structure(origin)  # PyTreeDef: no type stubs
    if treedef.num_leaves != len(leaves):
        raise ValueError(
            f"unfreeze_parameters: `origin` has {treedef.num_leaves} leaves but the "
            f"module has {len(leaves)}; pass the module as it was before freezing."
        )
    return jax.tree_util.tree_unflatten(treedef, leaves)


def enable_train_mode(module: T) -> T:
    """``module.train()``: a copy of ``module`` in training mode.

    >>> import pax
    >>> pax.enable_train_mode(pax.Dropout(0.5).eval()).training
    True
    """
    return module.train()


def enable_eval_mode(module: T) -> T:
    """``module.eval()``: a copy of ``module`` in evaluation mode (e.g. no dropout).

    >>> import jax.numpy as jnp, pax
    >>> drop = pax.enable_eval_mode(pax.Dropout(0.5))
    >>> drop.training, drop(jnp.ones(3)).tolist()
    (False, [1.0, 1.0, 1.0])
    """
    return module.eval()


__all__ = [
    "ParameterModule",
    "StateModule",
    "all_empty",
    "enable_eval_mode",
    "enable_train_mode",
    "freeze_parameters",
    "merge",
    "parameters_method",
    "select_fields",
    "select_parameters",
    "unfreeze_parameters",
    "update_parameters",
]
