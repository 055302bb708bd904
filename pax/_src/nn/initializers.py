"""Weight initializers: ``init(shape, dtype, rng_key) -> array``."""

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable[[Sequence[int], jnp.dtype, jax.Array], jax.Array]


def zeros(shape, dtype, rng_key=None) -> jax.Array:
    """All zeros."""
    del rng_key
    return jnp.zeros(shape, dtype)


def ones(shape, dtype, rng_key=None) -> jax.Array:
    """All ones."""
    del rng_key
    return jnp.ones(shape, dtype)


def truncated_normal(stddev: float = 1.0, mean: float = 0.0) -> Initializer:
    """Normal truncated at two standard deviations, rescaled to ``stddev``
    (the same distribution as haiku's ``TruncatedNormal``)."""

    def init(shape, dtype, rng_key):
        # the standard deviation of a unit normal truncated to [-2, 2]
        unscaled = jax.random.truncated_normal(rng_key, -2.0, 2.0, shape, dtype)
        return unscaled * (stddev / np.float32(0.87962566103423978)) + mean

    return init


def variance_scaling(scale: float = 1.0, fan_in_axes: int = -1) -> Initializer:
    """Truncated normal with ``stddev = sqrt(scale / fan_in)``, where ``fan_in`` is
    the product of all but the last dimension (haiku's default for Linear/Conv)."""

    def init(shape, dtype, rng_key):
        fan_in = int(np.prod(shape[:fan_in_axes])) if len(shape) > 1 else shape[0]
        stddev = np.sqrt(scale / max(1, fan_in))
        return truncated_normal(stddev)(shape, dtype, rng_key)

    return init
