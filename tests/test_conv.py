"""Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose: against haiku with equal weights
(outputs and gradients), shapes, initializers, repr and the error messages."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key

import pax
from pax._src.nn.conv import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose
from pax._src.nn.initializers import truncated_normal

# Weights and inputs come from numpy: each new shape drawn with jax.random costs a
# compilation, about a second on 2 busy cores.


def normal(seed: int, shape, scale: float = 1.0) -> jax.Array:
    """A float32 standard normal array (times ``scale``), drawn with numpy."""
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32)


def np_init(seed: int):
    """An initializer in JAX's convention drawing from numpy (unit variance)."""

    def init(rng_key, shape, dtype=jnp.float32):
        del rng_key
        return normal(seed, shape).astype(dtype)

    return init


def make(cls, *args, **kwargs):
    kwargs.setdefault("w_init", np_init(1))
    kwargs.setdefault("b_init", np_init(2))
    return cls(*args, rng_key=key(0), **kwargs)


# -- against haiku --------------------------------------------------------------------

HAIKU = {
    Conv1D: (hk.Conv1D, "conv1_d"),
    Conv2D: (hk.Conv2D, "conv2_d"),
    Conv1DTranspose: (hk.Conv1DTranspose, "conv1_d_transpose"),
    Conv2DTranspose: (hk.Conv2DTranspose, "conv2_d_transpose"),
}


def haiku_padding(padding, ndim):
    """The same padding in a form haiku takes (it has no ints and no ConvPadding)."""
    if isinstance(padding, pax.ConvPadding):
        return padding.value
    if isinstance(padding, int):
        return [(padding, padding)] * ndim
    return padding


# (id, class, constructor kwargs, input shape); unbatched inputs are included
CONV_CASES = [
    ("c1d_same", Conv1D, dict(in_features=3, out_features=4, kernel_shape=3), (2, 7, 3)),
    ("c1d_unbatched", Conv1D, dict(in_features=3, out_features=4, kernel_shape=3), (7, 3)),
    (
        "c1d_valid_stride_rate",
        Conv1D,
        dict(in_features=3, out_features=2, kernel_shape=3, stride=2, rate=2, padding="VALID"),
        (2, 9, 3),
    ),
    (
        "c1d_pairs_ncw",
        Conv1D,
        dict(in_features=3, out_features=4, kernel_shape=2, padding=[(2, 1)], data_format="NCW"),
        (2, 3, 7),
    ),
    (
        "c1d_groups_no_bias",
        Conv1D,
        dict(
            in_features=4,
            out_features=6,
            kernel_shape=3,
            stride=2,
            padding=pax.ConvPadding.SAME,
            with_bias=False,
            feature_group_count=2,
        ),
        (2, 8, 4),
    ),
    (
        "c1d_int_padding",
        Conv1D,
        dict(in_features=2, out_features=3, kernel_shape=(4,), padding=1, rate=(2,)),
        (2, 8, 2),
    ),
    ("c2d_same", Conv2D, dict(in_features=3, out_features=4, kernel_shape=3), (2, 6, 5, 3)),
    (
        "c2d_nchw_valid_stride_rate",
        Conv2D,
        dict(
            in_features=3,
            out_features=4,
            kernel_shape=(2, 3),
            stride=(2, 1),
            rate=(1, 2),
            padding="valid",
            data_format="NCHW",
        ),
        (2, 3, 7, 8),
    ),
    (
        "c2d_nchw_unbatched",
        Conv2D,
        dict(in_features=3, out_features=2, kernel_shape=3, data_format="NCHW"),
        (3, 5, 6),
    ),
    (
        "c2d_pairs_stride",
        Conv2D,
        dict(in_features=2, out_features=3, kernel_shape=3, stride=2, padding=[(1, 0), (2, 1)]),
        (2, 7, 6, 2),
    ),
    (
        "c2d_one_pair",
        Conv2D,
        dict(in_features=2, out_features=3, kernel_shape=(3, 2), padding=(1, 2)),
        (2, 5, 6, 2),
    ),
    (
        "c2d_groups_nchw_no_bias",
        Conv2D,
        dict(
            in_features=4,
            out_features=6,
            kernel_shape=3,
            padding="same",
            with_bias=False,
            data_format="NCHW",
            feature_group_count=2,
        ),
        (2, 4, 5, 5),
    ),
    (
        "c2d_convpadding_valid",
        Conv2D,
        dict(in_features=3, out_features=2, kernel_shape=2, padding=pax.ConvPadding.VALID),
        (1, 4, 5, 3),
    ),
    (
        "c1dt_same_stride",
        Conv1DTranspose,
        dict(in_features=3, out_features=4, kernel_shape=4, stride=2),
        (2, 5, 3),
    ),
    (
        "c1dt_valid_ncw_unbatched",
        Conv1DTranspose,
        dict(
            in_features=3,
            out_features=2,
            kernel_shape=3,
            stride=3,
            padding="VALID",
            data_format="NCW",
        ),
        (3, 4),
    ),
    (
        "c1dt_pairs_no_bias",
        Conv1DTranspose,
        dict(in_features=2, out_features=3, kernel_shape=3, padding=[(1, 2)], with_bias=False),
        (2, 5, 2),
    ),
    (
        "c2dt_same_stride",
        Conv2DTranspose,
        dict(in_features=3, out_features=2, kernel_shape=3, stride=2),
        (2, 4, 3, 3),
    ),
    (
        "c2dt_nchw_valid_no_bias",
        Conv2DTranspose,
        dict(
            in_features=2,
            out_features=3,
            kernel_shape=(2, 3),
            stride=(2, 1),
            padding="VALID",
            with_bias=False,
            data_format="NCHW",
        ),
        (2, 2, 3, 4),
    ),
    (
        "c2dt_pairs",
        Conv2DTranspose,
        dict(in_features=2, out_features=2, kernel_shape=3, padding=[(2, 1), (1, 1)]),
        (1, 4, 5, 2),
    ),
]


