"""LayerNorm and GroupNorm against dm-haiku with equal weights (outputs and gradients)."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key as _key
from layer_registry import normal

from pax._src.nn.norms import GroupNorm, LayerNorm


def randn(seed, shape, scale=1.0):
    """``normal(seed, shape, scale)`` cut from one fixed-size draw: one compilation of
    the random generator serves every shape."""
    flat = np.asarray(normal(seed, (1024,)))
    return jnp.asarray(scale * flat[: int(np.prod(shape))].reshape(shape))


def with_random_weights(layer):
    """The layer with scale ~ 1 + N(0, 0.3) and offset ~ N(0, 0.3) (where it has them)."""
    if layer.scale is not None:
        layer = layer.replace(scale=1.0 + randn(1, layer.scale.shape, 0.3))
    if layer.offset is not None:
        layer = layer.replace(offset=randn(2, layer.offset.shape, 0.3))
    return layer


def assert_matches_haiku(layer, hk_module, x, hk_param_shape, call_kwargs=None):
    """Outputs and gradients (w.r.t. the weights, the input and any call-time
    scale/offset) of ``layer`` and of haiku's ``hk_module()`` with the same weights."""
    call_kwargs = call_kwargs or {}
    f = hk.without_apply_rng(hk.transform(lambda x, kw: hk_module()(x, **kw)))
    hk_shapes = jax.tree_util.tree_map(
        lambda s: s.shape, jax.eval_shape(lambda x: f.init(_key(0), x, call_kwargs), x)
    )
    weights = {n: getattr(layer, n) for n in ("scale", "offset") if getattr(layer, n) is not None}
    (hk_name,) = hk_shapes.keys() if hk_shapes else (None,)
    assert hk_shapes == ({hk_name: {n: hk_param_shape for n in weights}} if weights else {})
    cot = randn(3, x.shape)

    def hk_params(weights):
        return (
            {hk_name: {n: w.reshape(hk_param_shape) for n, w in weights.items()}} if weights else {}
        )

    def pax_loss(weights, x, kw):
        y = layer.replace(**weights)(x, **kw)
        return jnp.sum(y * cot), y

    def hk_loss(weights, x, kw):
        y = f.apply(hk_params(weights), x, kw)
        return jnp.sum(y * cot), y

    @jax.jit
    def run(weights, x, kw):
        (_, y), grads = jax.value_and_grad(pax_loss, (0, 1, 2), has_aux=True)(weights, x, kw)
        (_, y_hk), hk_grads = jax.value_and_grad(hk_loss, (0, 1, 2), has_aux=True)(weights, x, kw)
        return y, y_hk, grads, hk_grads

    y, y_hk, grads, hk_grads = run(weights, x, call_kwargs)
    assert y.shape == x.shape
    tree_allclose(y, y_hk, rtol=1e-5, atol=1e-5)
    tree_allclose(grads, hk_grads, rtol=1e-5, atol=1e-5)


# -- LayerNorm ----------------------------------------------------------------------------

LAYER_NORM_CASES = [  # shape, axis, create_scale, create_offset
    ((4, 3), -1, True, True),
    ((2, 3, 4), -1, False, False),
    ((2, 3, 4), (1, 2), True, True),
    ((2, 3, 4), slice(1, None), True, False),
    ((2, 3, 4), [0, -1], False, True),
]


@pytest.mark.parametrize(
    "shape, axis, create_scale, create_offset",
    LAYER_NORM_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}{c[3]}" for c in LAYER_NORM_CASES],
)
def test_layer_norm_matches_haiku(shape, axis, create_scale, create_offset):
    layer = with_random_weights(LayerNorm(shape[-1], axis, create_scale, create_offset))
    for w, create in ((layer.scale, create_scale), (layer.offset, create_offset)):
        assert (w.shape == (shape[-1],)) if create else w is None

    def hk_module():
        return hk.LayerNorm(axis, create_scale, create_offset, param_axis=-1)

    x = randn(0, shape, 2.0) + 1.0
    assert_matches_haiku(layer, hk_module, x, (shape[-1],))


