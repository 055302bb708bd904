"""Recurrent cells (VanillaRNN, LSTM, GRU) against dm-haiku with equal weights.

PAX's fused layouts map onto haiku's parameters as follows (``D`` inputs, ``H``
hidden units; the first ``D`` rows of every PAX weight act on ``x``):

- LSTM: ``fc`` is haiku's ``lstm/linear`` as is (gates ``i, g, f, o``).
- GRU: ``w_i = [xh_zr_fc.w[:D], xh_h_fc.w[:D]]``, ``w_h = [xh_zr_fc.w[D:],
  xh_h_fc.w[D:]]``, ``b = [xh_zr_fc.b, xh_h_fc.b]`` (columns: ``z, r``, then
  the candidate). The equations are haiku's (reset gate applied before the matmul).
- VanillaRNN: ``linear = (fc.w[:D], fc.b)``, ``linear_1 = fc.w[D:]`` with
  ``double_bias=False``. PAX's cell uses ``tanh`` where haiku's uses ``relu``,
  so the haiku reference runs with ``jax.nn.relu`` patched to ``jnp.tanh``.
"""

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any
from unittest import mock

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key as _key

import pax
from pax._src.nn.recurrent import GRU, RNN, GRUState, VanillaRNN, VanillaRNNState


def normal(seed: int, shape, scale: float = 1.0) -> np.ndarray:
    """Float32 normal noise from numpy (no per-shape compilation, unlike jax.random)."""
    return scale * np.random.default_rng(seed).standard_normal(shape, np.float32)


def _randomized(make: Callable[[], Any], seed: int, scale: float = 0.5) -> Any:
    """The module ``make()`` with every weight and bias drawn from normal noise (so
    biases are tested too), built without running its initializers (whose per-shape
    compilations dominate these small tests)."""
    leaves, treedef = jax.tree_util.tree_flatten(jax.eval_shape(make))
    new = [jnp.asarray(normal(seed + i, x.shape, scale)) for i, x in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, new)


def _gru_params(gru: GRU) -> dict[str, Any]:
    d = gru.input_dim
    zr, h = gru.xh_zr_fc, gru.xh_h_fc
    return {
        "gru": {
            "w_i": jnp.concatenate([zr.weight[:d], h.weight[:d]], axis=1),
            "w_h": jnp.concatenate([zr.weight[d:], h.weight[d:]], axis=1),
            "b": jnp.concatenate([zr.bias, h.bias]),
        }
    }


def _vanilla_rnn_params(rnn: VanillaRNN) -> dict[str, Any]:
    d = rnn.input_dim
    return {
        "vanilla_rnn/linear": {"w": rnn.fc.weight[:d], "b": rnn.fc.bias},
        "vanilla_rnn/linear_1": {"w": rnn.fc.weight[d:]},
    }


@dataclasses.dataclass(frozen=True)
class Cell:
    """A pax cell and its haiku reference."""

    make: Callable[[int, int], RNN]  # (input_dim, hidden_dim) -> cell
    haiku_core: Callable[[int], hk.RNNCore]  # hidden_dim -> core (inside transform)
    haiku_params: Callable[[Any], dict[str, Any]]
    to_haiku: Callable[[Any], Any]  # pax state -> haiku state
    from_haiku: Callable[[Any], Any]  # haiku state -> pax state
    patch: Callable[[], Any] = contextlib.nullcontext


CELLS = {
    "lstm": Cell(
        lambda d, h: pax.LSTM(d, h, forget_gate_bias=1.0, rng_key=_key(0)),
        hk.LSTM,
        lambda lstm: {"lstm/linear": {"w": lstm.fc.weight, "b": lstm.fc.bias}},
        lambda s: hk.LSTMState(hidden=s.hidden, cell=s.cell),
        lambda s: pax.LSTMState(s.hidden, s.cell),
    ),
    "gru": Cell(
        lambda d, h: GRU(d, h, rng_key=_key(0)),
        hk.GRU,
        _gru_params,
        lambda s: s.hidden,
        GRUState,
    ),
    "vanilla_rnn": Cell(
        lambda d, h: VanillaRNN(d, h, rng_key=_key(0)),
        lambda h: hk.VanillaRNN(h, double_bias=False),
        _vanilla_rnn_params,
        lambda s: s.hidden,
        VanillaRNNState,
        lambda: mock.patch.object(jax.nn, "relu", jnp.tanh),
    ),
}
CELL_IDS = list(CELLS)


def _random_state(cell: RNN, seed: int, batch: int):
    zeros = cell.initial_state(batch)
    return type(zeros)(*[normal(seed + i, z.shape) for i, z in enumerate(zeros)])


