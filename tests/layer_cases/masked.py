"""Registry cases: NetKet's masked autoregressive layers (full calls and one cached step)."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key

import pax
from pax._src.nn.masked import MaskedConv1D, MaskedConv2D, MaskedDense1D


def np_normal(seed: int, shape, scale: float = 1.0) -> jax.Array:
    # numpy draws: no compilation per shape (jax.random costs ~1 s per new shape)
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32)


def init(seed: int):
    def init_fn(rng_key, shape, dtype=jnp.float32):
        del rng_key
        return np_normal(seed, shape, float(np.prod(shape[:-1])) ** -0.5).astype(dtype)

    return init_fn


def update_site(module: Any, x: jax.Array):
    return pax.module_and_value(module.update_site)(x)


def cached_conv1d() -> MaskedConv1D:
    conv = MaskedConv1D(
        3, 3, 2, True, kernel_init=init(0), bias_init=init(1), in_features=2, rng_key=key(0)
    )
    conv = conv.init_cache(2)  # then a cache in the middle of a sequence
    return conv.replace(cache=np_normal(7, (2, 4, 2)), position=jnp.array(3, jnp.int32))


LAYERS = [
    LayerCase(
        "masked_conv1d_exclusive",
        lambda: MaskedConv1D(
            3, 3, 2, True, kernel_init=init(0), bias_init=init(1), in_features=2, rng_key=key(0)
        ),
        lambda s: (np_normal(s, (2, 7, 2)),),
    ),
    LayerCase(
        "masked_conv2d",
        lambda: MaskedConv2D(
            3, (2, 3), 1, True, kernel_init=init(0), bias_init=init(1), in_features=2
        ),
        lambda s: (np_normal(s, (2, 3, 4, 2)),),
    ),
    LayerCase(
        "masked_dense1d",
        lambda: MaskedDense1D(
            3, False, kernel_init=init(0), bias_init=init(1), size=5, in_features=2
        ),
        lambda s: (np_normal(s, (2, 5, 2)),),
    ),
    LayerCase(
        "masked_conv1d_update_site",
        cached_conv1d,
        lambda s: (np_normal(s, (2, 2)),),
        call=update_site,
    ),
]
