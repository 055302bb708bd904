"""``RngSeq``: a module that hands out a sequence of random keys."""

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.parameters import StateModule
from ..core.rng import next_rng_key as _global_next_rng_key


class RngSeq(StateModule):
    """An endless sequence of random keys; its key is non-trainable state.

    ``next_rng_key`` mutates the module, so call it inside ``pax.pure``.

    >>> import pax
    >>> seq = pax.RngSeq(seed=0)
    >>> seq, key = pax.module_and_value(seq.next_rng_key)()
    >>> key.shape
    (2,)
    """

    def __init__(
        self,
        seed: int | None = None,
        rng_key: jax.Array | None = None,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if rng_key is not None:
            self._rng_key = rng_key
        elif seed is not None:
            self._rng_key = _key_from_seed(seed)
        else:
            self._rng_key = _global_next_rng_key()

    def next_rng_key(self, num_keys: int = 1) -> jax.Array | list[jax.Array]:
        """The next key (or a list of ``num_keys`` keys); advances the sequence."""
        if not isinstance(num_keys, int) or num_keys < 1:
            raise ValueError(f"num_keys must be a positive int, got {num_keys!r}.")
        self._rng_key, *keys = jax.random.split(self._rng_key, num_keys + 1)
        return keys[0] if num_keys == 1 else keys


def _key_from_seed(seed: Any) -> jax.Array:
    """``jax.random.PRNGKey(seed)`` for an integer seed (a Python or NumPy integer, or
    a 0-d integer array); a key passed as ``seed`` is used as it is."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        return jax.random.PRNGKey(int(seed))
    if isinstance(seed, (jax.Array, np.ndarray)):
        dtype = seed.dtype
        if jnp.issubdtype(dtype, jax.dtypes.prng_key) or (
            seed.shape == (2,) and dtype == np.uint32
        ):
            return jnp.asarray(seed)
        if seed.ndim == 0 and jnp.issubdtype(dtype, jnp.integer):
            return jax.random.PRNGKey(seed)
    raise TypeError(
        f"RngSeq: `seed` must be an int or a key from jax.random.PRNGKey (also accepted "
        f"as `rng_key=`), got {seed!r} ({type(seed).__name__})."
    )
