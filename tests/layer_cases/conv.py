"""Registry cases: Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose."""

import jax
import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key

from pax._src.nn.conv import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose


def np_normal(seed: int, shape, scale: float = 1.0) -> jax.Array:
    # numpy draws: no compilation per shape (jax.random costs ~1 s per new shape)
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32)


def init(seed: int):
    """Normal with variance 1 / (the product of all axes but the last): O(1) outputs."""

    def init_fn(rng_key, shape, dtype=jnp.float32):
        del rng_key
        fan_in = float(np.prod(shape[:-1])) if len(shape) > 1 else 1.0
        return np_normal(seed, shape, fan_in**-0.5).astype(dtype)

    return init_fn


CONV = dict(w_init=init(0), b_init=init(1), rng_key=key(0))

LAYERS = [
    LayerCase(
        "conv1d_stride",
        lambda: Conv1D(3, 4, 3, stride=2, **CONV),
        lambda s: (np_normal(s, (2, 7, 3)),),
    ),
    LayerCase(
        "conv2d_nchw_groups_dilated",
        lambda: Conv2D(
            4,
            6,
            (3, 2),
            rate=(1, 2),
            padding=[(1, 1), (0, 1)],
            data_format="NCHW",
            feature_group_count=2,
            **CONV,
        ),
        lambda s: (np_normal(s, (2, 4, 5, 6)),),
    ),
    LayerCase(
        "conv1d_transpose_ncw_no_bias",
        lambda: Conv1DTranspose(
            3,
            2,
            4,
            stride=2,
            data_format="NCW",
            with_bias=False,
            w_init=init(2),
            rng_key=key(1),
        ),
        lambda s: (np_normal(s, (2, 3, 5)),),
    ),
    LayerCase(
        "conv2d_transpose_stride",
        lambda: Conv2DTranspose(2, 3, 3, stride=2, **CONV),
        lambda s: (np_normal(s, (2, 4, 3, 2)),),
    ),
]