def test_layer_norm_call_time_scale_and_offset_match_haiku():
    layer = LayerNorm(4, -1, create_scale=False, create_offset=False)
    kwargs = {"scale": 1.0 + randn(5, (4,), 0.3), "offset": randn(6, (3, 1), 0.3)}

    def hk_module():
        return hk.LayerNorm(-1, False, False)

    assert_matches_haiku(layer, hk_module, randn(0, (3, 4), 2.0), (4,), kwargs)


def test_layer_norm_defaults_and_initializers():
    layer = LayerNorm(3)  # PAX 0.5 requires axis, create_scale, create_offset; pax defaults them
    assert layer.axis == (-1,) and layer.create_scale and layer.create_offset
    np.testing.assert_array_equal(layer.scale, np.ones(3))
    np.testing.assert_array_equal(layer.offset, np.zeros(3))
    init = jax.nn.initializers.normal(1.0)
    layer = LayerNorm(3, -1, True, True, scale_init=init, offset_init=init, rng_key=_key(7))
    scale_key, offset_key = jax.random.split(_key(7))
    np.testing.assert_array_equal(layer.scale, init(scale_key, (3,), jnp.float32))
    np.testing.assert_array_equal(layer.offset, init(offset_key, (3,), jnp.float32))
    assert layer.scale.dtype == jnp.float32
    assert [p.shape for p in jax.tree_util.tree_leaves(layer.parameters())] == [(3,), (3,)]
    assert repr(LayerNorm(3, (0, 1), False, True, eps=0.1, name="ln")) == (
        "(ln) LayerNorm(num_channels=3, axis=(0, 1), create_scale=False, "
        "create_offset=True, eps=0.1)"
    )


# -- GroupNorm ----------------------------------------------------------------------------

GROUP_NORM_CASES = [  # groups, shape, axis, data_format, create_scale, create_offset
    (2, (2, 3, 3, 4), slice(1, None), "channels_last", True, True),
    (4, (2, 5, 4), -1, "channels_last", True, False),
    (2, (2, 6, 3, 3), slice(1, None), "channels_first", True, True),
    (3, (2, 6, 5), (2,), "NC...", False, True),
    (1, (3, 4), slice(1, None), "N...C", False, False),
]


@pytest.mark.parametrize(
    "groups, shape, axis, data_format, create_scale, create_offset",
    GROUP_NORM_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[3]}-{c[4]}{c[5]}" for c in GROUP_NORM_CASES],
)
def test_group_norm_matches_haiku(groups, shape, axis, data_format, create_scale, create_offset):
    channels_first = data_format in ("channels_first", "NC...")
    channels = shape[1] if channels_first else shape[-1]
    layer = GroupNorm(groups, channels, axis, create_scale, create_offset, data_format=data_format)
    layer = with_random_weights(layer)
    for w, create in ((layer.scale, create_scale), (layer.offset, create_offset)):
        assert (w.shape == (channels,)) if create else w is None  # PAX's shape

    def hk_module():
        return hk.GroupNorm(groups, axis, create_scale, create_offset, data_format=data_format)

    # haiku's channels-first parameters are (C, 1, ..., 1)
    hk_param_shape = (channels,) + (1,) * (len(shape) - 2) if channels_first else (channels,)
    x = randn(0, shape, 2.0) + 1.0
    assert_matches_haiku(layer, hk_module, x, hk_param_shape)


def test_group_norm_call_time_scale_and_offset_match_haiku():
    layer = GroupNorm(2, 4, create_scale=False, create_offset=False)
    kwargs = {"scale": 1.0 + randn(5, (4,), 0.3), "offset": randn(6, (4,), 0.3)}

    def hk_module():
        return hk.GroupNorm(2, create_scale=False, create_offset=False)

    assert_matches_haiku(layer, hk_module, randn(0, (2, 3, 4), 2.0), (4,), kwargs)


