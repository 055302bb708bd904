"""Registry cases: Linear, Sequential, Lambda, Identity, Dropout, RngSeq."""

import jax
import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key, normal

import pax


def linear(dtype=jnp.float32) -> pax.Linear:
    fc = pax.Linear(3, 4, rng_key=key(0), param_dtype=dtype)
    return fc.replace(bias=normal(5, (4,)).astype(dtype))


def sequential(dtype=jnp.float32) -> pax.Sequential:
    return pax.Sequential(
        pax.Linear(3, 8, rng_key=key(0), param_dtype=dtype),
        jnp.tanh,
        pax.Linear(8, 2, rng_key=key(1), param_dtype=dtype),
    )


def np_linear(fc: pax.Linear, x):
    y = np.asarray(x) @ np.asarray(fc.weight)
    return y if fc.bias is None else y + np.asarray(fc.bias)


def np_sequential(net: pax.Sequential, x):
    first, _, last = net.modules
    return np_linear(last, np.tanh(np_linear(first, x)))


def draw_rng_seq(seq: pax.RngSeq, x: jax.Array):
    seq, rng = pax.module_and_value(seq.next_rng_key)()
    return seq, x * jax.random.uniform(rng, x.shape)


LAYERS = [
    LayerCase(
        "linear",
        linear,
        lambda s: (normal(s, (5, 3)),),
        make_dtype=linear,
        reference=np_linear,
    ),
    LayerCase(
        "linear_no_bias",
        lambda: pax.Linear(3, 4, with_bias=False, rng_key=key(0)),
        lambda s: (normal(s, (5, 3)),),
        make_dtype=lambda dtype: pax.Linear(3, 4, with_bias=False, param_dtype=dtype),
        reference=np_linear,
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
        sequential,
        lambda s: (normal(s, (5, 3)),),
        make_dtype=sequential,
        reference=np_sequential,
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
