"""Weight initializers in JAX's convention: ``init(key, shape, dtype) -> array``.

Any ``jax.nn.initializers.*`` initializer can be passed wherever a pax layer takes
``w_init``/``b_init``; the ones here are the pax defaults.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable[..., jax.Array]
"""``init(key, shape, dtype=jnp.float32) -> jax.Array``, as ``jax.nn.initializers``."""

zeros: Initializer = jax.nn.initializers.zeros
ones: Initializer = jax.nn.initializers.ones

# the standard deviation of a unit normal truncated to [-2, 2]
_TRUNCATED_STDDEV = 0.87962566103423978


def truncated_normal(stddev: float = 1.0, mean: float = 0.0) -> Initializer:
    """Normal truncated at two standard deviations, rescaled to ``stddev``
    (the same distribution as haiku's ``TruncatedNormal``).

    For a complex ``dtype`` the real and imaginary parts are independent truncated
    normals, each of standard deviation ``stddev / sqrt(2)``, so that the total
    variance ``E|w - mean|^2`` is ``stddev**2`` as in the real case (``mean`` is added
    to the real part).

    >>> import jax, jax.numpy as jnp
    >>> w = truncated_normal(0.1)(jax.random.PRNGKey(0), (3, 4))
    >>> w.shape, w.dtype.name
    ((3, 4), 'float32')
    >>> truncated_normal(0.1)(jax.random.PRNGKey(0), (3, 4), jnp.complex64).dtype.name
    'complex64'
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        shape = tuple(shape)
        dtype = jnp.dtype(dtype)
        if jnp.issubdtype(dtype, jnp.complexfloating):
            part = jnp.finfo(dtype).dtype  # float32 for complex64, float64 for complex128
            real_key, imag_key = jax.random.split(key)
            part_init = truncated_normal(stddev / np.sqrt(2.0))
            real = part_init(real_key, shape, part) + jnp.asarray(mean, part)
            imag = part_init(imag_key, shape, part)
            return jax.lax.complex(real, imag)
        unscaled = jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        return unscaled * jnp.asarray(stddev / _TRUNCATED_STDDEV, dtype) + jnp.asarray(mean, dtype)

    return init


def variance_scaling(scale: float = 1.0, fan_in_axes: int = -1) -> Initializer:
    """Truncated normal with ``stddev = sqrt(scale / fan_in)``, where ``fan_in`` is
    the product of the dimensions before ``fan_in_axes`` (haiku's default for
    Linear and Conv kernels, whose last axis holds the output channels). A complex
    ``dtype`` splits the variance over the real and imaginary parts (see
    :func:`truncated_normal`).

    >>> import jax
    >>> w = variance_scaling()(jax.random.PRNGKey(0), (3, 3, 8, 16))  # fan_in = 72
    >>> w.shape
    (3, 3, 8, 16)
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        shape = tuple(shape)
        fan_in = int(np.prod(shape[:fan_in_axes])) if len(shape) > 1 else shape[0]
        stddev = float(np.sqrt(scale / max(1, fan_in)))
        return truncated_normal(stddev)(key, shape, dtype)

    return init
