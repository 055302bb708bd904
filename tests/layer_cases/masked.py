"""Registry cases: NetKet's masked autoregressive layers (full calls and one cached step)."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key
from masked_reference import np_masked_conv1d, np_masked_conv2d, np_masked_dense1d

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


def conv1d(dtype: Any = jnp.float32) -> MaskedConv1D:
    return MaskedConv1D(
        3,
        3,
        2,
        True,
        kernel_init=init(0),
        bias_init=init(1),
        param_dtype=dtype,
        in_features=2,
        rng_key=key(0),
    )


def conv2d(dtype: Any = jnp.float32) -> MaskedConv2D:
    return MaskedConv2D(
        3, (2, 3), 1, True, kernel_init=init(0), bias_init=init(1), param_dtype=dtype, in_features=2
    )


def dense1d(dtype: Any = jnp.float32) -> MaskedDense1D:
    return MaskedDense1D(
        3, False, kernel_init=init(0), bias_init=init(1), param_dtype=dtype, size=5, in_features=2
    )


def cached_conv1d(dtype: Any = jnp.float32) -> MaskedConv1D:
    conv = conv1d(dtype).init_cache(2)  # then a cache in the middle of a sequence
    cache = np_normal(7, (2, 4, 2)).astype(conv.cache.dtype)
    return conv.replace(cache=cache, position=jnp.array(3, jnp.int32))


def reference(np_layer):
    """The registry's ``reference``: the layer's numpy loop, in the dtype of the output."""

    def ref(layer, x):
        y = np_layer(layer, np.asarray(x))
        return y.astype(np.result_type(np.asarray(x).dtype, np.asarray(layer.kernel).dtype))

    return ref


LAYERS = [
    LayerCase(
        "masked_conv1d_exclusive",
        conv1d,
        lambda s: (np_normal(s, (2, 7, 2)),),
        make_dtype=conv1d,
        reference=reference(np_masked_conv1d),
    ),
    LayerCase(
        "masked_conv2d",
        conv2d,
        lambda s: (np_normal(s, (2, 3, 4, 2)),),
        make_dtype=conv2d,
        reference=reference(np_masked_conv2d),
    ),
    LayerCase(
        "masked_dense1d",
        dense1d,
        lambda s: (np_normal(s, (2, 5, 2)),),
        make_dtype=dense1d,
        reference=reference(np_masked_dense1d),
    ),
    LayerCase(
        "masked_conv1d_update_site",
        cached_conv1d,
        lambda s: (np_normal(s, (2, 2)),),
        call=update_site,
        make_dtype=cached_conv1d,
    ),
]