def test_group_norm_defaults_and_repr():
    gn = GroupNorm(2, 4)
    assert gn.axis == slice(1, None) and gn.data_format == "N...C"  # pax's spelling
    np.testing.assert_array_equal(gn.scale, np.ones(4))
    np.testing.assert_array_equal(gn.offset, np.zeros(4))
    assert repr(GroupNorm(2, 4, -1, data_format="channels_first")) == (
        "GroupNorm(groups=2, num_channels=4, axis=(-1,), create_scale=True, "
        "create_offset=True, eps=1e-05, data_format=NC...)"
    )


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: LayerNorm(0), ValueError, "LayerNorm: `num_channels` must be a positive int"),
        (lambda: LayerNorm(3, "last"), ValueError, "`axis` must be an int, a slice or a seq"),
        (lambda: LayerNorm(3, [1.0]), ValueError, "`axis` must be an int, a slice or a seq"),
        (
            lambda: LayerNorm(3, -1, False, True, scale_init=jax.nn.initializers.ones),
            ValueError,
            r"LayerNorm: cannot set `scale_init` when `create_scale=False`",
        ),
        (
            lambda: LayerNorm(3, -1, True, False, offset_init=jax.nn.initializers.ones),
            ValueError,
            r"cannot set `offset_init` when `create_offset=False`",
        ),
        (lambda: GroupNorm(3, 4), ValueError, r"`num_channels` \(4\) must be divisible by"),
        (lambda: GroupNorm(0, 4), ValueError, "GroupNorm: `groups` must be a positive int"),
        (
            lambda: GroupNorm(2, 4, data_format="NCHW"),
            ValueError,
            r"`data_format` must be one of \['N...C', 'NC...', 'channels_first', 'chann",
        ),
        (lambda: GroupNorm(2, 4, axis=None), ValueError, "`axis` must be an int"),
    ],
    ids=[
        "ln_channels",
        "ln_axis_str",
        "ln_axis_float",
        "ln_scale_init",
        "ln_offset_init",
        "gn_divisible",
        "gn_groups",
        "gn_format",
        "gn_axis",
    ],
)
def test_bad_constructor_arguments_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "make, shape, kwargs, match",
    [
        (lambda: LayerNorm(3), (2, 4), {}, r"LayerNorm expects inputs with last dimension 3"),
        (lambda: LayerNorm(3), (), {}, r"last dimension 3 \(num_channels\), got shape \(\)"),
        (lambda: LayerNorm(3, 2), (2, 3), {}, r"`axis` \(2,\) is out of range .* rank 2"),
        (
            lambda: LayerNorm(3),
            (2, 3),
            {"scale": jnp.ones(3)},
            r"cannot pass `scale` at call time when `create_scale=True`",
        ),
        (
            lambda: GroupNorm(2, 4),
            (2, 3, 3),
            {},
            r"GroupNorm expects inputs of rank >= 2 \(N, ..., C\) with 4 channels",
        ),
        (
            lambda: GroupNorm(2, 4, data_format="channels_first"),
            (2, 3, 4),
            {},
            r"\(N, C, ...\) with 4 channels \(data_format='NC...'\), got shape",
        ),
        (lambda: GroupNorm(2, 4), (4,), {}, r"got shape \(4,\)"),
        (
            lambda: GroupNorm(2, 4),
            (2, 4),
            {"offset": jnp.ones(4)},
            r"cannot pass `offset` at call time when `create_offset=True`",
        ),
    ],
    ids=[
        "ln_channels",
        "ln_scalar",
        "ln_axis",
        "ln_scale",
        "gn_channels",
        "gn_first",
        "gn_rank",
        "gn_offset",
    ],
)
def test_wrong_inputs_raise(make, shape, kwargs, match):
    layer = make()
    with pytest.raises(ValueError, match=match):
        jax.jit(lambda layer, x, kw: layer(x, **kw))(layer, jnp.ones(shape), kwargs)
