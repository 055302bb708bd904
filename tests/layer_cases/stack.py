"""Registry cases: Stack (stacked blocks applied with a scan), stateless and stateful."""

import jax
import jax.numpy as jnp
from layer_registry import LayerCase, key, normal

import pax
from pax._src.nn.stack import Stack


def mlp_block(rng_key):
    return pax.Sequential(pax.Linear(4, 4, rng_key=rng_key), jnp.tanh)


def dropout_block(rng_key):
    k1, k2 = jax.random.split(rng_key)
    return pax.Sequential(pax.Linear(4, 4, rng_key=k1), pax.Dropout(0.3, rng_key=k2))


def batchnorm_block(rng_key):
    return pax.Sequential(pax.Linear(4, 4, rng_key=rng_key), pax.BatchNorm1D(4))


LAYERS = [
    LayerCase("stack", lambda: Stack(mlp_block, 3, rng_key=key(0)), lambda s: (normal(s, (5, 4)),)),
    LayerCase(
        "stack_batchnorm_train",
        lambda: Stack(batchnorm_block, 2, rng_key=key(1)),
        lambda s: (normal(s, (5, 4)),),
    ),
    LayerCase(
        "stack_dropout_train",
        lambda: Stack(dropout_block, 2, rng_key=key(2)),
        lambda s: (normal(s, (5, 4)),),
    ),
]
