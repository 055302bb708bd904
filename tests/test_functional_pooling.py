"""pax.functional pooling and space/batch/channel rearrangements (NCHW) against numpy."""

import inspect
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax.functional as F
from pax._src.nn.padding import ConvPadding


def _x(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _pads(length, k, s, padding, dim):
    if padding in ("VALID", ConvPadding.VALID):
        return 0, 0
    if padding in ("SAME", "same", ConvPadding.SAME):
        out = -(-length // s)
        total = max((out - 1) * s + k - length, 0)
        return total // 2, total - total // 2
    if isinstance(padding, int):
        return padding, padding
    if isinstance(padding[0], int):
        return tuple(padding)
    return tuple(padding[dim])


def np_pool(x, size, strides, padding, kind):
    """Sliding-window pooling by explicit loops over the output positions."""
    k = (size, size) if isinstance(size, int) else size
    s = k if strides is None else ((strides, strides) if isinstance(strides, int) else strides)
    n, c, h, w = x.shape
    (ph0, ph1), (pw0, pw1) = (_pads(h, k[0], s[0], padding, 0), _pads(w, k[1], s[1], padding, 1))
    fill = 0.0 if kind == "avg" else -np.inf
    xp = np.full((n, c, h + ph0 + ph1, w + pw0 + pw1), fill, np.float64)
    xp[:, :, ph0 : ph0 + h, pw0 : pw0 + w] = x
    oh = (xp.shape[2] - k[0]) // s[0] + 1
    ow = (xp.shape[3] - k[1]) // s[1] + 1
    out = np.zeros((n, c, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        win = xp[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
        out[:, :, i, j] = win.sum((2, 3)) / (k[0] * k[1]) if kind == "avg" else win.max((2, 3))
    return out


POOL_CASES = [
    # (size, strides, padding)
    (2, None, "VALID"),
    (2, None, ConvPadding.SAME),
    ((3, 2), None, "SAME"),
    (3, 1, "same"),
    ((2, 3), (1, 2), ConvPadding.VALID),
    (3, 2, "SAME"),
    (2, (2, 1), 1),
    ((3, 2), 1, (1, 2)),
    (3, (2, 3), ((0, 1), (2, 0))),
]


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("size, strides, padding", POOL_CASES)
def test_pool_matches_numpy(kind, size, strides, padding):
    x = _x(0, (2, 3, 7, 10))
    fn = F.average_pool_2d if kind == "avg" else F.max_pool_2d
    out = fn(x, size=size, strides=strides, padding=padding)
    ref = np_pool(x, size, strides, padding, kind)
    assert out.shape == ref.shape
    tree_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_pool_defaults_are_size_2_stride_size_valid():
    x = _x(1, (1, 2, 5, 6))
    tree_allclose(F.max_pool_2d(x), np_pool(x, 2, None, "VALID", "max"))
    tree_allclose(F.average_pool_2d(x), np_pool(x, 2, None, "VALID", "avg"))
    assert F.max_pool_2d(x).shape == (1, 2, 2, 3)


def test_max_pool_integer_inputs_with_padding():
    x = np.random.default_rng(2).integers(-50, 50, size=(1, 2, 5, 4)).astype(np.int32)
    out = F.max_pool_2d(x, 2, 2, "SAME")
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(out, np_pool(x, 2, None, "SAME", "max").astype(np.int32))


def test_pool_gradients():
    # Non-overlapping windows: d(sum avg_pool)/dx = 1 / window size; d(sum max_pool)/dx is
    # one at each window's maximum.
    x = _x(3, (2, 1, 4, 6))
    g_avg = jax.grad(lambda v: F.average_pool_2d(v, (2, 3)).sum())(x)
    tree_allclose(g_avg, np.full(x.shape, 1 / 6, np.float32))
    g_max = np.asarray(jax.grad(lambda v: F.max_pool_2d(v, (2, 3)).sum())(x))
    blocks = x.reshape(2, 1, 2, 2, 2, 3)
    is_max = blocks == blocks.max(axis=(3, 5), keepdims=True)
    np.testing.assert_array_equal(g_max, is_max.reshape(x.shape).astype(np.float32))


# Element-wise layouts (s0, s1 = size):
#   space_to_batch2d:   y[n * s0 * s1 + i * s1 + j, c, h, w] = x[n, c, h * s0 + i, w * s1 + j]
#   space_to_channel2d: y[n, c * s0 * s1 + i * s1 + j, h, w] = x[n, c, h * s0 + i, w * s1 + j]
def _space_to_blocks_ref(x, s0, s1, into):
    n, c, h, w = x.shape
    block = s0 * s1
    shape = (
        (n * block, c, h // s0, w // s1) if into == "batch" else (n, c * block, h // s0, w // s1)
    )
    y = np.zeros(shape, x.dtype)
    for ni, ci, hi, wi in itertools.product(range(n), range(c), range(h), range(w)):
        i, j = hi % s0, wi % s1
        if into == "batch":
            y[ni * block + i * s1 + j, ci, hi // s0, wi // s1] = x[ni, ci, hi, wi]
        else:
            y[ni, ci * block + i * s1 + j, hi // s0, wi // s1] = x[ni, ci, hi, wi]
    return y


SIZES = [2, (2, 3), (1, 2), [3, 1]]


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize(
    "forward, inverse, into",
    [
        (F.space_to_batch2d, F.batch_to_space2d, "batch"),
        (F.space_to_channel2d, F.channel_to_space2d, "channel"),
    ],
    ids=["batch", "channel"],
)
def test_space_to_blocks_layout_and_round_trip(size, forward, inverse, into):
    s0, s1 = _pair(size)
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)[:, :, : 2 * s0, : 3 * s1]
    x = np.ascontiguousarray(x)
    y = forward(x, size)
    ref = _space_to_blocks_ref(x, s0, s1, into)
    assert y.shape == ref.shape
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(inverse(y, size), x)


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize(
    "fn, into",
    [(F.batch_to_space2d, "batch"), (F.channel_to_space2d, "channel")],
    ids=["batch", "channel"],
)
def test_blocks_to_space_is_inverse_of_the_layout(size, fn, into):
    s0, s1 = _pair(size)
    block = s0 * s1
    shape = (2 * block, 3, 2, 5) if into == "batch" else (2, 3 * block, 2, 5)
    y = _x(4, shape)
    out = np.asarray(fn(y, size))
    assert out.shape == (2, 3, 2 * s0, 5 * s1)
    np.testing.assert_array_equal(_space_to_blocks_ref(out, s0, s1, into), y)


def test_default_block_size_is_2():
    x = _x(5, (1, 2, 4, 6))
    assert F.space_to_batch2d(x).shape == (4, 2, 2, 3)
    assert F.space_to_channel2d(x).shape == (1, 8, 2, 3)
    assert F.batch_to_space2d(_x(5, (4, 1, 2, 3))).shape == (1, 1, 4, 6)
    assert F.channel_to_space2d(_x(5, (1, 4, 2, 3))).shape == (1, 1, 4, 6)


ERRORS = [
    (lambda: F.max_pool_2d(jnp.zeros((3, 4, 5))), r"max_pool_2d expects inputs of rank 4"),
    (lambda: F.average_pool_2d(jnp.zeros((1, 1, 4, 4)), size=0), r"`size` must be positive"),
    (lambda: F.average_pool_2d(jnp.zeros((1, 1, 4, 4)), size=(2,)), r"`size` must be an int"),
    (lambda: F.max_pool_2d(jnp.zeros((1, 1, 4, 4)), strides=(1, 0)), r"`strides` must be"),
    (lambda: F.max_pool_2d(jnp.zeros((1, 1, 4, 4)), padding="FULL"), r"Unknown padding 'FULL'"),
    (lambda: F.max_pool_2d(jnp.zeros((1, 1, 4, 4)), padding=(1, 2, 3)), r"`padding` must be"),
    (lambda: F.max_pool_2d(jnp.zeros((1, 1, 4, 4)), padding=-1), r"non-negative"),
    (lambda: F.space_to_batch2d(jnp.zeros((1, 1, 5, 4))), r"height 5 is not divisible by"),
    (lambda: F.space_to_channel2d(jnp.zeros((1, 1, 4, 6)), (2, 4)), r"width 6 is not divisible"),
    (lambda: F.batch_to_space2d(jnp.zeros((6, 1, 2, 2)), 2), r"batch size 6 is not divisible"),
    (lambda: F.channel_to_space2d(jnp.zeros((1, 5, 2, 2))), r"channels 5 is not divisible"),
    (lambda: F.space_to_batch2d(jnp.zeros((4, 4))), r"space_to_batch2d expects inputs of rank 4"),
]


@pytest.mark.parametrize("call, match", ERRORS, ids=[m for _, m in ERRORS])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_errors_raise_under_jit():
    with pytest.raises(ValueError, match="not divisible"):
        jax.jit(F.space_to_channel2d)(jnp.zeros((1, 1, 3, 4)))


def test_signatures_match_seed():
    for fn in (F.average_pool_2d, F.max_pool_2d):
        params = inspect.signature(fn).parameters
        assert list(params) == ["x", "size", "strides", "padding"]
        assert (params["size"].default, params["strides"].default) == (2, None)
        assert params["padding"].default is ConvPadding.VALID
    for fn in (F.batch_to_space2d, F.channel_to_space2d, F.space_to_batch2d, F.space_to_channel2d):
        params = inspect.signature(fn).parameters
        assert list(params) == ["x", "size"] and params["size"].default == 2