@pytest.mark.parametrize(
    "cls, kwargs, shape", [c[1:] for c in CONV_CASES], ids=[c[0] for c in CONV_CASES]
)
def test_matches_haiku(cls, kwargs, shape):
    layer = make(cls, **kwargs)
    x = normal(3, shape)
    hk_cls, hk_name = HAIKU[cls]
    n = cls._NDIM
    hk_kwargs = {
        k: v for k, v in kwargs.items() if k not in ("in_features", "out_features", "padding")
    }
    hk_kwargs["padding"] = haiku_padding(kwargs.get("padding", "SAME"), n)
    f = hk.without_apply_rng(hk.transform(lambda x: hk_cls(kwargs["out_features"], **hk_kwargs)(x)))
    # the same weight shapes as haiku's (bias: haiku keeps singleton spatial axes)
    hk_shapes = jax.eval_shape(f.init, key(0), x)[hk_name]
    assert hk_shapes["w"].shape == layer.weight.shape
    channels_first = layer.data_format[1] == "C"
    if layer.bias is None:
        assert "b" not in hk_shapes
    else:
        assert hk_shapes["b"].shape == (layer.out_features,) + (1,) * n * channels_first

    def hk_params(layer):
        params = {"w": layer.weight}
        if layer.bias is not None:
            params["b"] = layer.bias.reshape(hk_shapes["b"].shape)
        return {hk_name: params}

    out_shape = jax.eval_shape(layer, x).shape
    cotangent = normal(4, out_shape)

    @jax.jit
    def both(layer, x):
        def ours(layer, x):
            return jnp.sum(layer(x) * cotangent)

        def theirs(layer, x):
            return jnp.sum(f.apply(hk_params(layer), x) * cotangent)

        return (
            (layer(x), jax.grad(ours, argnums=(0, 1))(layer, x)),
            (f.apply(hk_params(layer), x), jax.grad(theirs, argnums=(0, 1))(layer, x)),
        )

    (y, grads), (hk_y, hk_grads) = both(layer, x)
    assert y.shape == hk_y.shape == out_shape and y.dtype == jnp.float32
    tree_allclose(y, hk_y, rtol=1e-5, atol=1e-5)
    tree_allclose(grads, hk_grads, rtol=1e-5, atol=1e-5)


