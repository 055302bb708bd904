"""Registry cases: Embed (integer token ids as inputs)."""

import jax
import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key

from pax._src.nn.embed import Embed


def token_ids(seed: int, shape, vocab_size: int) -> jax.Array:
    return jax.random.randint(key(seed), shape, 0, vocab_size, jnp.int32)


def embed(dtype=jnp.float32):
    return Embed(7, 4, w_init=jax.nn.initializers.normal(1.0), rng_key=key(0), param_dtype=dtype)


LAYERS = [
    LayerCase(
        "embed",
        embed,
        lambda s: (token_ids(s, (2, 3), 7),),
        make_dtype=embed,
        reference=lambda layer, ids: np.asarray(layer.weight)[np.asarray(ids)],
    ),
]
