"""Exponential moving averages of pytrees."""

from typing import Any

import jax
import jax.numpy as jnp

from ..core.parameters import StateModule


def _is_inexact(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _check_no_integer_leaves(tree: Any, what: str) -> None:
    bad = [jnp.result_type(x).name for x in jax.tree_util.tree_leaves(tree) if not _is_inexact(x)]
    if bad:
        raise ValueError(
            f"EMA: {what} has integer or boolean leaves (dtypes {sorted(set(bad))}), which "
            f"cannot be averaged. Pass `allow_int=True` to keep the newest value of those "
            f"leaves instead."
        )


def _debias_dtype(tree: Any) -> Any:
    """float32, or the widest real precision of the floating/complex leaves of ``tree``."""
    dtypes = [jnp.result_type(x) for x in jax.tree_util.tree_leaves(tree)]
    parts = [jnp.finfo(t).dtype for t in dtypes if jnp.issubdtype(t, jnp.inexact)]
    return jnp.result_type(jnp.float32, *parts)


class EMA(StateModule):
    r"""An exponential moving average of a pytree (non-trainable state).

    Each call in training mode updates ``averages`` with the new value ``x``:

    .. math::

        a \leftarrow d \, a + (1 - d) \, x, \qquad d = \text{decay\_rate},

    and returns the new averages; in evaluation mode it returns them unchanged.

    With ``debias=True`` the module also keeps a scalar ``debias``
    :math:`c` (0 at the start) and updates

    .. math::

        c' = d \, c + (1 - d), \qquad a' = (d \, c \, a + (1 - d) \, x) / c',

    so the first update replaces the initial value with ``x`` and afterwards
    ``averages`` equals haiku's zero-debiased ``ExponentialMovingAverage``
    (:math:`c = 1 - d^t` after :math:`t` updates). A state loaded from PAX 0.5
    (``debias == 1``) continues as a plain moving average.

    Integer and boolean leaves are rejected unless ``allow_int=True``; then they
    take the newest value at each update.

    >>> import jax.numpy as jnp, pax
    >>> from pax._src.nn.ema import EMA
    >>> ema = EMA(jnp.zeros(2), decay_rate=0.5, debias=True)
    >>> ema, y = pax.purecall(ema, jnp.array([2.0, 4.0]))
    >>> y.tolist()  # the first update takes the value
    [2.0, 4.0]
    >>> ema, y = pax.purecall(ema, jnp.array([0.0, 1.0]))
    >>> [round(v, 4) for v in y.tolist()]  # (0.5 * 0.5 * [2, 4] + 0.5 * [0, 1]) / 0.75
    [0.6667, 2.0]

    Args:
      initial_value: a pytree of arrays, the averages before any update.
      decay_rate: :math:`d` in ``[0, 1]`` (``[0, 1)`` with ``debias=True``).
      debias: ignore the initial value (zero-debiasing).
      allow_int: accept integer/boolean leaves (they follow the newest value).
      name: an optional name.
    """

    averages: Any
    debias: jax.Array | None

    def __init__(
        self,
        initial_value: Any,
        decay_rate: float,
        debias: bool = False,
        allow_int: bool = False,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if isinstance(decay_rate, bool) or not isinstance(decay_rate, (int, float)):
            raise TypeError(f"EMA: `decay_rate` must be a float, got {decay_rate!r}.")
        upper_ok = decay_rate < 1.0 if debias else decay_rate <= 1.0
        if not (0.0 <= decay_rate and upper_ok):
            interval = "[0, 1) with debias=True" if debias else "[0, 1]"
            raise ValueError(f"EMA: `decay_rate` must be in {interval}, got {decay_rate!r}.")
        initial_value = jax.tree_util.tree_map(jnp.asarray, initial_value)
        if not allow_int:
            _check_no_integer_leaves(initial_value, "the initial value")
        self.averages = initial_value
        self.decay_rate = float(decay_rate)
        self.allow_int = allow_int
        # a float scalar (not an int) so that jax.grad over a model holding it needs
        # no `allow_int`: float32, or float64 for float64/complex128 averages (the
        # averages are divided by it)
        self.debias = jnp.zeros((), _debias_dtype(initial_value)) if debias else None

    def __call__(self, xs: Any) -> Any:
        """Update the averages with ``xs`` (in training mode) and return them.

        Args:
          xs: a pytree with the structure and leaf shapes of ``averages``.

        Returns:
          The (new) averages.
        """
        if not self.allow_int:
            _check_no_integer_leaves(xs, "the new value")
        avg_def: Any = jax.tree_util.tree_structure(self.averages)  # PyTreeDef: no stubs
        xs_def: Any = jax.tree_util.tree_structure(xs)
        if avg_def != xs_def:
            raise ValueError(
                f"EMA: the new value must have the structure of the averages, "
                f"expected {avg_def}, got {xs_def}."
            )
        for a, x in zip(jax.tree_util.tree_leaves(self.averages), jax.tree_util.tree_leaves(xs)):
            if jnp.shape(a) != jnp.shape(x):
                raise ValueError(
                    f"EMA: the new value must have the shapes of the averages, expected "
                    f"a leaf of shape {jnp.shape(a)}, got {jnp.shape(x)}."
                )
        if not self.training:
            return self.averages

        d = self.decay_rate
        c = self.debias
        old_weight: Any = d if c is None else d * c
        new_norm: jax.Array | None = None if c is None else d * c + (1.0 - d)

        def update(a: jax.Array, x: Any) -> jax.Array:
            if not _is_inexact(a):
                return jnp.asarray(x).astype(a.dtype)
            new = old_weight * a + (1.0 - d) * x
            if new_norm is not None:
                new = new / new_norm
            return jnp.asarray(new).astype(a.dtype)

        self.averages = jax.tree_util.tree_map(update, self.averages, xs)
        if c is not None and new_norm is not None:
            self.debias = new_norm.astype(c.dtype)
        return self.averages

    def __repr__(self) -> str:
        return self._repr(
            {"decay_rate": self.decay_rate, "debias": self.debias is not None}
            | ({"allow_int": True} if self.allow_int else {})
        )
