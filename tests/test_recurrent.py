"""Recurrent cells against dm-haiku with equal weights."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from helpers import tree_allclose
from layer_registry import key as _key
from layer_registry import normal

import pax


def _haiku_lstm_params(lstm: pax.LSTM):
    return {"lstm/linear": {"w": lstm.fc.weight, "b": lstm.fc.bias}}


def test_lstm_matches_haiku_one_step():
    lstm = pax.LSTM(3, 4, forget_gate_bias=1.0, rng_key=_key(0))
    lstm = lstm.replace(fc=lstm.fc.replace(bias=normal(1, (16,), 0.5)))
    x = normal(2, (5, 3))
    state = pax.LSTMState(normal(3, (5, 4)), normal(4, (5, 4)))

    f = hk.without_apply_rng(hk.transform(lambda x, s: hk.LSTM(4)(x, s)))
    hk_state = hk.LSTMState(hidden=state.hidden, cell=state.cell)
    hk_params = f.init(_key(0), x, hk_state)
    assert jax.tree_util.tree_map(jnp.shape, hk_params) == jax.tree_util.tree_map(
        jnp.shape, _haiku_lstm_params(lstm)
    )
    hk_out, hk_next = f.apply(_haiku_lstm_params(lstm), x, hk_state)
    next_state, out = lstm(state, x)
    tree_allclose(out, hk_out)
    tree_allclose(tuple(next_state), (hk_next.hidden, hk_next.cell))


def test_lstm_matches_haiku_unrolled_sequence():
    lstm = pax.LSTM(2, 6, forget_gate_bias=1.0, rng_key=_key(1))
    xs = normal(5, (3, 7, 2))  # batch-major (N, T, D)

    def hk_unroll(xs):
        core = hk.LSTM(6)
        return hk.dynamic_unroll(core, xs, core.initial_state(3), time_major=False)

    f = hk.without_apply_rng(hk.transform(hk_unroll))
    hk_ys, hk_final = f.apply(_haiku_lstm_params(lstm), xs)
    final, ys = pax.scan(lstm, lstm.initial_state(3), xs, time_major=False)
    assert ys.shape == (3, 7, 6)
    tree_allclose(ys, hk_ys, rtol=1e-5, atol=1e-5)
    tree_allclose(tuple(final), (hk_final.hidden, hk_final.cell), rtol=1e-5, atol=1e-5)


def test_lstm_default_forget_bias_differs_from_haiku():
    lstm = pax.LSTM(3, 4, rng_key=_key(0))
    assert lstm.forget_gate_bias == 0.0
    state = pax.LSTMState(normal(2, (2, 4)), normal(3, (2, 4)))  # the bias acts on the cell
    x = normal(1, (2, 3))
    f = hk.without_apply_rng(hk.transform(lambda x, s: hk.LSTM(4)(x, s)))
    hk_out, _ = f.apply(_haiku_lstm_params(lstm), x, hk.LSTMState(state.hidden, state.cell))
    _, out = lstm(state, x)
    assert not np.allclose(out, hk_out)
    zeros = lstm.initial_state(2)
    assert zeros.hidden.shape == zeros.cell.shape == (2, 4)
    assert not jnp.any(zeros.hidden) and not jnp.any(zeros.cell)
