"""BatchNorm1D/BatchNorm2D against dm-haiku with equal weights, and their state."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key as _key
from layer_registry import normal

import pax
from pax._src.nn.ema import EMA
from pax._src.nn.norms import BatchNorm1D, BatchNorm2D


def randn(seed, shape, scale=1.0):
    """``normal(seed, shape, scale)`` cut from one fixed-size draw: one compilation of
    the random generator serves every shape."""
    flat = np.asarray(normal(seed, (1024,)))
    return jnp.asarray(scale * flat[: int(np.prod(shape))].reshape(shape))


CASES = [  # cls, create_scale, create_offset, decay_rate, data_format, input shape
    (BatchNorm1D, True, True, 0.9, "NWC", (8, 3)),
    (BatchNorm1D, True, False, 0.99, "NWC", (4, 5, 3)),
    (BatchNorm1D, False, True, 0.5, "NCW", (4, 3, 5)),
    (BatchNorm2D, False, False, 0.9, "NHWC", (2, 4, 4, 3)),
    (BatchNorm2D, True, True, 0.8, "NCHW", (2, 3, 4, 4)),
]


def _channel_axis(data_format, ndim):
    return 1 if data_format.startswith("NC") or ndim == 2 else ndim - 1


def _haiku(create_scale, create_offset, decay_rate, data_format):
    hk_format = "channels_first" if data_format.startswith("NC") else "channels_last"
    return hk.without_apply_rng(
        hk.transform_with_state(
            lambda x, is_training: hk.BatchNorm(
                create_scale, create_offset, decay_rate, eps=1e-5, data_format=hk_format
            )(x, is_training)
        )
    )


@pytest.mark.parametrize(
    "cls, create_scale, create_offset, decay_rate, data_format, shape",
    CASES,
    ids=[f"{c[0].__name__}-{c[4]}-{c[5]}-{c[1]}{c[2]}" for c in CASES],
)
def test_batch_norm_matches_haiku(cls, create_scale, create_offset, decay_rate, data_format, shape):
    bn = cls(3, create_scale, create_offset, decay_rate, data_format=data_format)
    # PAX 0.5 parameter shapes: 3 on the channel axis of a full-rank input
    param_shape = [1] * (3 if cls is BatchNorm1D else 4)
    param_shape[1 if data_format.startswith("NC") else -1] = 3
    for p in (bn.scale, bn.offset, bn.ema_mean.averages, bn.ema_var.averages):
        assert p is None or p.shape == tuple(param_shape)
    hk_shape = [1] * len(shape)  # haiku's: 3 on the channel axis of the input
    hk_shape[_channel_axis(data_format, len(shape))] = 3

    params = {}
    if create_scale:
        bn = bn.replace(scale=1.0 + randn(1, bn.scale.shape, 0.3))
        params["scale"] = bn.scale.reshape(hk_shape)
    if create_offset:
        bn = bn.replace(offset=randn(2, bn.offset.shape, 0.3))
        params["offset"] = bn.offset.reshape(hk_shape)

    f = _haiku(create_scale, create_offset, decay_rate, data_format)
    xs = randn(10, (5, *shape), 2.0) + np.arange(5.0, dtype=np.float32).reshape(
        5, *[1] * len(shape)
    )
    hk_params, hk_state = jax.eval_shape(lambda x: f.init(_key(0), x, True), xs[0])
    expected_shapes = {"batch_norm": jax.tree_util.tree_map(jnp.shape, params)} if params else {}
    assert jax.tree_util.tree_map(lambda s: s.shape, hk_params) == expected_shapes
    hk_params = {"batch_norm": params} if params else {}
    hk_state = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), hk_state)

    @jax.jit  # one compilation: four training steps and one evaluation, pax and haiku
    def run(bn, hk_state, xs):
        steps = []
        for x in xs[:4]:
            bn, y = pax.purecall(bn, x)
            y_hk, hk_state = f.apply(hk_params, hk_state, x, True)
            steps.append((bn, y, hk_state, y_hk))
        evaluated, y = pax.purecall(bn.eval(), xs[4])
        y_hk, hk_state_after = f.apply(hk_params, hk_state, xs[4], False)
        return steps, (evaluated, y, hk_state_after, y_hk)

    to_numpy = lambda tree: jax.tree_util.tree_map(np.asarray, tree)  # noqa: E731
    steps, (evaluated, y, hk_state_after, y_hk) = to_numpy(run(bn, hk_state, xs))
    bn = to_numpy(bn)
    for t, (bn, y_t, hk_state, y_hk_t) in enumerate(steps, start=1):
        tree_allclose(y_t, y_hk_t, rtol=1e-5, atol=1e-5)  # training: batch statistics
        for ema, name in ((bn.ema_mean, "mean_ema"), (bn.ema_var, "var_ema")):
            hk_ema = hk_state[f"batch_norm/~/{name}"]
            assert int(hk_ema["counter"]) == t
            np.testing.assert_allclose(ema.debias, 1 - decay_rate**t, rtol=1e-5)
            tree_allclose(ema.averages.reshape(3), hk_ema["average"].reshape(3), rtol=1e-5)
        mean, var = bn.moving_statistics()
        tree_allclose(mean, hk_state["batch_norm/~/mean_ema"]["average"].reshape(3), rtol=1e-5)
        tree_allclose(var, hk_state["batch_norm/~/var_ema"]["average"].reshape(3), rtol=1e-5)
    # evaluation: the moving averages, and no update
    tree_allclose(y, y_hk, rtol=1e-5, atol=1e-5)
    tree_allclose(hk_state_after, hk_state)
    tree_allclose(evaluated, bn.eval(), rtol=0, atol=0)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_gradients_match_haiku(training):
    f = _haiku(True, True, 0.5, "NWC")
    x0, x, cot = randn(0, (3, 6, 3), 2.0) + np.array([1.0, 0.0, 0.0], np.float32)[:, None, None]
    weights = randn(1, (2, 1, 1, 3), 0.3)
    bn = BatchNorm1D(3, decay_rate=0.5).replace(scale=1.0 + weights[0], offset=weights[1])
    _, hk_state = jax.eval_shape(lambda x: f.init(_key(0), x, True), x0)
    hk_state = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), hk_state)

    def hk_params(scale, offset):
        return {"batch_norm": {"scale": scale.reshape(1, 3), "offset": offset.reshape(1, 3)}}

    @jax.jit
    def grads(bn, hk_state):
        # one training step first, so that evaluation uses non-trivial averages
        bn, _ = pax.purecall(bn, x0)
        _, hk_state = f.apply(hk_params(bn.scale, bn.offset), hk_state, x0, True)
        bn = bn if training else bn.eval()

        def pax_loss(scale, offset, x):
            _, y = pax.purecall(bn.replace(scale=scale, offset=offset), x)
            return jnp.sum(y * cot)

        def hk_loss(scale, offset, x):
            return jnp.sum(f.apply(hk_params(scale, offset), hk_state, x, training)[0] * cot)

        args = (bn.scale, bn.offset, x)
        return jax.grad(pax_loss, (0, 1, 2))(*args), jax.grad(hk_loss, (0, 1, 2))(*args)

    pax_grads, hk_grads = grads(bn, hk_state)
    tree_allclose(pax_grads, hk_grads, rtol=1e-5, atol=1e-5)


def test_batch_norm_state_is_ema_and_stops_gradients():
    bn = BatchNorm1D(3)
    assert isinstance(bn.ema_mean, EMA) and isinstance(bn.ema_var, EMA)
    assert bn.ema_mean.decay_rate == 0.9 and bn.ema_mean.debias is not None

    def state_after_step(x):
        new, _ = pax.purecall(bn, x)
        return jnp.sum(new.ema_mean.averages) + jnp.sum(new.ema_var.averages)

    grad = jax.grad(state_after_step)(randn(0, (4, 3)))
    np.testing.assert_array_equal(grad, np.zeros((4, 3)))


def test_batch_norm_loads_a_pax_state_dict():
    # the layout of a PAX 0.5 BatchNorm1D(3) state dict, after some training
    state = {
        "scale": np.full((1, 1, 3), 2.0, np.float32),
        "offset": np.full((1, 1, 3), 0.5, np.float32),
        "ema_mean": {"averages": np.full((1, 1, 3), 1.0, np.float32), "debias": np.ones(())},
        "ema_var": {"averages": np.full((1, 1, 3), 4.0, np.float32), "debias": np.ones(())},
    }
    bn = BatchNorm1D(3).load_state_dict(state)
    x = randn(0, (4, 3))
    expected = 2.0 * (x - 1.0) / np.sqrt(4.0 + 1e-5) + 0.5
    np.testing.assert_allclose(bn.eval()(x), expected, rtol=1e-6, atol=1e-6)
    bn, _ = pax.purecall(bn, x)  # debias == 1: a plain moving average from here on
    np.testing.assert_allclose(
        bn.ema_mean.averages.reshape(3), 0.9 * 1.0 + 0.1 * np.mean(x, 0), rtol=1e-6
    )


def test_batch_norm_eval_before_training_is_identity():
    bn = BatchNorm1D(3).eval()
    x = randn(0, (4, 3))
    np.testing.assert_allclose(bn(x), x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_batch_norm_training_needs_pure():
    bn = BatchNorm1D(3)
    with pytest.raises(ValueError, match="pax.pure"):
        bn(randn(0, (4, 3)))


def test_batch_norm_parameters_exclude_state():
    bn = BatchNorm2D(3)
    params = jax.tree_util.tree_leaves(bn.parameters())
    assert [p.shape for p in params] == [(1, 1, 1, 3)] * 2
    assert jax.tree_util.tree_leaves(BatchNorm1D(3, False, False).parameters()) == []
    assert BatchNorm1D(3, False, False).scale is None


def test_batch_norm_repr_and_summary():
    bn = BatchNorm2D(4, decay_rate=0.5, data_format="NCHW", name="bn")
    expected = (
        "(bn) BatchNorm2D(num_channels=4, create_scale=True, create_offset=True, "
        "decay_rate=0.5, eps=1e-05, data_format=NCHW)"
    )
    assert repr(bn) == expected
    assert bn.summary() == expected  # the EMA submodules are not listed (as in PAX)
    assert repr(bn.ema_mean) == "EMA(decay_rate=0.5, debias=True)"


@pytest.mark.parametrize(
    "make, shape, match",
    [
        (lambda: BatchNorm1D(3), (2, 4), r"BatchNorm1D expects inputs of rank 2 \(N, C\) or 3 "),
        (lambda: BatchNorm1D(3), (3,), r"with 3 channels \(data_format='NWC'\), got shape \(3,\)"),
        (lambda: BatchNorm1D(3), (2, 3, 3, 3), r"got shape \(2, 3, 3, 3\)"),
        (lambda: BatchNorm1D(3, data_format="NCW"), (2, 5, 4), r"3 \(N, C, W\) with 3 channels"),
        (lambda: BatchNorm2D(3), (2, 3), r"BatchNorm2D expects inputs of rank 4 \(N, H, W, C\)"),
        (
            lambda: BatchNorm2D(3, data_format="NCHW"),
            (2, 4, 4, 3),
            r"rank 4 \(N, C, H, W\) with 3 channels \(data_format='NCHW'\), got shape",
        ),
    ],
    ids=["1d_channels", "1d_rank1", "1d_rank4", "1d_ncw", "2d_rank", "2d_nchw"],
)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_wrong_inputs_raise(make, shape, match, training):
    bn = make() if training else make().eval()
    with pytest.raises(ValueError, match=match):
        jax.jit(pax.purecall)(bn, jnp.ones(shape))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"decay_rate": 1.0}, ValueError, r"BatchNorm1D: `decay_rate` must be in \[0, 1\)"),
        ({"decay_rate": -0.1}, ValueError, r"`decay_rate` must be in \[0, 1\), got -0.1"),
        ({"decay_rate": True}, TypeError, r"`decay_rate` must be a float"),
        (
            {"data_format": "NHWC"},
            ValueError,
            r"`data_format` must be one of \['NCW', 'NWC', 'channels_first', 'channels_last'\]",
        ),
        ({"num_channels": 0}, ValueError, r"`num_channels` must be a positive int"),
    ],
    ids=["decay_one", "decay_negative", "decay_bool", "data_format", "channels"],
)
def test_batch_norm_bad_arguments_raise(kwargs, error, match):
    kwargs = {"num_channels": 3, **kwargs}
    with pytest.raises(error, match=match):
        BatchNorm1D(**kwargs)


@pytest.mark.parametrize(
    "layer, pax_spelling, generic, x_shape",
    [
        (pax.BatchNorm1D, "NCW", "channels_first", (4, 3, 5)),
        (pax.BatchNorm1D, "NWC", "channels_last", (4, 5, 3)),
        (pax.BatchNorm2D, "NCHW", "channels_first", (2, 3, 4, 5)),
        (pax.BatchNorm2D, "NHWC", "channels_last", (2, 4, 5, 3)),
    ],
)
def test_batch_norm_accepts_the_generic_data_format_names(layer, pax_spelling, generic, x_shape):
    x = jax.random.normal(jax.random.PRNGKey(0), x_shape)
    a, b = layer(3, data_format=pax_spelling), layer(3, data_format=generic)
    assert a.scale.shape == b.scale.shape
    (a, ya), (b, yb) = pax.purecall(a, x), pax.purecall(b, x)
    np.testing.assert_allclose(np.asarray(ya), np.asarray(yb), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(a.ema_mean.averages), np.asarray(b.ema_mean.averages), rtol=1e-6
    )
    assert b.data_format == a.data_format == pax_spelling  # one spelling is stored
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
