"""Dropout."""

import jax
import jax.numpy as jnp

from ..core.parameters import StateModule
from ..core.rng import next_rng_key


def _check_rate(dropout_rate: float) -> None:
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}.")


def dropout(rng_key: jax.Array, dropout_rate: float, x: jax.Array) -> jax.Array:
    """Zero each element with probability ``dropout_rate`` and scale the rest by
    ``1 / (1 - dropout_rate)``, so that ``E[output] = x``.

    >>> import jax, jax.numpy as jnp, pax
    >>> y = pax.dropout(jax.random.PRNGKey(0), 0.5, jnp.ones((1000,)))
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    """
    _check_rate(dropout_rate)
    if dropout_rate == 0.0:
        return x
    keep = jax.random.bernoulli(rng_key, 1.0 - dropout_rate, shape=x.shape)
    return jnp.where(keep, x / (1.0 - dropout_rate), jnp.zeros_like(x))


class Dropout(StateModule):
    """Dropout with its own random key, refreshed on every call in training mode
    (call it inside ``pax.pure``); the identity in evaluation mode.

    >>> import jax, jax.numpy as jnp, pax
    >>> drop = pax.Dropout(0.5, rng_key=jax.random.PRNGKey(0))
    >>> drop, y = pax.purecall(drop, jnp.ones((4,)))
    >>> drop.eval()(jnp.ones((4,))).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(
        self,
        dropout_rate: float,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        _check_rate(dropout_rate)
        self.dropout_rate = dropout_rate
        self.rng_key = next_rng_key() if rng_key is None else rng_key

    def __call__(self, x: jax.Array) -> jax.Array:
        if not self.training or self.dropout_rate == 0.0:
            return x
        self.rng_key, key = jax.random.split(self.rng_key)
        return dropout(key, self.dropout_rate, x)

    def __repr__(self) -> str:
        return self._repr({"dropout_rate": self.dropout_rate})