# -- shapes, weights, initializers ------------------------------------------------------


@pytest.mark.parametrize(
    "cls, kwargs, in_shape, out_shape",
    [
        (Conv1D, dict(kernel_shape=3, stride=2), (2, 9, 3), (2, 5, 4)),
        (Conv1D, dict(kernel_shape=3, stride=2, padding="VALID"), (2, 9, 3), (2, 4, 4)),
        (Conv1D, dict(kernel_shape=3, rate=3, padding="VALID"), (2, 9, 3), (2, 3, 4)),
        (Conv1D, dict(kernel_shape=2, padding=[(3, 0)], data_format="NCW"), (2, 3, 9), (2, 4, 11)),
        (Conv2D, dict(kernel_shape=(3, 1), stride=(1, 2)), (2, 5, 7, 3), (2, 5, 4, 4)),
        (Conv2D, dict(kernel_shape=3, padding="VALID", data_format="NCHW"), (3, 5, 7), (4, 3, 5)),
        (Conv2D, dict(kernel_shape=1, padding=2), (2, 5, 7, 3), (2, 9, 11, 4)),
        (Conv1DTranspose, dict(kernel_shape=4, stride=3), (2, 5, 3), (2, 15, 4)),
        (Conv1DTranspose, dict(kernel_shape=4, stride=3, padding="VALID"), (2, 5, 3), (2, 16, 4)),
        (Conv2DTranspose, dict(kernel_shape=3, stride=(2, 1)), (2, 5, 7, 3), (2, 10, 7, 4)),
        (
            Conv2DTranspose,
            dict(kernel_shape=(2, 3), stride=2, padding="VALID", data_format="NCHW"),
            (2, 3, 5, 7),
            (2, 4, 10, 15),
        ),
    ],
)
def test_output_shapes(cls, kwargs, in_shape, out_shape):
    layer = make(cls, 3, 4, **kwargs)
    x = jax.ShapeDtypeStruct(in_shape, jnp.float32)
    assert jax.eval_shape(layer, x).shape == out_shape
    # integer inputs are promoted to the weights' dtype
    out = jax.eval_shape(layer, jax.ShapeDtypeStruct(in_shape, jnp.int32))
    assert out.shape == out_shape and out.dtype == jnp.float32


@pytest.mark.parametrize(
    "cls, kwargs, w_shape",
    [
        (Conv1D, dict(kernel_shape=3), (3, 6, 4)),
        (Conv1D, dict(kernel_shape=[5], feature_group_count=2, with_bias=False), (5, 3, 4)),
        (Conv2D, dict(kernel_shape=(3, 2), feature_group_count=2), (3, 2, 3, 4)),
        (Conv2D, dict(kernel_shape=3, data_format="NCHW", with_bias=False), (3, 3, 6, 4)),
        (Conv1DTranspose, dict(kernel_shape=3), (3, 4, 6)),
        (Conv2DTranspose, dict(kernel_shape=(1, 2), data_format="NCHW"), (1, 2, 4, 6)),
    ],
)
def test_parameter_shapes_follow_pax(cls, kwargs, w_shape):
    layer = make(cls, 6, 4, **kwargs)
    assert layer.weight.shape == w_shape and layer.weight.dtype == jnp.float32
    state = layer.state_dict()
    if kwargs.get("with_bias", True):
        assert layer.bias.shape == (4,)  # also for channels-first data, as in PAX
        assert set(state) == {"weight", "bias"}
    else:
        assert layer.bias is None and set(state) == {"weight"}
    trainable = jax.tree_util.tree_leaves(layer.parameters())
    assert len(trainable) == (2 if layer.bias is not None else 1)


