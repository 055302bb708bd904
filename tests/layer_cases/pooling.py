"""Registry cases: avg_pool and max_pool wrapped in pax.Lambda."""

import jax
import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase

import pax
from pax._src.nn.pooling import avg_pool, max_pool


def np_normal(seed: int, shape) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def distinct_values(seed: int, shape) -> jax.Array:
    """A shuffled grid 0.2 apart: no two entries of a window come within the finite
    difference steps of the gradient check, so max_pool is smooth there."""
    size = int(np.prod(shape))
    grid = (np.arange(size) - size / 2) * 0.2
    return jnp.asarray(np.random.default_rng(seed).permutation(grid).reshape(shape), jnp.float32)


def avg_pool_2x3(x: jax.Array) -> jax.Array:
    return avg_pool(x, (2, 3, 1), (2, 2, 1), "SAME")


def max_pool_3x2(x: jax.Array) -> jax.Array:
    return max_pool(x, (1, 3, 2), (1, 2, 1), "VALID", channel_axis=1)


LAYERS = [
    LayerCase(
        "avg_pool",
        lambda: pax.Lambda(avg_pool_2x3),
        lambda s: (np_normal(s, (2, 5, 6, 2)),),
    ),
    LayerCase(
        "max_pool",
        lambda: pax.Lambda(max_pool_3x2),
        lambda s: (distinct_values(s, (2, 2, 5, 4)),),
    ),
]