@pytest.mark.parametrize("name", CELL_IDS)
def test_cell_matches_haiku_one_step(name):
    spec = CELLS[name]
    cell = _randomized(lambda: spec.make(3, 4), seed=10)
    x = normal(2, (5, 3))
    state = _random_state(cell, seed=3, batch=5)

    f = hk.without_apply_rng(hk.transform(lambda x, s: spec.haiku_core(4)(x, s)))
    hk_shapes = jax.tree_util.tree_map(
        jnp.shape, jax.eval_shape(f.init, _key(0), x, spec.to_haiku(state))
    )
    assert hk_shapes == jax.tree_util.tree_map(jnp.shape, spec.haiku_params(cell))
    with spec.patch():
        hk_out, hk_next = jax.jit(f.apply)(spec.haiku_params(cell), x, spec.to_haiku(state))
    next_state, out = jax.jit(pax.purecall)(cell, state, x)[1]
    assert type(next_state) is type(state)
    tree_allclose(out, hk_out)
    tree_allclose(next_state, spec.from_haiku(hk_next))


@pytest.mark.parametrize("name", CELL_IDS)
def test_cell_matches_haiku_unrolled_sequence(name):
    spec = CELLS[name]
    cell = _randomized(lambda: spec.make(2, 6), seed=20)
    xs = normal(5, (3, 7, 2))  # batch-major (N, T, D)

    def hk_unroll(xs):
        core = spec.haiku_core(6)
        return hk.dynamic_unroll(core, xs, core.initial_state(3), time_major=False)

    f = hk.without_apply_rng(hk.transform(hk_unroll))
    with spec.patch():
        hk_ys, hk_final = jax.jit(f.apply)(spec.haiku_params(cell), xs)
    final, ys = jax.jit(lambda c: pax.scan(c, c.initial_state(3), xs, time_major=False))(cell)
    assert ys.shape == (3, 7, 6)
    tree_allclose(ys, hk_ys, rtol=1e-5, atol=1e-5)
    tree_allclose(final, spec.from_haiku(hk_final), rtol=1e-5, atol=1e-5)


def test_lstm_default_forget_bias_differs_from_haiku():
    lstm = _randomized(lambda: pax.LSTM(3, 4, rng_key=_key(0)), seed=40)
    assert lstm.forget_gate_bias == 0.0
    state = pax.LSTMState(normal(2, (2, 4)), normal(3, (2, 4)))  # the bias acts on the cell
    x = normal(1, (2, 3))
    f = hk.without_apply_rng(hk.transform(lambda x, s: hk.LSTM(4)(x, s)))
    params = CELLS["lstm"].haiku_params(lstm)
    hk_out, _ = f.apply(params, x, hk.LSTMState(state.hidden, state.cell))
    _, out = lstm(state, x)
    assert not np.allclose(out, hk_out)
    # with haiku's 1.0 folded into the forget-gate bias they agree
    f_cols = slice(8, 12)
    shifted = lstm.fc.replace(bias=lstm.fc.bias.at[f_cols].add(1.0))
    _, out_shifted = lstm.replace(fc=shifted)(state, x)
    tree_allclose(out_shifted, hk_out)


def test_vanilla_rnn_is_tanh_of_the_fused_linear():
    rnn = _randomized(lambda: VanillaRNN(3, 4, rng_key=_key(0)), seed=30)
    x, h = np.asarray(normal(1, (2, 3))), np.asarray(normal(2, (2, 4)))
    w, b = np.asarray(rnn.fc.weight), np.asarray(rnn.fc.bias)
    expected = np.tanh(x @ w[:3] + h @ w[3:] + b)
    state, out = rnn(VanillaRNNState(jnp.asarray(h)), jnp.asarray(x))
    tree_allclose(out, expected)
    tree_allclose(state.hidden, expected)


# -- PAX 0.5 compatibility: attribute names, shapes, initial states, repr -----------

PAX_LAYOUTS = [
    (
        lambda: pax.LSTM(3, 4),
        {"fc": {"weight": (7, 16), "bias": (16,)}},
        {"fc": "lstm_fc"},
    ),
    (
        lambda: GRU(3, 4),
        {"xh_zr_fc": {"weight": (7, 8), "bias": (8,)}, "xh_h_fc": {"weight": (7, 4), "bias": (4,)}},
        {"xh_zr_fc": "xh_to_zr", "xh_h_fc": "xh_to_h"},
    ),
    (
        lambda: VanillaRNN(3, 4),
        {"fc": {"weight": (7, 4), "bias": (4,)}},
        {"fc": "vanilla_rnn_fc"},
    ),
]


@pytest.mark.parametrize("make, shapes, names", PAX_LAYOUTS, ids=CELL_IDS)
def test_pax_state_dict_layout(make, shapes, names):
    cell = _randomized(make, seed=0)
    assert jax.tree_util.tree_map(np.shape, cell.state_dict()) == shapes
    assert {attr: getattr(cell, attr).name for attr in names} == names
    for name in names.values():  # PAX's names of the inner layers show in the summary
        assert f"({name}) Linear(in_dim=7" in cell.summary()
    assert (cell.input_dim, cell.hidden_dim) == (3, 4)
    # a PAX-shaped state dict loads
    saved = jax.tree_util.tree_map(lambda s: np.ones(s, np.float32), shapes, is_leaf=_is_shape)
    loaded = cell.load_state_dict(saved)
    assert all(bool(jnp.all(x == 1)) for x in jax.tree_util.tree_leaves(loaded))


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(i, int) for i in x)