# Both layers below have weights of shape (3, 3, 16, 32), so that jax.random compiles
# its sampler for one shape only.
@pytest.mark.parametrize(
    "cls, in_features, out_features, fan_in",
    [
        (Conv2D, 16, 32, 3 * 3 * 16),  # (*kernel_shape, in_features, out_features)
        (Conv2DTranspose, 32, 16, 3 * 3 * 32),  # (*kernel_shape, out_features, in_features)
    ],
)
def test_default_initializers(cls, in_features, out_features, fan_in):
    layer = cls(in_features, out_features, 3, rng_key=key(0))
    assert layer.weight.shape == (3, 3, 16, 32)
    # haiku's: a truncated normal with standard deviation 1 / sqrt(fan_in), zero bias
    w_key, _ = jax.random.split(key(0))
    expected = truncated_normal(stddev=fan_in**-0.5)(w_key, layer.weight.shape, jnp.float32)
    tree_allclose(layer.weight, expected, rtol=0, atol=0)
    assert abs(float(jnp.std(layer.weight)) * fan_in**0.5 - 1) < 0.05
    assert float(jnp.max(jnp.abs(layer.weight))) <= 2 / 0.87962566 * fan_in**-0.5 + 1e-6
    np.testing.assert_array_equal(layer.bias, np.zeros(out_features))


def test_jax_initializers_work():
    conv = Conv2D(
        16,
        32,
        3,
        w_init=jax.nn.initializers.lecun_normal(),
        b_init=jax.nn.initializers.constant(0.5),
        rng_key=key(1),
    )
    assert conv.weight.shape == (3, 3, 16, 32) and conv.weight.dtype == jnp.float32
    assert abs(float(jnp.std(conv.weight)) * (3 * 3 * 16) ** 0.5 - 1) < 0.05
    np.testing.assert_array_equal(conv.bias, np.full(32, 0.5))
    up = Conv2DTranspose(32, 16, 3, w_init=jax.nn.initializers.he_normal(), rng_key=key(1))
    assert up.weight.shape == (3, 3, 16, 32) and up.bias.shape == (16,)
    # without a key, the layers draw from pax's thread-local generator, reproducibly
    pax.seed_rng_key(3)
    a = Conv2D(16, 32, 3, w_init=jax.nn.initializers.lecun_normal())
    pax.seed_rng_key(3)
    b = Conv2D(16, 32, 3, w_init=jax.nn.initializers.lecun_normal())
    tree_allclose(a, b, rtol=0, atol=0)
    assert not np.array_equal(a.weight, conv.weight)


