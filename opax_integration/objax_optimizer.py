"""``opax_integration.Optimizer``: an opax or optax optimizer in Objax-style training.

Objax trains with stateful modules: ``model.vars()`` collects the variables,
``pax.GradValues`` differentiates a loss with respect to them, an optimizer built from
the same ``vars()`` writes the new values back through ``TrainRef`` instances, and ``pax.Jit``
compiles the whole step, carrying every variable in and out. This module makes any
opax optimizer (``opax.adam(1e-3)``, ``opax.chain(...)``) or optax transformation
such as ``optax.adam(1e-3)`` such an optimizer. The opax optimizer's arrays (its
moments, step counts...) live in ``StateVar`` variables of the module, so they are among
``opt.vars()`` and survive ``pax.Jit`` calls.
"""

from collections.abc import Callable, Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp
import opax

import pax

from .optax_bridge import from_optax, looks_like_optax

MSG_BAD_TRANSFORMATION = (
    "opax_integration.Optimizer expects an opax optimizer factory such as "
    "`opax.adam(1e-3)` or `opax.chain(...)` (a function of the parameters), or an "
    "`optax.GradientTransformation` such as `optax.adam(1e-3)`; got {got}."
)

MSG_BUILT_OPAX = (
    "opax_integration.Optimizer got an opax optimizer already built from parameters "
    "({got}). Pass the factory instead, `opax_integration.Optimizer(opax.adam(1e-3), "
    "model.vars())`, not `opax.adam(1e-3)(params)`: the optimizer builds its state from "
    "the variables of `vc`."
)

MSG_BAD_VC = (
    "opax_integration.Optimizer expects the variables to train as a pax.VarCollection, "
    "e.g. `model.vars()`; got {got}."
)

MSG_NO_TRAINVAR = (
    "opax_integration.Optimizer: the VarCollection has no trainable variable "
    "(pax.TrainVar); pass the variables of the model to train, e.g. `model.vars()`."
)

MSG_OBJAX_ORDER = (
    "opax_integration.Optimizer is called as `opt(grads, lr=None)`; it looks like it got "
    "Objax's `opt(lr, grads)`. Write `opt(grads, lr=lr)` (the learning rate multiplies "
    "the updates: build the optimizer with learning_rate=1.0 to pass the whole learning "
    "rate at each call)."
)


def _as_factory(transformation: Any) -> Callable[[Any], Any]:
    if looks_like_optax(transformation):
        return from_optax(transformation)
    if isinstance(transformation, pax.Module):
        if isinstance(transformation, opax.GradientTransformation):
            raise TypeError(MSG_BUILT_OPAX.format(got=type(transformation).__name__))
        raise TypeError(MSG_BAD_TRANSFORMATION.format(got=f"a {type(transformation).__name__}"))
    if not callable(transformation):
        raise TypeError(MSG_BAD_TRANSFORMATION.format(got=f"a {type(transformation).__name__}"))
    return transformation


def _name_of(path: tuple[Any, ...]) -> str:
    return jax.tree_util.keystr(path).lstrip(".") or "state"


def _spec(x: Any) -> tuple[tuple[int, ...], Any]:
    return tuple(jnp.shape(x)), jnp.result_type(x)


