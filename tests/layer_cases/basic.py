"""Registry cases: Linear, Sequential, Lambda, Identity, Dropout, RngSeq."""

import jax
import jax.numpy as jnp
from layer_registry import LayerCase, key, normal

import pax


def draw_rng_seq(seq: pax.RngSeq, x: jax.Array):
    seq, rng = pax.module_and_value(seq.next_rng_key)()
    return seq, x * jax.random.uniform(rng, x.shape)


LAYERS = [
    LayerCase(
        "linear",
        lambda: pax.Linear(3, 4, rng_key=key(0)).replace(bias=normal(5, (4,))),
        lambda s: (normal(s, (5, 3)),),
    ),
    LayerCase(
        "linear_no_bias",
        lambda: pax.Linear(3, 4, with_bias=False, rng_key=key(0)),
        lambda s: (normal(s, (5, 3)),),
    ),
    LayerCase(
        "dropout_train",
        lambda: pax.Dropout(0.5, rng_key=key(3)),
        lambda s: (normal(s, (5, 3)),),
    ),
    LayerCase(
        "dropout_eval",
        lambda: pax.Dropout(0.5, rng_key=key(3)).eval(),
        lambda s: (normal(s, (5, 3)),),
    ),
    LayerCase(
        "sequential",
        lambda: pax.Sequential(
            pax.Linear(3, 8, rng_key=key(0)), jnp.tanh, pax.Linear(8, 2, rng_key=key(1))
        ),
        lambda s: (normal(s, (5, 3)),),
    ),
    LayerCase("lambda", lambda: pax.Lambda(jnp.tanh), lambda s: (normal(s, (5, 3)),)),
    LayerCase("identity", lambda: pax.Identity(), lambda s: (normal(s, (5, 3)),)),
    LayerCase(
        "rng_seq",
        lambda: pax.RngSeq(seed=7),
        lambda s: (normal(s, (5, 3)),),
        call=draw_rng_seq,
    ),
]
