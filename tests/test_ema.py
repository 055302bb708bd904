"""EMA against dm-haiku's ExponentialMovingAverage, and its state handling."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import normal

import pax
from pax._src.nn.ema import EMA

SHAPES = {"a": (3,), "b": (2, 2), "c": ()}


def values(seed):
    """A pytree of float32 values, all drawn by one compiled generator."""
    flat = np.asarray(normal(seed, (16,), 2.0))
    out, start = {}, 0
    for name, shape in SHAPES.items():
        size = int(np.prod(shape))
        out[name] = jnp.asarray(flat[start : start + size].reshape(shape) + seed % 3)
        start += size
    return out


def haiku_ema(decay, zero_debias):
    def f(xs):
        return {
            k: hk.ExponentialMovingAverage(decay, zero_debias=zero_debias, name=f"ema_{k}")(v)
            for k, v in xs.items()
        }

    return hk.without_apply_rng(hk.transform_with_state(f))


@pytest.mark.parametrize(
    "decay, debias",
    [(0.0, True), (0.9, True), (0.99, True), (0.5, False), (0.9, False)],
    ids=["debias-0", "debias-0.9", "debias-0.99", "plain-0.5", "plain-0.9"],
)
def test_ema_matches_haiku(decay, debias):
    """With debias: haiku's zero-debiased average from the first step on (whatever the
    initial value). Without: haiku's plain average, whose hidden state starts at zero."""
    initial = values(100) if debias else jax.tree_util.tree_map(jnp.zeros_like, values(100))
    ema = EMA(initial, decay, debias=debias)
    f = haiku_ema(decay, zero_debias=debias)
    xs = [values(seed) for seed in range(5)]

    @jax.jit
    def run(ema):
        _, state = f.init(None, xs[0])
        outputs = []
        for x in xs:
            ema, y = pax.purecall(ema, x)
            y_hk, state = f.apply({}, state, x)
            outputs.append((ema, y, y_hk))
        return outputs

    for t, (new, y, y_hk) in enumerate(run(ema), start=1):
        tree_allclose(y, y_hk, rtol=1e-5, atol=1e-6)
        tree_allclose(new.averages, y, rtol=0, atol=0)
        if debias:
            np.testing.assert_allclose(new.debias, 1.0 - decay**t, rtol=1e-5)
        else:
            assert new.debias is None


def test_ema_formulas():
    # PAX 0.5 semantics (its test_utils.test_ema_bias) without debias
    ema = EMA(jnp.array(1.0), 0.9)
    ema, y = pax.purecall(ema, jnp.array(2.0))
    np.testing.assert_allclose(y, 0.1 * 2.0 + 0.9 * 1.0, rtol=1e-6)
    # with debias, the first update takes the value, then the zero-debiased average
    ema = EMA(jnp.array(1.0), 0.9, debias=True)
    assert float(ema.debias) == 0.0 and ema.debias.dtype == jnp.float32
    ema, y = pax.purecall(ema, jnp.array(2.0))
    assert float(y) == 2.0
    ema, y = pax.purecall(ema, jnp.array(1.0))
    np.testing.assert_allclose(y, (0.9 * 0.1 * 2.0 + 0.1 * 1.0) / 0.19, rtol=1e-6)
    np.testing.assert_allclose(ema.debias, 0.19, rtol=1e-6)


def test_ema_loaded_from_a_pax_state_continues_as_a_plain_average():
    # a PAX 0.5 state dict after some updates: debias == 1
    state = {"averages": np.array([1.0, 2.0], np.float32), "debias": np.ones((), np.float32)}
    ema = EMA(jnp.zeros(2), 0.8, debias=True).load_state_dict(state)
    x = jnp.array([3.0, -1.0])
    ema, y = pax.purecall(ema, x)
    np.testing.assert_allclose(y, 0.8 * state["averages"] + 0.2 * np.asarray(x), rtol=1e-6)
    np.testing.assert_allclose(ema.debias, 1.0, rtol=1e-6)


def test_ema_eval_mode_does_not_update():
    ema = EMA(values(0), 0.5, debias=True)
    ema, _ = pax.purecall(ema, values(1))
    frozen = ema.eval()
    new, y = pax.purecall(frozen, values(2))
    tree_allclose(y, ema.averages, rtol=0, atol=0)
    tree_allclose(new, frozen, rtol=0, atol=0)
    # PAX 0.5's test_ema_eval: eval returns the initial value; training with decay 0 takes x
    x = jnp.ones((3, 3))
    ema = EMA(x, 0.0, True)
    np.testing.assert_array_equal(ema.eval()(x), x)
    _, y = pax.purecall(ema, jnp.zeros((3, 3)))
    np.testing.assert_array_equal(y, np.zeros((3, 3)))


