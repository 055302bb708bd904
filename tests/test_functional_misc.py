"""pax.functional array operations (the seed's "misc" functions) against numpy."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax.functional as F
from pax._src.functional.misc import Interpolate


def _x(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def np_linear_axis(x, axis, out_len):
    """Half-pixel linear interpolation along ``axis`` (upsampling: clamp at the edges)."""
    in_len = x.shape[axis]
    src = np.clip((np.arange(out_len) + 0.5) * in_len / out_len - 0.5, 0, in_len - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, in_len - 1)
    shape = [1] * x.ndim
    shape[axis] = out_len
    frac = (src - i0).reshape(shape)
    return (1 - frac) * np.take(x, i0, axis) + frac * np.take(x, i1, axis)


def np_nearest_axis(x, axis, out_len):
    in_len = x.shape[axis]
    return np.take(x, np.floor((np.arange(out_len) + 0.5) * in_len / out_len).astype(int), axis)


def np_resize(x, out_shape, method):
    axis_fn = np_linear_axis if method == "linear" else np_nearest_axis
    y = x.astype(np.float64)
    for axis, n in enumerate(out_shape):
        if n != y.shape[axis]:
            y = axis_fn(y, axis, n)
    return y


# ---- dynamic_slice, flatten -------------------------------------------------------------


@pytest.mark.parametrize(
    "start, sizes, expected_start",
    [((1, 2), (2, 3), (1, 2)), ((0, 0), (3, 5), (0, 0)), ((2, 4), (2, 3), (1, 2))],
    ids=["inside", "whole", "overrun_clamped"],
)
def test_dynamic_slice_matches_numpy(start, sizes, expected_start):
    x = np.arange(15).reshape(3, 5)
    r, c = expected_start
    ref = x[r : r + sizes[0], c : c + sizes[1]]
    np.testing.assert_array_equal(F.dynamic_slice(x, start, sizes), ref)
    traced = jax.jit(lambda v, i: F.dynamic_slice(v, (i, start[1]), sizes))(x, start[0])
    np.testing.assert_array_equal(traced, ref)


@pytest.mark.parametrize("shape", [(2, 3, 4), (5,), (3, 1, 2, 2)])
def test_flatten_matches_numpy(shape):
    x = np.arange(np.prod(shape)).reshape(shape)
    np.testing.assert_array_equal(F.flatten(x), x.reshape(shape[0], int(np.prod(shape[1:]))))


# ---- interpolate, upsample_2d, upscale_nn -----------------------------------------------


@pytest.mark.parametrize(
    "shape, kwargs, out_shape",
    [
        ((2, 3, 4), {"scale_factor": 2}, (2, 6, 8)),  # every axis but the first
        ((2, 3, 4, 5), {"scale_factor": (2, 3)}, (2, 3, 8, 15)),
        ((2, 3, 4), {"scale_factor": (1, 2, 3)}, (2, 6, 12)),
        ((2, 3, 4), {"size": 7}, (2, 3, 7)),  # the last axis
        ((2, 3, 4, 5), {"size": (5, 7)}, (2, 3, 5, 7)),
        ((2, 3), {"size": (5, 7)}, (5, 7)),
    ],
)
@pytest.mark.parametrize("mode", ["nearest", Interpolate.BILINEAR])
def test_interpolate_shapes_and_values(shape, kwargs, out_shape, mode):
    x = _x(0, shape)
    y = F.interpolate(x, mode=mode, **kwargs)
    assert y.shape == out_shape
    ref = np_resize(x, out_shape, "nearest" if mode == "nearest" else "linear")
    tree_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["NEAREST", Interpolate.NEAREST, "Nearest"])
def test_interpolate_mode_accepts_enum_and_any_case(mode):
    x = _x(1, (3, 4))
    tree_allclose(
        F.interpolate(x, size=(5, 7), mode=mode), np_nearest_axis(np_nearest_axis(x, 0, 5), 1, 7)
    )


@pytest.mark.parametrize("scale", [2, (2, 3), (1, 2)], ids=str)
@pytest.mark.parametrize("method", ["bilinear", "nearest", Interpolate.LINEAR])
def test_upsample_2d_matches_numpy(scale, method):
    x = _x(2, (2, 3, 4, 5))
    s0, s1 = (scale, scale) if isinstance(scale, int) else scale
    y = F.upsample_2d(x, scale, method)
    assert y.shape == (2, 3, 4 * s0, 5 * s1)
    kind = "nearest" if method == "nearest" else "linear"
    tree_allclose(y, np_resize(x, y.shape, kind), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["cubic", "lanczos3"])
def test_upsample_2d_other_methods_resize_the_spatial_axes(method):
    # Objax's definition: jax.image.resize of the NHWC image.
    x = _x(3, (2, 3, 4, 5))
    nhwc = jax.image.resize(x.transpose(0, 2, 3, 1), (2, 8, 15, 3), method).transpose(0, 3, 1, 2)
    tree_allclose(F.upsample_2d(x, (2, 3), method), nhwc, rtol=1e-5, atol=1e-5)


def test_upsample_2d_default_is_bilinear():
    x = _x(4, (1, 2, 3, 4))
    tree_allclose(F.upsample_2d(x, 2), np_resize(x, (1, 2, 6, 8), "linear"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_upscale_nn_matches_index_formula(scale):
    x = _x(5, (2, 3, 4, 5))
    h = np.arange(4 * scale) // scale
    w = np.arange(5 * scale) // scale
    np.testing.assert_array_equal(F.upscale_nn(x, scale), x[:, :, h[:, None], w[None, :]])
    if scale == 2:
        np.testing.assert_array_equal(F.upscale_nn(x), F.upsample_2d(x, 2, "nearest"))


# ---- one_hot, pad, scan, stop_gradient, top_k, rsqrt ------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot_matches_numpy(axis):
    idx = np.array([[0, 2, 3], [-1, 1, 4]])  # 4 and -1 are out of range
    ref = np.concatenate([np.eye(4), np.zeros((1, 4))])[np.where((idx >= 0) & (idx < 4), idx, 4)]
    out = F.one_hot(idx, 4, axis=axis)
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(out, np.moveaxis(ref, -1, axis))
    assert F.one_hot(idx, 4, dtype=jnp.int8).dtype == jnp.int8


@pytest.mark.parametrize(
    "pad_width, mode, kwargs",
    [
        (((1, 2), (0, 3)), None, {}),
        (((1, 2), (0, 3)), "constant", {"constant_values": ((4, 5), (6, 7))}),
        (2, "edge", {}),
        ((1, 3), "reflect", {}),
        (((2, 1), (3, 2)), "symmetric", {"reflect_type": "odd"}),
        (((1, 1), (2, 4)), "wrap", {}),
        (((2, 0), (1, 2)), "linear_ramp", {"end_values": ((1, -1), (2, 0))}),
        (((2, 1), (1, 2)), "maximum", {"stat_length": 2}),
        (((1, 1), (2, 2)), "mean", {}),
    ],
    ids=["default", "constant", "edge", "reflect", "symmetric_odd", "wrap", "ramp", "max", "mean"],
)
def test_pad_matches_numpy(pad_width, mode, kwargs):
    x = _x(6, (3, 4))
    args = () if mode is None else (mode,)
    tree_allclose(F.pad(x, pad_width, *args, **kwargs), np.pad(x, pad_width, *args, **kwargs))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("unroll", [1, 2])
def test_scan_matches_python_loop(reverse, unroll):
    xs = {"a": _x(7, (5, 3)), "b": np.arange(5.0, dtype=np.float32)}

    def f(carry, x):
        total, count = carry
        total = 0.5 * total + x["a"] * x["b"]
        return (total, count + 1), total.sum()

    carry = (np.zeros(3), 0)
    ys = [None] * 5
    order = range(4, -1, -1) if reverse else range(5)
    for t in order:
        carry, ys[t] = f(carry, {"a": xs["a"][t], "b": xs["b"][t]})
    (total, count), out = F.scan(f, (jnp.zeros(3), 0), xs, reverse=reverse, unroll=unroll)
    tree_allclose(total, carry[0], rtol=1e-5)
    assert int(count) == 5
    tree_allclose(out, np.array(ys), rtol=1e-5)


def test_scan_without_xs_uses_length():
    carry, ys = F.scan(lambda c, _: (c * 2, c), 1, None, length=4)
    assert int(carry) == 16
    np.testing.assert_array_equal(ys, [1, 2, 4, 8])


def test_stop_gradient_blocks_gradients_and_is_identity():
    x = _x(8, (2, 3))
    tree_allclose(F.stop_gradient({"x": x, "y": (x,)}), {"x": x, "y": (x,)})
    grad = jax.grad(lambda v: jnp.sum(v**2 + F.stop_gradient(v**3)))(x)
    tree_allclose(grad, 2 * x)


@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_top_k_matches_numpy(k):
    x = np.random.default_rng(9).permutation(21).reshape(3, 7).astype(np.float32)
    order = np.argsort(-x, axis=-1)[:, :k]
    values, indices = F.top_k(x, k)
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(values, np.take_along_axis(x, order, -1))


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_rsqrt_matches_numpy(dtype):
    x = (np.abs(_x(10, (3, 4))) * 10 + 0.1).astype(dtype)
    out = F.rsqrt(x)
    assert jnp.issubdtype(out.dtype, jnp.floating)
    tree_allclose(out, 1 / np.sqrt(x.astype(np.float64)), rtol=1e-5)


# ---- errors and signatures --------------------------------------------------------------

ERRORS = [
    (
        lambda: F.interpolate(jnp.zeros((2, 3)), size=4, mode="bogus"),
        r"unknown interpolation method 'bogus'",
    ),
    (lambda: F.upsample_2d(jnp.zeros((1, 1, 2, 2)), 2, "area51"), r"unknown interpolation method"),
    (lambda: F.interpolate(jnp.zeros((2, 3))), r"exactly one of `size` and `scale_factor`"),
    (lambda: F.interpolate(jnp.zeros((2, 3)), size=2, scale_factor=2), r"exactly one of"),
    (lambda: F.interpolate(jnp.zeros((2, 3)), size=(1, 2, 3)), r"more entries than the input"),
    (lambda: F.interpolate(jnp.zeros((2, 3)), scale_factor=(1, 2, 3)), r"more entries"),
    (
        lambda: F.interpolate(jnp.zeros((2, 3)), scale_factor=0),
        r"`scale_factor` must be a positive",
    ),
    (lambda: F.interpolate(jnp.zeros((2, 3)), size=(2, 1.5)), r"`size` must be a positive int"),
    (lambda: F.upsample_2d(jnp.zeros((1, 2, 2)), 2), r"rank 4 .* use interpolate"),
    (lambda: F.upsample_2d(jnp.zeros((1, 1, 2, 2)), (2, 0)), r"`scale` must be positive"),
    (lambda: F.upscale_nn(jnp.zeros((1, 1, 2, 2)), 0), r"`scale` must be a positive int"),
    (lambda: F.upscale_nn(jnp.zeros((1, 2, 2))), r"upscale_nn expects inputs of rank 4"),
    (lambda: F.top_k(jnp.zeros((2, 3)), 4), r"`k` must be an int in \[0, 3\]"),
    (lambda: F.flatten(jnp.zeros(())), r"at least one dimension"),
]


@pytest.mark.parametrize("call, match", ERRORS, ids=[m for _, m in ERRORS])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


SIGNATURES = {
    "dynamic_slice": ["operand", "start_indices", "slice_sizes"],
    "flatten": ["x"],
    "interpolate": ["input", "size=None", "scale_factor=None", "mode=Interpolate.BILINEAR"],
    "one_hot": ["x", "num_classes", "dtype=None", "axis=-1"],
    "pad": ["array", "pad_width", "mode='constant'", "kwargs"],
    "scan": ["f", "init", "xs", "length=None", "reverse=False", "unroll=1"],
    "stop_gradient": ["x"],
    "top_k": ["operand", "k"],
    "rsqrt": ["x"],
    "upsample_2d": ["x", "scale", "method=Interpolate.BILINEAR"],
    "upscale_nn": ["x", "scale=2"],
}


def _param(p):
    if p.default is p.empty:
        return p.name
    default = p.default
    shown = f"Interpolate.{default.name}" if isinstance(default, Interpolate) else repr(default)
    return f"{p.name}={shown}"


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_matches_seed(name):
    params = inspect.signature(getattr(F, name)).parameters.values()
    assert [_param(p) for p in params] == SIGNATURES[name]