class Optimizer(pax.Module):
    """An opax (or optax) optimizer for the trainable variables of a ``VarCollection``.

    It holds a ``TrainRef`` to each ``TrainVar`` of ``vc`` (``refs``) and the opax
    optimizer's arrays as ``StateVar`` variables (``state``, named by their path in the opax
    module). Calling it with the gradients, in the order of the ``TrainVar`` variables of ``vc``
    (the order of ``pax.GradValues(f, vc)``), updates the variables in place. Give
    ``model.vars() + opt.vars()`` to ``pax.Jit`` so that the step compiles and the
    optimizer state is carried from call to call.

    >>> import jax, jax.numpy as jnp, opax, pax
    >>> from opax_integration import Optimizer
    >>> model = pax.Linear(2, 1)
    >>> opt = Optimizer(opax.adam(1e-2), model.vars())
    >>> gv = pax.GradValues(lambda x, y: jnp.mean((model(x) - y) ** 2), model.vars())
    >>> @pax.Function.with_vars(model.vars() + opt.vars())
    ... def train_op(x, y):
    ...     grads, (loss,) = gv(x, y)
    ...     opt(grads)
    ...     return loss
    >>> train_op = pax.Jit(train_op)
    >>> losses = [float(train_op(jnp.ones((4, 2)), jnp.zeros((4, 1)))) for _ in range(3)]
    >>> losses[2] < losses[0], int(opt.transformation.transforms[0].count)
    (True, 3)

    Any ``optax.GradientTransformation`` works the same way, ``Optimizer(optax.adam(1e-2),
    model.vars())`` (bridged with :func:`opax_integration.from_optax`).

    Args:
      transformation: an opax optimizer factory (``opax.adam(1e-3)``, ``opax.sgd(...)``,
        ``opax.chain(...)``, ``from_optax(tx)``: a function of the parameters returning
        an opax ``GradientTransformation`` module) or an ``optax.GradientTransformation``.
      vc: the variables; their ``TrainVar`` variables are trained (each variable once, in
        ``vc``'s order), the others are ignored.
    """

    refs: list[pax.TrainRef]
    state: dict[str, pax.StateVar]

    def __init__(self, transformation: Any, vc: pax.VarCollection):
        super().__init__()
        factory = _as_factory(transformation)
        if not isinstance(vc, pax.VarCollection):
            raise TypeError(MSG_BAD_VC.format(got=f"a {type(vc).__name__}"))
        train_vc = vc.subset(is_a=pax.TrainVar)
        # each variable once, also under several names (VarCollection iterates variables)
        train_vars = cast(list[Any], list(train_vc))
        if not train_vars:
            raise ValueError(MSG_NO_TRAINVAR)
        first_names: dict[int, str] = {}
        for name, v in train_vc.items():
            first_names.setdefault(id(v), name)
        params = [v.value for v in train_vars]
        optimizer = factory(params)
        if not (isinstance(optimizer, pax.Module) and callable(optimizer)):
            raise TypeError(
                MSG_BAD_TRANSFORMATION.format(
                    got=f"a function returning a {type(optimizer).__name__}, not a module"
                )
            )
        pairs, treedef = jax.tree_util.tree_flatten_with_path(optimizer)
        names = tuple(_name_of(tuple(path)) for path, _ in pairs)
        self.refs = [pax.TrainRef(v) for v in train_vars]
        self._var_names = tuple(first_names[id(v)] for v in train_vars)
        self.state = {n: pax.StateVar(x) for n, (_, x) in zip(names, pairs)}
        self._names = names
        self._treedef = treedef
        self.vars()  # gives the variables their names, for error messages

    @property
    def transformation(self) -> Any:
        """The opax optimizer module with the current state (a new copy at each read),
        e.g. ``opt.transformation.transforms[0].count`` for ``opax.adam``."""
        leaves = [self.state[n].value for n in self._names]
        return jax.tree_util.tree_unflatten(self._treedef, leaves)

    def __call__(self, grads: Sequence[jax.Array], lr: Any | None = None) -> list[jax.Array]:
        """Apply the gradients: ``v <- v - lr * updates`` for each trained variable.

        Args:
          grads: one gradient per trained variable, in the order of ``refs`` (that of
            ``pax.GradValues(f, vc)`` for the same ``vc``).
          lr: an optional factor multiplying the updates (a float or a scalar array,
            traced under ``pax.Jit``). The learning rate of an opax or optax optimizer
            is part of the transformation; build it with ``learning_rate=1.0`` and
            pass ``lr`` at each call to choose the learning rate per step, as in Objax.

        Returns:
          The updates that were subtracted from the variables.

        On an error nothing is changed.
        """
        if isinstance(lr, (list, tuple)) and not isinstance(grads, (list, tuple)):
            raise TypeError(MSG_OBJAX_ORDER)
        grads = self._checked_grads(grads)
        params = [r.value for r in self.refs]
        optimizer, updates = pax.purecall(self.transformation, grads, params=params)
        new_leaves, treedef = jax.tree_util.tree_flatten(optimizer)
        treedef = cast(Any, treedef)  # PyTreeDef has no type stubs
        if treedef != self._treedef:
            raise ValueError(
                "opax_integration.Optimizer: the opax optimizer changed its structure "
                f"during the update ({type(optimizer).__name__}); its state cannot be "
                "stored back."
            )
        updates = list(updates)
        if len(updates) != len(params):
            raise ValueError(
                f"opax_integration.Optimizer: the transformation returned {len(updates)} "
                f"updates for {len(params)} variables."
            )
        if lr is not None:
            updates = [u * lr for u in updates]
        new_params = [(p - u).astype(jnp.result_type(p)) for p, u in zip(params, updates)]
        for name, new in zip(self._names, new_leaves):
            if _spec(new) != _spec(self.state[name].value):
                raise ValueError(
                    f"opax_integration.Optimizer: the state `{name}` of the opax "
                    f"optimizer changed from {_spec(self.state[name].value)} to "
                    f"{_spec(new)} (shape, dtype) during the update."
                )
        for p, new_p in zip(params, new_params):
            if jnp.shape(new_p) != jnp.shape(p):
                raise ValueError(
                    "opax_integration.Optimizer: an update has the shape "
                    f"{jnp.shape(new_p)} for a variable of shape {jnp.shape(p)}."
                )
        # every check passed: write the new state and the new values
        for name, new in zip(self._names, new_leaves):
            self.state[name].assign(new)
        for ref, new_p in zip(self.refs, new_params):
            ref.assign(new_p)
        return updates

    def _checked_grads(self, grads: Any) -> list[jax.Array]:
        if isinstance(grads, (jax.Array, float, int)) or not isinstance(grads, Sequence):
            raise TypeError(
                "opax_integration.Optimizer expects a list of gradients (one per trained "
                f"variable, as `pax.GradValues` returns), got {type(grads).__name__}."
            )
        grads = list(grads)
        if len(grads) != len(self.refs):
            raise ValueError(
                f"opax_integration.Optimizer trains {len(self.refs)} variables but got "
                f"{len(grads)} gradients. Pass the gradients of the same VarCollection "
                f"the optimizer was built from, `pax.GradValues(f, vc)` with "
                f"`Optimizer(..., vc)` (and no `input_argnums`, or drop those first)."
            )
        for i, (ref, name, g) in enumerate(zip(self.refs, self._var_names, grads)):
            if jnp.shape(g) != jnp.shape(ref.value):
                raise ValueError(
                    f"opax_integration.Optimizer: gradient {i} has the shape "
                    f"{tuple(jnp.shape(g))} but the variable it updates, "
                    f"`{name}`, has the shape {tuple(jnp.shape(ref.value))}."
                )
        return grads

    def __repr__(self) -> str:
        return (
            f"Optimizer({type(self.transformation).__name__}, {len(self.refs)} variables, "
            f"{len(self.state)} state arrays)"
        )
