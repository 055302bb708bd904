"""Registry cases: recurrent cells, called as ``cell(state, x)``."""

import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key, normal

import pax
from pax._src.nn.recurrent import GRU, GRUState, VanillaRNN, VanillaRNNState


def lstm(dtype=jnp.float32):
    return pax.LSTM(3, 4, forget_gate_bias=1.0, rng_key=key(0), param_dtype=dtype)


def gru(dtype=jnp.float32):
    return GRU(3, 4, rng_key=key(1), param_dtype=dtype)


def vanilla_rnn(dtype=jnp.float32):
    return VanillaRNN(3, 4, rng_key=key(2), param_dtype=dtype)


# -- numpy references of one step (sigmoid and tanh are holomorphic: complex works) ----


def _fc(fc, x):
    return np.asarray(x) @ np.asarray(fc.weight) + np.asarray(fc.bias)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_lstm(cell, state, x):
    xh = np.concatenate([np.asarray(x), np.asarray(state.hidden)], axis=-1)
    i, g, f, o = np.split(_fc(cell.fc, xh), 4, axis=-1)
    c = _sigmoid(f + cell.forget_gate_bias) * np.asarray(state.cell) + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    return pax.LSTMState(h, c), h


def np_gru(cell, state, x):
    x, h = np.asarray(x), np.asarray(state.hidden)
    z, r = np.split(_sigmoid(_fc(cell.xh_zr_fc, np.concatenate([x, h], axis=-1))), 2, axis=-1)
    a = np.tanh(_fc(cell.xh_h_fc, np.concatenate([x, r * h], axis=-1)))
    new = (1 - z) * h + z * a
    return GRUState(new), new


def np_vanilla_rnn(cell, state, x):
    h = np.tanh(_fc(cell.fc, np.concatenate([np.asarray(x), np.asarray(state.hidden)], axis=-1)))
    return VanillaRNNState(h), h


LAYERS = [
    LayerCase(
        "lstm",
        lstm,
        lambda s: (
            pax.LSTMState(normal(s + 1, (5, 4), 0.5), normal(s + 2, (5, 4), 0.5)),
            normal(s, (5, 3)),
        ),
        make_dtype=lstm,
        reference=np_lstm,
    ),
    LayerCase(
        "gru",
        gru,
        lambda s: (GRUState(normal(s + 1, (5, 4), 0.5)), normal(s, (5, 3))),
        make_dtype=gru,
        reference=np_gru,
    ),
    LayerCase(
        "vanilla_rnn",
        vanilla_rnn,
        lambda s: (VanillaRNNState(normal(s + 1, (5, 4), 0.5)), normal(s, (5, 3))),
        make_dtype=vanilla_rnn,
        reference=np_vanilla_rnn,
    ),
]
