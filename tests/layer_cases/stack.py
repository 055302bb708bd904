"""Registry cases: Stack (stacked blocks applied with a scan), stateless and stateful."""

import functools

import jax
import jax.numpy as jnp
from layer_registry import LayerCase, key, normal

import pax
from pax._src.nn.stack import Stack


def mlp_block(rng_key, dtype=jnp.float32):
    return pax.Sequential(pax.Linear(4, 4, rng_key=rng_key, param_dtype=dtype), jnp.tanh)


def dropout_block(rng_key, dtype=jnp.float32):
    k1, k2 = jax.random.split(rng_key)
    return pax.Sequential(
        pax.Linear(4, 4, rng_key=k1, param_dtype=dtype), pax.Dropout(0.3, rng_key=k2)
    )


def batchnorm_block(rng_key, dtype=jnp.float32):
    return pax.Sequential(
        pax.Linear(4, 4, rng_key=rng_key, param_dtype=dtype), pax.BatchNorm1D(4, param_dtype=dtype)
    )


def stack_of(block, n: int, seed: int):
    def make(dtype=jnp.float32):
        return Stack(functools.partial(block, dtype=dtype), n, rng_key=key(seed))

    return make


LAYERS = [
    LayerCase(
        "stack",
        stack_of(mlp_block, 3, 0),
        lambda s: (normal(s, (5, 4)),),
        make_dtype=stack_of(mlp_block, 3, 0),
    ),
    LayerCase(
        "stack_batchnorm_train",
        stack_of(batchnorm_block, 2, 1),
        lambda s: (normal(s, (5, 4)),),
        make_dtype=stack_of(batchnorm_block, 2, 1),
    ),
    LayerCase(
        "stack_dropout_train",
        stack_of(dropout_block, 2, 2),
        lambda s: (normal(s, (5, 4)),),
        make_dtype=stack_of(dropout_block, 2, 2),
    ),
]