def test_ema_is_state_not_parameters_and_needs_pure():
    ema = EMA(values(0), 0.9, debias=True)
    assert jax.tree_util.tree_leaves(ema.parameters()) == []
    with pytest.raises(ValueError, match="pax.pure"):
        ema(values(1))


@pytest.mark.parametrize("debias", [True, False], ids=["debias", "plain"])
def test_ema_allow_int(debias):
    initial = (jnp.ones(3, jnp.int16), jnp.ones(3, jnp.float16), jnp.ones(2, bool))
    for leaves in (initial[:1], initial[2:]):
        with pytest.raises(ValueError, match="allow_int=True"):
            EMA(leaves, 0.9, debias=debias)
    ema = EMA(initial, 0.5, debias=debias, allow_int=True)
    new = (jnp.full(3, 7, jnp.int16), jnp.full(3, 3.0, jnp.float16), jnp.zeros(2, bool))
    ema, y = pax.purecall(ema, new)
    assert [v.dtype for v in y] == [jnp.int16, jnp.float16, jnp.bool_]
    np.testing.assert_array_equal(y[0], new[0])  # integers: the newest value
    np.testing.assert_array_equal(y[2], new[2])
    np.testing.assert_allclose(y[1], 3.0 if debias else 2.0)  # floats: averaged


def test_ema_rejects_integer_updates():
    ema = EMA(jnp.zeros(3), 0.9)
    with pytest.raises(ValueError, match=r"new value has integer or boolean leaves.*allow_int"):
        pax.purecall(ema, jnp.ones(3, jnp.int32))


@pytest.mark.parametrize(
    "decay, debias, error, match",
    [
        (-0.1, False, ValueError, r"EMA: `decay_rate` must be in \[0, 1\], got -0.1"),
        (1.5, False, ValueError, r"`decay_rate` must be in \[0, 1\], got 1.5"),
        (1.0, True, ValueError, r"`decay_rate` must be in \[0, 1\) with debias=True, got 1.0"),
        (True, False, TypeError, r"`decay_rate` must be a float, got True"),
        ("0.9", False, TypeError, r"`decay_rate` must be a float"),
    ],
    ids=["negative", "above_one", "one_with_debias", "bool", "str"],
)
def test_ema_decay_rate_validation(decay, debias, error, match):
    with pytest.raises(error, match=match):
        EMA(jnp.zeros(2), decay, debias=debias)


def test_ema_decay_one_without_debias_keeps_the_initial_value():
    ema, y = pax.purecall(EMA(jnp.ones(2), 1.0), jnp.zeros(2))
    np.testing.assert_array_equal(y, np.ones(2))


@pytest.mark.parametrize(
    "new, match",
    [
        ({"a": jnp.zeros(3)}, "must have the structure of the averages"),
        ({"a": jnp.zeros(3), "b": jnp.zeros(3)}, r"expected a leaf of shape \(2,\), got \(3,\)"),
    ],
    ids=["structure", "shape"],
)
def test_ema_rejects_mismatched_values(new, match):
    ema = EMA({"a": jnp.zeros(3), "b": jnp.zeros(2)}, 0.9)
    with pytest.raises(ValueError, match=match):
        jax.jit(pax.purecall)(ema, new)


def test_ema_of_a_model_parameters():
    net = pax.Linear(2, 3)
    ema = EMA(net.parameters(), 0.5, debias=True)
    shifted = net.parameters().map(lambda w: w + 1.0)
    ema, avg = jax.jit(pax.purecall)(ema, net.parameters())
    ema, avg = jax.jit(pax.purecall)(ema, shifted)
    # (0.5 * 0.5 * w + 0.5 * (w + 1)) / 0.75
    tree_allclose(avg, net.parameters().map(lambda w: w + 2.0 / 3.0), rtol=1e-5, atol=1e-6)


def test_ema_repr_and_python_scalars():
    assert repr(EMA(jnp.zeros(2), 0.9)) == "EMA(decay_rate=0.9, debias=False)"
    ema = EMA(1.0, 0.5, debias=True, allow_int=True)
    assert repr(ema) == "EMA(decay_rate=0.5, debias=True, allow_int=True)"
    assert isinstance(ema.averages, jax.Array)  # a Python number becomes a state array
    ema, y = pax.purecall(ema, 3.0)
    assert float(y) == 3.0