@pytest.mark.parametrize(
    "layer, expected",
    [
        (
            lambda: make(Conv1D, 3, 4, 3, rate=2, padding=1),
            "Conv1D(in_features=3, out_features=4, kernel_shape=(3,), padding=((1, 1),), "
            "rate=(2,), with_bias=True, data_format=NWC)",
        ),
        (
            lambda: make(Conv2D, 4, 6, 3, stride=2, feature_group_count=2, name="conv"),
            "(conv) Conv2D(in_features=4, out_features=6, kernel_shape=(3, 3), "
            "padding=SAME, stride=(2, 2), with_bias=True, data_format=NHWC, "
            "feature_group_count=2)",
        ),
        (
            lambda: make(Conv1DTranspose, 3, 4, 2, padding="valid", with_bias=False),
            "Conv1DTranspose(in_features=3, out_features=4, kernel_shape=(2,), "
            "padding=VALID, with_bias=False, data_format=NWC)",
        ),
    ],
    ids=["conv1d", "conv2d", "conv1d_transpose"],
)
def test_repr(layer, expected):
    assert repr(layer()) == expected


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: make(Conv2D, 0, 4, 3), ValueError, "Conv2D: `in_features` must be a positive"),
        (lambda: make(Conv1D, 3, -1, 3), ValueError, "Conv1D: `out_features` must be a positive"),
        (lambda: make(Conv2D, 3, 4, (3, 0)), ValueError, "`kernel_shape` must be a positive int"),
        (
            lambda: make(Conv2D, 3, 4, (3, 3, 3)),
            ValueError,
            r"`kernel_shape` must be an int or a sequence of 2 ints, got \(3, 3, 3\)",
        ),
        (lambda: make(Conv1D, 3, 4, 3, stride=0), ValueError, "`stride` must be a positive int"),
        (lambda: make(Conv2D, 3, 4, 3, rate=1.5), ValueError, "`rate` must be an int or a seq"),
        (
            lambda: make(Conv2D, 3, 4, 3, padding="FULL"),
            ValueError,
            "Conv2D: Unknown padding 'FULL'",
        ),
        (
            lambda: make(Conv2D, 3, 4, 3, padding=[(1, 1)] * 3),
            ValueError,
            r"Conv2D: `padding` must be 'SAME', 'VALID' \(pax.ConvPadding\), an int, or "
            r"\(low, high\) int pairs, one per spatial dimension \(2\)",
        ),
        (
            lambda: make(Conv1DTranspose, 3, 4, 3, padding=-1),
            ValueError,
            "an int `padding` must be >= 0, got -1",
        ),
        (
            lambda: make(Conv1D, 3, 4, 3, data_format="NHWC"),
            ValueError,
            r"Conv1D: `data_format` must be one of \['NCW', 'NWC', 'channels_first', "
            r"'channels_last'\], got 'NHWC'",
        ),
        (
            lambda: make(Conv2DTranspose, 3, 4, 3, data_format="N...C"),
            ValueError,
            r"Conv2DTranspose: `data_format` must be one of \['NCHW', 'NHWC', 'channels_first'",
        ),
        (
            lambda: make(Conv2D, 4, 6, 3, feature_group_count=4),
            ValueError,
            r"`in_features` \(4\) and `out_features` \(6\) must be multiples of "
            r"`feature_group_count` \(4\)",
        ),
        (
            lambda: make(Conv1D, 4, 6, 3, feature_group_count=0),
            ValueError,
            "`feature_group_count` must be a positive int, got 0",
        ),
    ],
    ids=[
        "in_features",
        "out_features",
        "kernel_zero",
        "kernel_length",
        "stride",
        "rate_float",
        "padding_string",
        "padding_pairs",
        "padding_negative",
        "data_format_1d",
        "data_format_transpose",
        "groups_divide",
        "groups_zero",
    ],
)
def test_bad_constructor_arguments_raise(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    "layer, shape, match",
    [
        (
            lambda: make(Conv2D, 3, 6, 3),
            (2, 9, 9, 7),
            r"Conv2D expects inputs of rank 4 \(N, H, W, C\) or rank 3 \(H, W, C\) with 3 "
            r"channels \(data_format='NHWC'\), got shape \(2, 9, 9, 7\)\.",
        ),
        (
            lambda: make(Conv2D, 3, 6, 3),
            (2, 3, 9, 9),
            r"got shape \(2, 3, 9, 9\)\. For \(N, C, H, W\) inputs use data_format='NCHW'\.",
        ),
        (
            lambda: make(Conv1D, 3, 6, 3, data_format="NCW"),
            (2, 5, 3, 1),
            r"Conv1D expects inputs of rank 3 \(N, C, W\) or rank 2 \(C, W\) with 3 channels "
            r"\(data_format='NCW'\), got shape \(2, 5, 3, 1\)",
        ),
        (
            lambda: make(Conv1DTranspose, 3, 6, 3),
            (3,),
            r"Conv1DTranspose expects inputs of rank 3 \(N, W, C\) .* got shape \(3,\)",
        ),
        (
            lambda: make(Conv2DTranspose, 3, 6, 3, data_format="NCHW"),
            (2, 5, 5, 3),
            r"For \(N, H, W, C\) inputs use data_format='NHWC'",
        ),
    ],
    ids=["channels", "channels_first_hint", "rank", "rank_transpose", "channels_last_hint"],
)
def test_wrong_input_shapes_raise(layer, shape, match):
    layer = layer()
    x = jnp.zeros(shape)
    with pytest.raises(ValueError, match=match):
        layer(x)
    with pytest.raises(ValueError, match=match):  # also while tracing
        jax.jit(layer.__call__)(x)
