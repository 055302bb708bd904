"""Registry cases: Embed (integer token ids as inputs)."""

import jax
import jax.numpy as jnp
from layer_registry import LayerCase, key

from pax._src.nn.embed import Embed


def token_ids(seed: int, shape, vocab_size: int) -> jax.Array:
    return jax.random.randint(key(seed), shape, 0, vocab_size, jnp.int32)


LAYERS = [
    LayerCase(
        "embed",
        lambda: Embed(7, 4, w_init=jax.nn.initializers.normal(1.0), rng_key=key(0)),
        lambda s: (token_ids(s, (2, 3), 7),),
    ),
]
