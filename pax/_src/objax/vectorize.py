"""``pax.Vectorize``: ``jax.vmap`` for functions and modules that use variables."""

from collections.abc import Callable, Sequence
from typing import Any

import jax

from .function import VarsWrapper, check_callable, resolve_vc
from .swapping import changes_of, swapped, unique_storages, write_back
from .var_collection import VarCollection
from .variables import RandomState


def _batch_axes(batch_axis: int | None | Sequence[int | None]) -> tuple[int | None, ...]:
    axes = tuple(batch_axis) if isinstance(batch_axis, (tuple, list)) else (batch_axis,)
    for a in axes:
        if a is not None and (not isinstance(a, int) or isinstance(a, bool)):
            raise TypeError(f"pax.Vectorize: batch_axis entries are ints or None, got {a!r}.")
    if all(a is None for a in axes):
        raise ValueError(
            f"pax.Vectorize: batch_axis={axes} vectorizes no argument; give the batch "
            f"axis (e.g. 0) of at least one argument, None for the broadcast ones."
        )
    return axes


class Vectorize(VarsWrapper):
    """Vectorize ``f`` over a batch axis of its arguments (``jax.vmap``).

    The variables of ``vc`` are shared by all batch entries, except ``RandomState`` variables,
    which are split to give each entry its own state. Values ``f`` leaves in
    variables are combined over the batch with each variable's ``reduce`` (the mean,
    the first entry for a ``RandomState``).

    >>> import jax, jax.numpy as jnp, pax
    >>> m = pax.Sequential(pax.Linear(2, 3), jax.nn.relu)
    >>> vec_m = pax.Vectorize(m)                    # a module: vc = m.vars()
    >>> vec_m(jnp.ones((5, 2))).shape
    (5, 3)
    >>> def scaled(x, s):
    ...     return m(x) * s
    >>> vec_f = pax.Vectorize(scaled, m.vars(), batch_axis=(0, None))
    >>> vec_f(jnp.ones((5, 2)), 2.0).shape
    (5, 3)

    Args:
      f: the function or module to vectorize.
      vc: the variables ``f`` uses (default ``f.vars()``; required for a plain
        function).
      batch_axis: one entry per positional argument of the calls: the batch axis of
        that argument, or ``None`` to pass it unbatched (broadcast).
    """

    def __init__(
        self,
        f: Callable[..., Any],
        vc: VarCollection | None = None,
        batch_axis: int | None | Sequence[int | None] = (0,),
    ):
        check_callable("pax.Vectorize", f)
        self.__wrapped__ = f
        self.vc = resolve_vc("pax.Vectorize", f, vc)
        self.batch_axis = _batch_axes(batch_axis)

    def __call__(self, *args: Any) -> Any:
        """Call the vectorized function; the variables of ``vc`` are updated."""
        if len(args) != len(self.batch_axis):
            raise ValueError(
                f"pax.Vectorize was built with batch_axis={self.batch_axis} (one entry per "
                f"argument) but called with {len(args)} arguments. Pass "
                f"`batch_axis=` with one int or None per argument."
            )
        i, axis = next((i, a) for i, a in enumerate(self.batch_axis) if a is not None)
        leaves = jax.tree_util.tree_leaves(args[i])
        if not leaves or not hasattr(leaves[0], "shape") or len(leaves[0].shape) <= axis:
            raise ValueError(
                f"pax.Vectorize: argument {i} should be an array with a batch axis {axis}, "
                f"got {type(args[i]).__name__}."
            )
        n = leaves[0].shape[axis]
        storages = unique_storages(list(self.vc))
        axes: list[int | None]
        tensors, axes = [], []
        for s in storages:
            if isinstance(s, RandomState):
                tensors.append(s.split(n))
                axes.append(0)
            else:
                tensors.append(s._get())
                axes.append(None)
        f = self.__wrapped__

        def run(tensors, *args):
            with swapped("pax.Vectorize", storages, tensors):
                output = f(*args)
                changes = changes_of(storages, tensors)
            return output, changes

        output, changes = jax.vmap(run, in_axes=(axes, *self.batch_axis))(tensors, *args)
        write_back(
            storages,
            [None if c is None else s.reduce(c) for s, c in zip(storages, changes)],
        )
        return output

    def __repr__(self) -> str:
        return f"Vectorize({self.__wrapped__!r}, batch_axis={self.batch_axis})"
