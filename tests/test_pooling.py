"""avg_pool and max_pool: against a numpy loop reference and haiku's hk.avg_pool /
hk.max_pool, window/stride inference, gradients and the error messages."""

import warnings

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax
from pax._src.nn.pooling import avg_pool, max_pool

POOLS = {"avg": (avg_pool, hk.avg_pool), "max": (max_pool, hk.max_pool)}


def _x(seed, shape, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _full(size, ndim, channel_axis):
    """haiku's rule: an int applies to every axis but the first and the channel axis."""
    if isinstance(size, int):
        skip = None if channel_axis is None else channel_axis % ndim
        return (1,) + tuple(1 if d == skip else size for d in range(1, ndim))
    return (1,) * (ndim - len(size)) + tuple(size)


def np_pool(x, window, strides, padding, kind):
    """Sliding-window pooling by explicit loops over every output position."""
    x = np.asarray(x, np.float64)
    starts, pads = [], []
    for n, k, s in zip(x.shape, window, strides):
        if padding == "VALID":
            out, low = (n - k) // s + 1, 0
        else:  # SAME: ceil(n / s) outputs, the padding split with the extra one at the end
            out = -(-n // s)
            low = max((out - 1) * s + k - n, 0) // 2
        starts.append([i * s - low for i in range(out)])
        pads.append(low)
    y = np.zeros([len(s) for s in starts])
    for index in np.ndindex(*y.shape):
        region = tuple(
            slice(max(st[i], 0), min(st[i] + k, n))
            for st, i, k, n in zip(starts, index, window, x.shape)
        )
        values = x[region]
        y[index] = values.mean() if kind == "avg" else values.max()
    return y


# (input shape, window_shape, strides, channel_axis): non-square, int and partial sizes
POOL_CASES = [
    ((2, 5, 7, 3), (2, 3, 1), (2, 2, 1), -1),
    ((2, 6, 5, 2), (3, 3, 1), (1, 2, 1), -1),
    ((2, 5, 7, 3), 2, 2, -1),  # ints: every spatial axis, not the channels
    ((2, 3, 5, 7), 3, (1, 1, 2, 3), 1),  # channels-first
    ((3, 5, 3), (2, 1), (2, 1), -1),  # PAX's test: missing leading entries are 1
    ((2, 7), 3, 2, None),  # no channel axis
    ((2, 4, 6, 1), (4, 6, 1), (4, 6, 1), -1),  # one window over everything
]
CASE_IDS = ["nhwc", "overlap", "int", "nchw", "partial", "no_channels", "global"]


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("shape, window, strides, channel_axis", POOL_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_matches_numpy_and_haiku(kind, shape, window, strides, channel_axis, padding):
    ours, theirs = POOLS[kind]
    x = _x(0, shape)
    y = ours(x, window, strides, padding, channel_axis)
    expected = np_pool(
        x,
        _full(window, x.ndim, channel_axis),
        _full(strides, x.ndim, channel_axis),
        padding,
        kind,
    )
    assert y.shape == expected.shape and y.dtype == jnp.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():  # haiku warns about int sizes under vmap
        warnings.simplefilter("ignore", DeprecationWarning)
        hk_y = theirs(x, window, strides, padding, channel_axis)
    tree_allclose(y, hk_y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_gradients_match_haiku(kind):
    ours, theirs = POOLS[kind]
    x = jnp.asarray(_x(1, (2, 5, 6, 3)))
    cotangent = jnp.asarray(_x(2, (2, 3, 3, 3)))

    def loss(pool):
        return lambda x: jnp.sum(pool(x, (2, 3, 1), (2, 2, 1), "SAME") * cotangent)

    @jax.jit
    def grads(x):
        return jax.grad(loss(ours))(x), jax.grad(loss(theirs))(x)

    g, hk_g = grads(x)
    tree_allclose(g, hk_g, rtol=1e-6, atol=1e-6)
    if kind == "avg":  # each entry gets the cotangents of its windows over their counts
        assert bool(jnp.all(g != 0))
    else:  # only the window maxima get gradient
        assert int(jnp.sum(g != 0)) <= cotangent.size


@pytest.mark.parametrize("padding", ["same", "Valid", pax.ConvPadding.SAME, pax.ConvPadding.VALID])
def test_padding_forms(padding):
    x = _x(3, (1, 5, 4, 2))
    name = str(padding).upper()
    for ours, theirs in POOLS.values():
        expected = theirs(x, (1, 2, 3, 1), (1, 2, 2, 1), name)
        tree_allclose(ours(x, (2, 3, 1), (2, 2, 1), padding), expected, rtol=0, atol=0)


def test_jit_and_vmap():
    x = jnp.asarray(_x(4, (3, 2, 6, 5, 2)))
    f = jax.jit(lambda x: avg_pool(x, (2, 2, 1), (2, 2, 1), "SAME"))
    tree_allclose(f(x[0]), avg_pool(x[0], (2, 2, 1), (2, 2, 1), "SAME"))
    # a full unbatched window works per example under vmap
    per_example = jax.vmap(lambda e: max_pool(e, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"))(x)
    tree_allclose(per_example, jnp.stack([max_pool(e, (2, 2, 1), (2, 2, 1), "VALID") for e in x]))


def test_integer_inputs():
    x = np.random.default_rng(5).integers(-50, 50, size=(2, 5, 3, 1)).astype(np.int32)
    y = max_pool(x, (2, 2, 1), (2, 2, 1), "SAME")
    assert y.dtype == jnp.int32
    np.testing.assert_array_equal(y, np_pool(x, (1, 2, 2, 1), (1, 2, 2, 1), "SAME", "max"))
    z = avg_pool(x, (2, 2, 1), (2, 2, 1), "SAME")
    assert z.dtype == jnp.float32
    np.testing.assert_allclose(z, np_pool(x, (1, 2, 2, 1), (1, 2, 2, 1), "SAME", "avg"), 1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(padding="FULL"), ValueError, r"`padding` must be 'SAME' or 'VALID' .* 'FULL'"),
        (dict(padding=[(1, 1)] * 4), ValueError, r"`padding` must be 'SAME' or 'VALID'"),
        (dict(window_shape=0), ValueError, "`window_shape` must be positive, got 0"),
        (dict(strides=(2, 0)), ValueError, r"`strides` must be a positive int or a sequence"),
        (
            dict(window_shape=(1, 1, 2, 2, 1)),
            ValueError,
            r"`window_shape` \(1, 1, 2, 2, 1\) has more entries than the input has axes "
            r"\(shape \(2, 4, 4, 3\)\)",
        ),
        (
            dict(channel_axis=4),
            ValueError,
            r"`channel_axis` 4 is out of range for an input of shape \(2, 4, 4, 3\)",
        ),
    ],
    ids=["padding", "padding_pairs", "window", "strides", "window_rank", "channel_axis"],
)
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_bad_arguments_raise(kind, kwargs, error, match):
    pool = POOLS[kind][0]
    args = dict(window_shape=2, strides=2, padding="SAME")
    args.update(kwargs)
    with pytest.raises(error, match=f"{kind}_pool: {match}"):
        pool(jnp.zeros((2, 4, 4, 3)), **args)


def test_max_pool_rejects_booleans():
    with pytest.raises(TypeError, match="max_pool: expects a float or integer array, got dtype"):
        max_pool(jnp.zeros((2, 4, 4, 3), bool), 2, 2, "SAME")