@pytest.mark.parametrize(
    "make, state_cls, fields",
    [
        (lambda: pax.LSTM(3, 7), pax.LSTMState, ("hidden", "cell")),
        (lambda: GRU(3, 7), GRUState, ("hidden",)),
        (lambda: VanillaRNN(3, 7), VanillaRNNState, ("hidden",)),
    ],
    ids=CELL_IDS,
)
def test_initial_state_and_repr(make, state_cls, fields):
    cell = _randomized(make, seed=0)
    state = cell.initial_state(2)
    assert type(state) is state_cls and state._fields == fields
    for x in state:
        assert x.shape == (2, 7) and x.dtype == jnp.float32 and not jnp.any(x)
    state, out = cell(state, jnp.ones((2, 3)))
    assert out.shape == (2, 7) and all(x.shape == (2, 7) for x in state)
    assert repr(cell) == f"{type(cell).__name__}(input_dim=3, hidden_dim=7)"


# -- error paths --------------------------------------------------------------------

MAKERS = {"gru": lambda: GRU(3, 4), "rnn": lambda: VanillaRNN(3, 4), "lstm": lambda: pax.LSTM(3, 4)}
STATES = {"gru": GRUState, "rnn": VanillaRNNState, "lstm": pax.LSTMState}


@pytest.mark.parametrize(
    "cell, state_shapes, x_shape, match",
    [
        pytest.param(
            "gru", [(2, 4)], (2, 5), r"GRU expects inputs with last dimension 3, got \(2, 5\)",
            id="gru_input",
        ),
        pytest.param(
            "gru", [(2, 5)], (2, 3),
            r"GRU expects a state of shape \(2, 4\) for inputs of shape \(2, 3\), "
            r"got hidden \(2, 5\)\. Use `cell.initial_state\(batch_size\)`",
            id="gru_state_dim",
        ),
        pytest.param(
            "gru", [(3, 4)], (2, 3), r"GRU expects a state of shape \(2, 4\)", id="gru_state_batch"
        ),
        pytest.param(
            "rnn", [(2, 4)], (2,), r"VanillaRNN expects inputs with last dimension 3, got \(2,\)",
            id="rnn_input",
        ),
        pytest.param(
            "rnn", [(4,)], (2, 3), r"VanillaRNN expects a state of shape \(2, 4\)", id="rnn_state"
        ),
        pytest.param(
            "lstm", [(2, 4), (2, 3)], (2, 3),
            r"LSTM expects a state of shape \(2, 4\) .* got hidden \(2, 4\) and cell \(2, 3\)",
            id="lstm_cell",
        ),
    ],
)  # fmt: skip
def test_wrong_shapes_raise(cell, state_shapes, x_shape, match):
    state = STATES[cell](*[jnp.zeros(shape) for shape in state_shapes])
    cell = _randomized(MAKERS[cell], seed=0)
    x = jnp.ones(x_shape)
    with pytest.raises(ValueError, match=match):
        cell(state, x)
    with pytest.raises(ValueError, match=match):  # also while tracing
        jax.jit(pax.purecall)(cell, state, x)


@pytest.mark.parametrize(
    "make, state, match",
    [
        (lambda: GRU(3, 4), (jnp.zeros((2, 4)),), "GRU expects a GRUState as its first argument"),
        (lambda: GRU(3, 4), VanillaRNNState(jnp.zeros((2, 4))), "got VanillaRNNState"),
        (lambda: VanillaRNN(3, 4), jnp.zeros((2, 4)), "VanillaRNN expects a VanillaRNNState"),
        (lambda: pax.LSTM(3, 4), GRUState(jnp.zeros((2, 4))), "LSTM expects an LSTMState"),
    ],
    ids=["gru_tuple", "gru_other_state", "rnn_array", "lstm_gru_state"],
)
def test_wrong_state_type_raises(make, state, match):
    with pytest.raises(TypeError, match=match):
        _randomized(make, seed=0)(state, jnp.ones((2, 3)))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: GRU(0, 3), "GRU: `input_dim` must be a positive int, got 0"),
        (lambda: GRU(3, 2.0), "GRU: `hidden_dim` must be a positive int, got 2.0"),
        (lambda: VanillaRNN(-1, 3), "VanillaRNN: `input_dim` must be a positive int"),
        (lambda: VanillaRNN(3, True), "VanillaRNN: `hidden_dim` must be a positive int"),
    ],
)
def test_bad_constructor_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
