"""NetKet's masked autoregressive layers: numpy references, the autoregressive
property, parameter shapes, errors, and the incremental (cached) mode."""

import itertools
import pickle
from typing import Any

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key
from masked_reference import np_masked_conv1d, np_masked_conv2d, np_masked_dense1d

import pax
from pax._src.nn.masked import (
    MaskedConv1D,
    MaskedConv2D,
    MaskedDense1D,
    conv2d_mask,
    dense1d_mask,
    init_cache,
)

# Weights and inputs come from numpy: each new shape drawn with jax.random (or the
# default lecun_normal initializer) costs a compilation, about a second on 2 busy cores.


def normal(seed: int, shape, scale: float = 1.0, dtype: Any = jnp.float32) -> jax.Array:
    """A standard normal array (times ``scale``) drawn with numpy; complex dtypes get
    independent real and imaginary parts (variance 1/2 each)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=shape)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        values = (values + 1j * rng.normal(size=shape)) / np.sqrt(2.0)
    return jnp.asarray(values * scale, dtype)


def np_init(seed: int):
    """A kernel initializer in JAX's convention: normal with variance 1 / fan_in."""

    def init(rng_key, shape, dtype=jnp.float32):
        del rng_key
        return normal(seed, shape, float(np.prod(shape[:-1])) ** -0.5, dtype)

    return init


FAST = np_init(0)

# -- layer tables ----------------------------------------------------------------------

# (kernel_size, kernel_dilation, exclusive, feature_group_count)
CONV1D = [
    (1, 1, False, 1),
    (2, 1, True, 1),
    (3, 2, True, 1),
    (4, 3, True, 2),
    (5, 2, False, 1),
]
# (kernel_size, kernel_dilation, exclusive, feature_group_count, width)
CONV2D = [
    ((2, 3), (1, 1), True, 1, 5),
    ((3, 3), (1, 2), False, 2, 5),
    ((3, 2), (2, 1), True, 1, 4),
    ((2, 5), (1, 2), False, 1, 3),  # the kernel is wider than the image
    ((1, 3), (1, 1), True, 1, 4),
]


def conv1d(k, d, exclusive, groups, use_bias=True, seed=0):
    return MaskedConv1D(
        4,
        k,
        d,
        exclusive,
        groups,
        use_bias=use_bias,
        kernel_init=np_init(seed),
        bias_init=np_init(seed + 1),
        in_features=4,
        rng_key=key(0),
    )


def conv2d(k, d, exclusive, groups, seed=0):
    return MaskedConv2D(
        4,
        k,
        d,
        exclusive,
        groups,
        kernel_init=np_init(seed),
        bias_init=np_init(seed + 1),
        in_features=2 * groups,
        rng_key=key(0),
    )


def dense1d(exclusive, size=6, seed=0):
    return MaskedDense1D(
        3,
        exclusive,
        kernel_init=np_init(seed),
        bias_init=np_init(seed + 1),
        size=size,
        in_features=2,
        rng_key=key(0),
    )


def conv1d_id(case):
    k, d, exclusive, groups = case
    return f"k{k}_d{d}_{'excl' if exclusive else 'incl'}_g{groups}"


def conv2d_id(case):
    k, d, exclusive, groups, width = case
    return f"k{k[0]}x{k[1]}_d{d[0]}x{d[1]}_{'excl' if exclusive else 'incl'}_g{groups}_w{width}"


# -- against numpy -----------------------------------------------------------------------

LENGTH, HEIGHT = 12, 5


@jax.jit
def apply(layer: Any, x: jax.Array) -> jax.Array:
    """One compilation per layer configuration and input shape, shared by the tests."""
    return layer(x)


@pytest.mark.parametrize("case", CONV1D, ids=conv1d_id)
def test_conv1d_matches_numpy(case):
    layer = conv1d(*case)
    x = normal(2, (2, LENGTH, 4))
    tree_allclose(apply(layer, x), np_masked_conv1d(layer, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CONV2D, ids=conv2d_id)
def test_conv2d_matches_numpy(case):
    *args, width = case
    layer = conv2d(*args)
    x = normal(2, (2, HEIGHT, width, layer.in_features))
    tree_allclose(apply(layer, x), np_masked_conv2d(layer, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("exclusive", [False, True])
def test_dense1d_matches_numpy(exclusive):
    layer = dense1d(exclusive)
    x = normal(2, (2, 6, 2))
    tree_allclose(apply(layer, x), np_masked_dense1d(layer, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "layer, x, reference",
    [
        (conv1d(3, 2, True, 1, use_bias=False), normal(2, (9, 4)), np_masked_conv1d),
        (conv2d((2, 3), 1, True, 1), normal(2, (3, 4, 2)), np_masked_conv2d),
        (dense1d(False), normal(2, (6, 2)), np_masked_dense1d),
    ],
    ids=["conv1d_no_bias", "conv2d", "dense1d"],
)
def test_one_unbatched_input(layer, x, reference):
    tree_allclose(layer(x), reference(layer, x[None])[0], rtol=1e-5, atol=1e-5)


# -- the autoregressive property ------------------------------------------------------------


def _changed_positions(layer, x: np.ndarray, position) -> np.ndarray:
    """Which outputs (any batch entry, any feature) change when input ``position`` does."""
    y = np.asarray(apply(layer, x))
    x2 = np.array(x)
    x2[(slice(None),) + tuple(position)] += 1.0
    y2 = np.asarray(apply(layer, x2))
    return np.any(y2 != y, axis=(0, -1))


@pytest.mark.parametrize("case", CONV1D, ids=conv1d_id)
def test_conv1d_is_autoregressive(case):
    layer = conv1d(*case)
    k, d, exclusive, _ = case
    x = np.asarray(normal(3, (2, LENGTH, 4)))
    for j in range(LENGTH):
        changed = _changed_positions(layer, x, (j,))
        # outputs before j (and at j when exclusive) never change
        assert not changed[: j + exclusive].any()
        # exactly the receptive field j + m d, m = exclusive .. K - 1, changes
        expected = np.zeros(LENGTH, bool)
        for m in range(int(exclusive), k):
            if j + m * d < LENGTH:
                expected[j + m * d] = True
        np.testing.assert_array_equal(changed, expected)
        if j + exclusive * d < LENGTH:  # so some later output does change
            assert changed[j + exclusive :].any()


@pytest.mark.parametrize("case", CONV2D, ids=conv2d_id)
def test_conv2d_is_autoregressive_in_raster_order(case):
    *args, width = case
    layer = conv2d(*args)
    (kh, kw), (dh, dw), exclusive = case[0], case[1], case[2]
    mask = conv2d_mask((kh, kw), exclusive)
    x = np.asarray(normal(3, (2, HEIGHT, width, layer.in_features)))
    for r, c in itertools.product(range(HEIGHT), range(width)):
        changed = _changed_positions(layer, x, (r, c)).reshape(-1)
        flat = r * width + c
        # raster order: nothing before (r, c) changes, nor (r, c) when exclusive
        assert not changed[: flat + exclusive].any()
        expected = np.zeros((HEIGHT, width), bool)
        for a, b in itertools.product(range(kh), range(kw)):
            rr, cc = r + (kh - 1 - a) * dh, c - (b - kw // 2) * dw
            if mask[a, b] and rr < HEIGHT and 0 <= cc < width:
                expected[rr, cc] = True
        np.testing.assert_array_equal(changed, expected.reshape(-1))


@pytest.mark.parametrize("exclusive", [False, True])
def test_dense1d_is_autoregressive(exclusive):
    layer = dense1d(exclusive)
    x = np.asarray(normal(3, (2, 6, 2)))
    for j in range(6):
        changed = _changed_positions(layer, x, (j,))
        np.testing.assert_array_equal(changed, np.arange(6) >= j + exclusive)


# -- parameters and initialization ----------------------------------------------------------


@pytest.mark.parametrize(
    "make, kernel_shape, bias_shape",
    [
        (lambda: MaskedConv1D(8, 3, 2, False, in_features=6, kernel_init=FAST), (3, 6, 8), (8,)),
        (lambda: MaskedConv1D(8, 3, 2, True, in_features=6, kernel_init=FAST), (2, 6, 8), (8,)),
        (lambda: MaskedConv1D(8, 4, 1, True, 2, in_features=6, kernel_init=FAST), (3, 3, 8), (8,)),
        (
            lambda: MaskedConv1D(8, 3, 1, True, use_bias=False, in_features=6, kernel_init=FAST),
            (2, 6, 8),
            None,
        ),
        (
            lambda: MaskedConv2D(8, (3, 5), (1, 1), True, in_features=6, kernel_init=FAST),
            (3, 5, 6, 8),
            (8,),
        ),
        (
            lambda: MaskedConv2D(8, 3, 2, False, 2, in_features=6, kernel_init=FAST),
            (3, 3, 3, 8),
            (8,),
        ),
        (lambda: MaskedDense1D(8, True, size=5, in_features=6, kernel_init=FAST), (30, 40), (5, 8)),
        (
            lambda: MaskedDense1D(8, False, False, size=5, in_features=6, kernel_init=FAST),
            (30, 40),
            None,
        ),
    ],
)
def test_parameter_shapes(make, kernel_shape, bias_shape):
    layer = make()
    assert layer.kernel.shape == kernel_shape and layer.kernel.dtype == jnp.float32
    assert (layer.bias is None) == (bias_shape is None)
    if bias_shape is not None:
        assert layer.bias.shape == bias_shape and not np.any(np.asarray(layer.bias))
    leaves = jax.tree_util.tree_leaves(layer.parameters())
    assert len(leaves) == (1 if bias_shape is None else 2)


def test_default_kernel_init_is_netkets_lecun_normal():
    layer = MaskedConv1D(8, 3, 1, True, in_features=6, rng_key=key(0))
    kernel_key = jax.random.split(key(0))[0]
    expected = jax.nn.initializers.lecun_normal()(kernel_key, (2, 6, 8), jnp.float32)
    np.testing.assert_array_equal(layer.kernel, expected)


def test_masked_kernels_start_masked():
    ones = jax.nn.initializers.ones
    conv = MaskedConv2D(2, (2, 3), 1, False, kernel_init=ones, in_features=1, rng_key=key(0))
    np.testing.assert_array_equal(conv.kernel[:, :, 0, 0], [[1, 1, 1], [1, 1, 0]])
    dense = MaskedDense1D(1, True, kernel_init=ones, size=3, in_features=1, rng_key=key(0))
    np.testing.assert_array_equal(dense.kernel, dense1d_mask(3, 1, 1, True))
    # the bias initializer is used too
    conv = MaskedConv1D(2, 2, 1, True, bias_init=ones, in_features=1, rng_key=key(0))
    np.testing.assert_array_equal(conv.bias, [1.0, 1.0])


def test_masked_entries_get_zero_gradients():
    layer = MaskedConv2D(2, (2, 3), 1, True, kernel_init=FAST, in_features=1, rng_key=key(0))
    x = normal(0, (2, 4, 4, 1))
    grads = pax.grad(lambda m: jnp.sum(m(x) ** 2))(layer)
    mask = conv2d_mask((2, 3), True)
    assert np.all(np.asarray(grads.kernel)[mask == 0] == 0)
    assert np.all(np.asarray(grads.kernel)[mask == 1] != 0)


def test_repr():
    assert repr(MaskedConv1D(8, 3, 2, True, 2, in_features=6, kernel_init=FAST)) == (
        "MaskedConv1D(in_features=6, features=8, kernel_size=3, kernel_dilation=2, "
        "exclusive=True, feature_group_count=2)"
    )
    assert repr(MaskedConv2D(8, 3, 1, False, in_features=6, kernel_init=FAST)) == (
        "MaskedConv2D(in_features=6, features=8, kernel_size=(3, 3), "
        "kernel_dilation=(1, 1), exclusive=False)"
    )
    assert repr(MaskedDense1D(8, True, False, size=5, in_features=6, kernel_init=FAST)) == (
        "MaskedDense1D(size=5, in_features=6, features=8, exclusive=True, use_bias=False)"
    )


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: MaskedConv1D(4, 0, 1, False, in_features=2),
            ValueError,
            "MaskedConv1D: `kernel_size` must be a positive int, got 0",
        ),
        (
            lambda: MaskedConv1D(4, 1, 1, True, in_features=2),
            ValueError,
            r"MaskedConv1D: an exclusive layer needs kernel_size >= 2 \(its kernel has "
            r"kernel_size - 1 taps\), got kernel_size=1",
        ),
        (
            lambda: MaskedConv1D(4, 3, 0, False, in_features=2),
            ValueError,
            "`kernel_dilation` must be a positive int, got 0",
        ),
        (
            lambda: MaskedConv1D(4, 3, 1, "yes", in_features=2),  # type: ignore[arg-type]
            TypeError,
            "MaskedConv1D: `exclusive` must be a bool, got 'yes'",
        ),
        (
            lambda: MaskedConv1D(4, 3, 1, False, 3, in_features=2),
            ValueError,
            r"in_features \(2\) and features \(4\) must both be divisible by "
            r"feature_group_count \(3\)",
        ),
        (
            lambda: MaskedConv2D(4, (3, 0), 1, False, in_features=2),
            ValueError,
            r"MaskedConv2D: `kernel_size` must be a positive int or a pair of positive "
            r"ints, got \(3, 0\)",
        ),
        (
            lambda: MaskedConv2D(4, (1, 2, 3), 1, False, in_features=2),
            ValueError,
            r"`kernel_size` must be a positive int or a pair",
        ),
        (
            lambda: MaskedConv2D(4, 1, 1, True, in_features=2),
            ValueError,
            r"exclusive layer with kernel_size \(1, 1\) sees no input",
        ),
        (
            lambda: MaskedDense1D(4, True, size=1, in_features=2),
            ValueError,
            "MaskedDense1D: an exclusive layer needs size >= 2",
        ),
        (
            lambda: MaskedDense1D(4, False, size=0, in_features=2),
            ValueError,
            "MaskedDense1D: `size` must be a positive int, got 0",
        ),
    ],
)
def test_bad_constructor_arguments_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_netket_constructor_makes_a_layer_without_parameters():
    layer = MaskedConv1D(features=8, kernel_size=3, kernel_dilation=1, exclusive=True)
    assert layer.in_features is None and layer.kernel is None and layer.bias is None
    assert jax.tree_util.tree_leaves(layer.parameters()) == []


@pytest.mark.parametrize(
    "make, shape, match",
    [
        (
            lambda: MaskedConv1D(4, 3, 1, False, in_features=3, kernel_init=FAST),
            (2, 7, 4),
            r"MaskedConv1D expects inputs of rank 3 \(batch, length, features\) or rank 2 "
            r"\(length, features\) with 3 features, got shape \(2, 7, 4\)\.",
        ),
        (
            lambda: MaskedConv1D(4, 3, 1, False, in_features=3, kernel_init=FAST),
            (3,),
            r"MaskedConv1D expects inputs of rank 3 .* got shape \(3,\)\.",
        ),
        (
            lambda: MaskedConv2D(4, 3, 1, False, in_features=3, kernel_init=FAST),
            (5, 3),
            r"MaskedConv2D expects inputs of rank 4 \(batch, H, W, features\) or rank 3 "
            r"\(H, W, features\) with 3 features, got shape \(5, 3\)\.",
        ),
        (
            lambda: MaskedConv2D(4, 3, 1, False, in_features=3, kernel_init=FAST),
            (1, 2, 5, 5, 3),
            r"MaskedConv2D expects inputs of rank 4 .* got shape \(1, 2, 5, 5, 3\)\.",
        ),
        (
            lambda: MaskedDense1D(4, True, size=5, in_features=3, kernel_init=FAST),
            (2, 6, 3),
            r"MaskedDense1D expects inputs of shape \(batch, 5, 3\) or \(5, 3\) \(size 5, "
            r"3 features\), got shape \(2, 6, 3\)\.",
        ),
    ],
    ids=["conv1d_features", "conv1d_rank", "conv2d_rank", "conv2d_rank5", "dense1d_size"],
)
def test_wrong_input_shapes_raise(make, shape, match):
    layer = make()
    with pytest.raises(ValueError, match=match):
        layer(jnp.ones(shape))
    with pytest.raises(ValueError, match=match):  # also while tracing
        jax.jit(lambda m, x: m(x))(layer, jnp.ones(shape))


def test_update_site_errors():
    layer = MaskedConv1D(4, 3, 1, True, kernel_init=FAST, in_features=3, rng_key=key(0))
    with pytest.raises(ValueError, match=r"MaskedConv1D.update_site needs a cache: build one"):
        pax.module_and_value(layer.update_site)(jnp.ones((2, 3)))
    cached = layer.init_cache(2)
    with pytest.raises(ValueError, match="pax.pure"):  # it mutates the cache
        cached.update_site(jnp.ones((2, 3)))
    with pytest.raises(
        ValueError,
        match=r"update_site expects one position of input, shape \(2, 3\) \(the batch shape "
        r"of the cache and 3 features\), got shape \(2, 5, 3\)",
    ):
        jax.jit(pax.module_and_value(cached.update_site))(jnp.ones((2, 5, 3)))
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive int, got 0"):
        layer.init_cache(0)
    conv2 = MaskedConv2D(4, 3, 1, True, in_features=3, kernel_init=FAST)
    with pytest.raises(ValueError, match=r"MaskedConv2D.init_cache needs the image `width`"):
        conv2.init_cache(2)


# -- incremental mode: stepping reproduces the full output --------------------------------


def shift_right(xs: jax.Array, exclusive: bool) -> jax.Array:
    """The per-step inputs of a layer: x[i] (inclusive) or x[i - 1] (exclusive)."""
    if not exclusive:
        return xs
    return jnp.concatenate([jnp.zeros_like(xs[:, :1]), xs[:, :-1]], axis=1)


@jax.jit
def step_through(cached: pax.Module, xs: jax.Array):
    """Feed ``xs`` (batch, steps, features) one position at a time, in one scan."""

    def step(module, x):
        return pax.module_and_value(module.update_site)(x)

    return pax.scan(step, cached, xs, time_major=False)


@pytest.mark.parametrize("case", CONV1D, ids=conv1d_id)
def test_conv1d_stepping_matches_full(case):
    layer = conv1d(*case)
    xs = normal(4, (2, LENGTH, 4))
    final, ys = step_through(layer.init_cache(2), shift_right(xs, layer.exclusive))
    tree_allclose(ys, apply(layer, xs), rtol=1e-5, atol=1e-5)
    assert int(final.position) == LENGTH
    assert jax.tree_util.tree_structure(final) == jax.tree_util.tree_structure(layer.init_cache(2))


@pytest.mark.parametrize("case", CONV2D, ids=conv2d_id)
def test_conv2d_stepping_in_raster_order_matches_full(case):
    *args, width = case
    layer = conv2d(*args)
    images = normal(4, (2, HEIGHT, width, layer.in_features))
    flat = shift_right(images.reshape(2, HEIGHT * width, -1), layer.exclusive)
    _, ys = step_through(layer.init_cache(2, width=width), flat)
    tree_allclose(ys.reshape(2, HEIGHT, width, 4), apply(layer, images), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("exclusive", [False, True])
def test_dense1d_stepping_matches_full(exclusive):
    layer = dense1d(exclusive)
    xs = normal(4, (2, 6, 2))
    _, ys = step_through(layer.init_cache(2), shift_right(xs, exclusive))
    tree_allclose(ys, apply(layer, xs), rtol=1e-5, atol=1e-5)


def _default_activation(i: int, x: jax.Array) -> jax.Array:
    return jnp.tanh(x) if i % 2 else jax.nn.gelu(x)


class ARNN(pax.Module):
    """An autoregressive stack: exclusive first layer, inclusive later ones, with
    ``activation(i, x)`` after every layer ``i`` but the last."""

    def __init__(self, layers, activation=_default_activation):
        super().__init__()
        self.layers = list(layers)
        self.activation = activation

    def _run(self, x, call):
        for i, layer in enumerate(self.layers):
            x = call(layer, x)
            if i + 1 < len(self.layers):
                x = self.activation(i, x)
        return x

    def __call__(self, x):
        return self._run(x, lambda layer, h: layer(h))

    def update_site(self, x):
        return self._run(x, lambda layer, h: layer.update_site(h))


def conv_stack():
    return ARNN(
        [
            MaskedConv1D(
                8,
                3,
                1,
                True,
                in_features=3,
                kernel_init=np_init(0),
                bias_init=np_init(10),
                rng_key=key(0),
            ),
            MaskedConv1D(
                8,
                3,
                2,
                False,
                2,
                in_features=8,
                kernel_init=np_init(1),
                bias_init=np_init(11),
                rng_key=key(1),
            ),
            MaskedConv1D(
                8,
                2,
                4,
                False,
                in_features=8,
                kernel_init=np_init(2),
                bias_init=np_init(12),
                rng_key=key(2),
            ),
            MaskedConv1D(
                3,
                1,
                1,
                False,
                in_features=8,
                kernel_init=np_init(3),
                bias_init=np_init(13),
                rng_key=key(3),
            ),
        ]
    )


def test_stacked_network_stepping_matches_full():
    net = conv_stack()
    xs = normal(5, (2, 17, 3))
    cached = init_cache(net, 2)  # every masked layer of the network
    assert all(layer.cache is not None for layer in cached.layers)
    _, ys = step_through(cached, shift_right(xs, True))
    tree_allclose(ys, apply(net, xs), rtol=1e-5, atol=1e-5)


def test_conv2d_stack_stepping_matches_full():
    net = ARNN(
        [
            MaskedConv2D(
                4,
                (2, 3),
                1,
                True,
                in_features=2,
                kernel_init=np_init(0),
                bias_init=np_init(10),
                rng_key=key(0),
            ),
            MaskedConv2D(
                2, (2, 3), (1, 2), False, in_features=4, kernel_init=np_init(1), rng_key=key(1)
            ),
        ]
    )
    images = normal(5, (2, 3, 4, 2))
    flat = shift_right(images.reshape(2, 12, 2), True)
    _, ys = step_through(init_cache(net, 2, width=4), flat)
    tree_allclose(ys.reshape(2, 3, 4, 2), apply(net, images), rtol=1e-5, atol=1e-5)


def test_gradients_through_the_incremental_scan_match_full():
    layer = conv1d(3, 2, True, 1)
    xs = normal(4, (2, 9, 4))
    target = normal(6, (2, 9, 4))

    def full_loss(m):
        return jnp.sum(m(xs) * target)

    def step_loss(m):
        return jnp.sum(step_through(m.init_cache(2), shift_right(xs, True))[1] * target)

    full, stepped = pax.grad(full_loss)(layer), pax.grad(step_loss)(layer)
    tree_allclose(stepped, full, rtol=1e-5, atol=1e-5)


# -- the cache is state --------------------------------------------------------------------


def test_cache_is_state_not_parameters():
    layer = conv1d(3, 1, True, 1)
    cached = layer.init_cache(2)
    assert cached.cache.shape == (2, 2, 4) and cached.position.dtype == jnp.int32
    tree_allclose(cached.parameters().kernel, layer.kernel, rtol=0, atol=0)
    assert len(jax.tree_util.tree_leaves(cached.parameters())) == 2
    assert len(jax.tree_util.tree_leaves(cached)) == 4
    assert layer.cache is None  # the original has no cache
    # the full call ignores the cache
    x = normal(0, (2, 5, 4))
    np.testing.assert_array_equal(cached(x), layer(x))


def test_init_cache_keeps_float32_weights_under_a_mixed_precision_policy():
    policy = jmp.get_policy("params=float32,compute=bfloat16,output=bfloat16")
    layer = pax.apply_mp_policy(conv1d(3, 2, True, 1), policy)
    cached = layer.init_cache(2)
    assert cached.kernel.dtype == jnp.float32
    np.testing.assert_array_equal(cached.kernel, layer.kernel)  # not rounded to bf16
    cached, y = jax.jit(pax.module_and_value(cached.update_site))(normal(0, (2, 4)))
    assert y.dtype == jnp.bfloat16 and y.shape == (2, 4)
    assert cached.cache.dtype == jnp.float32 and int(cached.position) == 1


# -- param_dtype -----------------------------------------------------------------------------


@pytest.fixture
def x64():
    """JAX's 64-bit types for one test; the flag goes back as it was afterwards (also
    on failure), so the other tests in the process keep the default."""
    before = jax.config.jax_enable_x64
    with jax.enable_x64(True):
        yield
    assert jax.config.jax_enable_x64 == before


KINDS = ["conv1d", "conv2d", "dense1d"]
INPUT_SHAPES = {"conv1d": (2, 7, 4), "conv2d": (2, 3, 4, 2), "dense1d": (2, 5, 2)}
LAYER_NAMES = {"conv1d": "MaskedConv1D", "conv2d": "MaskedConv2D", "dense1d": "MaskedDense1D"}
REFERENCES = {"conv1d": np_masked_conv1d, "conv2d": np_masked_conv2d, "dense1d": np_masked_dense1d}


def build(kind: str, param_dtype: Any, seed: int = 0):
    """A small layer of each kind (exclusive, with bias), weights from numpy."""
    weights = dict(kernel_init=np_init(seed), bias_init=np_init(seed + 1), rng_key=key(0))
    if kind == "conv1d":
        return MaskedConv1D(4, 3, 2, True, 2, param_dtype=param_dtype, in_features=4, **weights)
    if kind == "conv2d":
        return MaskedConv2D(4, (2, 3), 1, True, param_dtype=param_dtype, in_features=2, **weights)
    return MaskedDense1D(3, True, param_dtype=param_dtype, size=5, in_features=2, **weights)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64])
def test_param_dtype_is_the_dtype_of_the_parameters(kind, dtype):
    layer = build(kind, dtype)
    assert layer.kernel.dtype == dtype and layer.bias.dtype == dtype
    y = apply(layer, normal(2, INPUT_SHAPES[kind]))  # a float32 input
    assert y.dtype == jnp.promote_types(jnp.float32, dtype)


def test_default_param_dtype_is_float32_and_complex_gets_complex_initial_values():
    assert MaskedConv1D(4, 3, 1, True, in_features=2, kernel_init=FAST).kernel.dtype == jnp.float32
    layer = MaskedConv1D(4, 3, 1, True, param_dtype=jnp.complex64, in_features=2, rng_key=key(0))
    expected = jax.nn.initializers.lecun_normal()(
        jax.random.split(key(0))[0], (2, 2, 4), jnp.complex64
    )
    np.testing.assert_array_equal(layer.kernel, expected)
    assert np.abs(np.imag(layer.kernel)).min() > 0


@pytest.mark.parametrize(
    "param_dtype, error, match",
    [
        (jnp.int32, ValueError, r"`param_dtype` must be a floating or complex dtype .* got int32"),
        (None, TypeError, r"`param_dtype` must be a floating or complex dtype .* got None"),
        (
            jax.lax.Precision.HIGHEST,
            TypeError,
            r"`param_dtype` must be .* got Precision.HIGHEST",
        ),  # NetKet's 8th arg
        (
            jnp.float64,
            ValueError,
            r"`param_dtype=float64` needs JAX's 64-bit types, which are off by default: turn "
            r"them on with `jax.config.update\('jax_enable_x64', True\)`",
        ),
        (jnp.complex128, ValueError, r"`param_dtype=complex128` needs JAX's 64-bit types"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_bad_param_dtype_raises(kind, param_dtype, error, match):
    with pytest.raises(error, match=f"{LAYER_NAMES[kind]}: {match}"):
        build(kind, param_dtype)


# -- 64-bit parameters: float64 and complex128 ------------------------------------------------

X64_DTYPES = [jnp.float64, jnp.complex128]


def x64_case(kind: str, dtype: Any):
    """A layer with ``dtype`` parameters and an input of that dtype (call inside x64)."""
    return build(kind, dtype), normal(2, INPUT_SHAPES[kind], dtype=dtype)


@pytest.mark.parametrize("dtype", X64_DTYPES, ids=["float64", "complex128"])
@pytest.mark.parametrize("kind", KINDS)
def test_x64_forward_matches_numpy(x64, kind, dtype):
    layer, x = x64_case(kind, dtype)
    assert layer.kernel.dtype == dtype and layer.bias.dtype == dtype
    y = apply(layer, x)
    assert y.dtype == dtype
    tree_allclose(y, REFERENCES[kind](layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", X64_DTYPES, ids=["float64", "complex128"])
@pytest.mark.parametrize("kind", KINDS)
def test_x64_gradients_match_finite_differences(x64, kind, dtype):
    layer, x = x64_case(kind, dtype)
    target = normal(3, apply(layer, x).shape, dtype=dtype)
    # directions: real ones and, for complex parameters, imaginary ones
    units = [1.0, 1j] if jnp.issubdtype(dtype, jnp.complexfloating) else [1.0]
    directions = [
        (u * normal(4, layer.kernel.shape, dtype=jnp.float64), u * normal(5, layer.bias.shape))
        for u in units
    ]

    def loss(m):  # real, also for complex parameters
        return jnp.sum(jnp.abs(m(x) - target) ** 2)

    @jax.jit  # one compilation for the gradient and all the finite differences
    def derivatives(m, directions):
        grads = pax.grad(loss)(m)
        eps = 1e-6
        pairs = []
        for d_kernel, d_bias in directions:

            def moved(t, d_kernel=d_kernel, d_bias=d_bias):
                return m.replace(kernel=m.kernel + t * d_kernel, bias=m.bias + t * d_bias)

            numeric = (loss(moved(eps)) - loss(moved(-eps))) / (2 * eps)
            # JAX's gradient of a real loss is dL/dRe - i dL/dIm: the derivative along
            # d is Re(sum(grad * d))
            analytic = jnp.real(jnp.sum(grads.kernel * d_kernel) + jnp.sum(grads.bias * d_bias))
            pairs.append((analytic, numeric))
        return pairs

    for analytic, numeric in derivatives(layer, directions):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


@pytest.mark.parametrize("dtype", X64_DTYPES, ids=["float64", "complex128"])
@pytest.mark.parametrize("kind", KINDS)
def test_x64_layers_are_autoregressive(x64, kind, dtype):
    layer, x = x64_case(kind, dtype)
    x = np.asarray(x)
    positions = list(itertools.product(*map(range, x.shape[1:-1])))  # raster order
    for flat, position in enumerate(positions):
        changed = _changed_positions(layer, x, position).reshape(-1)
        assert not changed[: flat + 1].any()  # exclusive: neither earlier nor this output
        if flat + 1 < len(positions) and kind != "conv1d":
            assert changed[flat + 1 :].any()
    assert _changed_positions(layer, x, positions[0]).any()


@pytest.mark.parametrize("dtype", X64_DTYPES, ids=["float64", "complex128"])
@pytest.mark.parametrize("kind", KINDS)
def test_x64_stepping_matches_full(x64, kind, dtype):
    layer, x = x64_case(kind, dtype)
    width = x.shape[2] if kind == "conv2d" else None
    cached = init_cache(layer, 2, width=width)  # float32 input promoted with the kernel
    assert cached.cache.dtype == dtype
    flat = shift_right(x.reshape(2, -1, x.shape[-1]), exclusive=True)
    final, ys = step_through(cached, flat)
    assert ys.dtype == dtype and final.cache.dtype == dtype
    tree_allclose(ys.reshape(apply(layer, x).shape), apply(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", X64_DTYPES, ids=["float64", "complex128"])
@pytest.mark.parametrize("kind", KINDS)
def test_x64_state_dict_and_pickle_round_trips(x64, kind, dtype):
    layer = build(kind, dtype)
    restored = build(kind, dtype, seed=7).load_state_dict(layer.state_dict())
    unpickled = pickle.loads(pickle.dumps(layer))
    for other in (restored, unpickled):
        assert jax.tree_util.tree_structure(other) == jax.tree_util.tree_structure(layer)
        for a, b in zip(jax.tree_util.tree_leaves(other), jax.tree_util.tree_leaves(layer)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


# -- cache dtypes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "param_dtype, input_dtype, cache_dtype",
    [
        (jnp.float32, None, jnp.float32),
        (jnp.bfloat16, None, jnp.float32),
        (jnp.complex64, None, jnp.complex64),
        (jnp.float32, jnp.complex64, jnp.complex64),
        (jnp.bfloat16, jnp.bfloat16, jnp.bfloat16),
        (jnp.float16, jnp.int8, jnp.float16),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_cache_dtype_is_the_promoted_input_and_kernel_dtype(
    kind, param_dtype, input_dtype, cache_dtype
):
    cached = init_cache(build(kind, param_dtype), 2, width=4, dtype=input_dtype)
    assert cached.cache.dtype == cache_dtype and cached.position.dtype == jnp.int32


def complex_stack(dtypes):
    """A stack of masked convolutions (exclusive first) with these parameter dtypes."""
    sizes = [(2, 4), (4, 4), (4, 3)]
    return ARNN(
        [
            MaskedConv1D(
                cout,
                3,
                i + 1,
                i == 0,
                param_dtype=dtype,
                kernel_init=np_init(i),
                bias_init=np_init(10 + i),
                in_features=cin,
                rng_key=key(i),
            )
            for i, ((cin, cout), dtype) in enumerate(zip(sizes, dtypes))
        ],
        activation=lambda i, h: jnp.tanh(h),
    )


def test_complex128_stack_steps_through_a_sequence_like_the_full_pass(x64):
    net = complex_stack([jnp.complex128] * 3)
    xs = normal(5, (2, 9, 2), dtype=jnp.float64)  # real inputs, as spins are
    cached = init_cache(net, 2)
    assert [layer.cache.dtype for layer in cached.layers] == [jnp.complex128] * 3
    _, ys = step_through(cached, shift_right(xs, True))
    full = apply(net, xs)
    assert ys.dtype == full.dtype == jnp.complex128
    tree_allclose(ys, full, rtol=1e-12, atol=1e-12)


def test_a_value_that_does_not_fit_the_cache_raises_instead_of_casting(x64):
    # a real layer after a complex one: complex values would lose their imaginary part
    net = complex_stack([jnp.complex128, jnp.float64, jnp.complex128])
    xs = shift_right(normal(5, (2, 9, 2), dtype=jnp.float64), True)
    cached = init_cache(net, 2)
    assert cached.layers[1].cache.dtype == jnp.float64
    with pytest.raises(
        ValueError,
        match=r"MaskedConv1D.update_site: this step writes complex128 values into a cache of "
        r"dtype float64 \(storing them would drop their imaginary part\)\. .* "
        r"`init_cache\(net, batch_size, dtype=jnp.complex128\)`",
    ):
        step_through(cached, xs)
    assert int(cached.layers[0].position) == 0  # the caller's network is unchanged
    # the fix the message gives: a complex cache for every layer
    cached = init_cache(net, 2, dtype=jnp.complex128)
    _, ys = step_through(cached, xs)
    tree_allclose(ys, apply(net, normal(5, (2, 9, 2), dtype=jnp.float64)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kind, x_dtype, written, cache, why",
    [
        ("conv1d", jnp.complex64, "complex64", "float32", "would drop their imaginary part"),
        ("dense1d", jnp.complex64, "complex64", "float32", "would drop their imaginary part"),
        ("conv2d", jnp.float64, "float64", "float32", "would round them"),
        ("dense1d", jnp.float64, "float64", "float32", "would round them"),
    ],
)
def test_site_inputs_that_do_not_fit_the_cache_raise(x64, kind, x_dtype, written, cache, why):
    cached = init_cache(build(kind, jnp.float32), 2, width=4)
    x = jnp.ones((2, cached.in_features), x_dtype)
    with pytest.raises(
        ValueError,
        match=rf"{LAYER_NAMES[kind]}.update_site: this step writes {written} values into a cache "
        rf"of dtype {cache} \(storing them {why}\)",
    ):
        pax.module_and_value(cached.update_site)(x)


@pytest.mark.parametrize(
    "dtype, error, match",
    [
        ("not a dtype", TypeError, r"init_cache: `dtype` is the dtype of the network's input"),
        (jnp.float64, ValueError, r"init_cache: `dtype=float64` needs JAX's 64-bit types"),
    ],
)
def test_bad_init_cache_dtype_raises(dtype, error, match):
    with pytest.raises(error, match=match):
        init_cache(conv1d(3, 1, True, 1), 2, dtype=dtype)


# -- NetKet's constructor: in_features taken at the first call -------------------------------

NETKET = {
    "conv1d": (
        lambda **kw: MaskedConv1D(
            features=4,
            kernel_size=3,
            kernel_dilation=2,
            exclusive=True,
            feature_group_count=2,
            **kw,
        ),
        {"in_features": 4},
    ),
    "conv2d": (
        lambda **kw: MaskedConv2D(
            features=4, kernel_size=(2, 3), kernel_dilation=(1, 1), exclusive=True, **kw
        ),
        {"in_features": 2},
    ),
    "dense1d": (
        lambda **kw: MaskedDense1D(features=3, exclusive=True, **kw),
        {"size": 5, "in_features": 2},
    ),
}


def netket_case(kind: str):
    """(built without sizes, built eagerly with the same key, an input)."""
    make, sizes = NETKET[kind]
    return make(rng_key=key(3)), make(rng_key=key(3), **sizes), normal(2, INPUT_SHAPES[kind])


def assert_same_module(a: Any, b: Any, rtol: float = 0.0) -> None:
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    tree_allclose(a, b, rtol=rtol, atol=0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_first_purecall_makes_the_parameters_an_eager_layer_has(kind):
    lazy, eager, x = netket_case(kind)
    built, y = pax.purecall(lazy, x)
    assert_same_module(built, eager)  # same treedef, same values from the same key
    np.testing.assert_array_equal(y, eager(x))
    np.testing.assert_array_equal(built(x), y)  # later calls find the parameters
    assert lazy.kernel is None  # the caller's layer is unchanged


@pytest.mark.parametrize("kind", KINDS)
def test_first_call_may_be_traced_by_jit(kind):
    lazy, eager, x = netket_case(kind)
    built, y = jax.jit(pax.purecall)(lazy, x)  # the kernel is made inside the trace
    assert_same_module(built, eager, rtol=1e-6)
    tree_allclose(y, eager(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_calling_a_layer_without_parameters_directly_raises(kind):
    lazy, _, x = netket_case(kind)
    sizes = {"conv1d": "in_features=4", "conv2d": "in_features=2"}.get(
        kind, "size=5, in_features=2"
    )
    with pytest.raises(
        ValueError,
        match=r"was built without .* so it creates its parameters at its first call[\s\S]*"
        r"layer, y = pax.purecall\(layer, x\)\n"
        rf"or give the input size when building it: `Masked\w+\(\.\.\., {sizes}\)`",
    ):
        lazy(x)


@pytest.mark.parametrize("kind", KINDS)
def test_a_layer_without_parameters_is_a_pytree_that_pickles(kind):
    lazy, eager, x = netket_case(kind)
    assert jax.tree_util.tree_leaves(lazy.parameters()) == []
    assert "in_features=?" in repr(lazy)
    leaves, treedef = jax.tree_util.tree_flatten(lazy)
    assert [leaf.shape for leaf in leaves] == [key(3).shape]  # only the key
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    unpickled = pickle.loads(pickle.dumps(lazy))
    for other in (rebuilt, unpickled, lazy.load_state_dict(lazy.state_dict())):
        assert_same_module(pax.purecall(other, x)[0], eager)
    with pytest.raises(ValueError, match=r"init_cache: the layer has no parameters yet"):
        init_cache(lazy, 2, width=4)


def test_netket_positional_arguments():
    init = np_init(0)
    conv = MaskedConv1D(8, 3, 2, True, 2, False, jnp.complex64, "highest", init, init)
    assert (conv.feature_group_count, conv.use_bias, conv.precision) == (2, False, "highest")
    assert conv.kernel is None and conv.param_dtype == jnp.complex64
    conv2 = MaskedConv2D(4, (2, 3), (1, 2), False, 1, True, jnp.float16, None, init, init)
    assert conv2.kernel_dilation == (1, 2) and conv2.param_dtype == jnp.float16
    dense = MaskedDense1D(3, True, False, jnp.bfloat16, None, init, init)
    assert dense.bias is None and dense.param_dtype == jnp.bfloat16
    assert repr(dense) == (
        "MaskedDense1D(size=?, in_features=?, features=3, exclusive=True, use_bias=False, "
        "param_dtype=bfloat16)"
    )
    conv, y = pax.purecall(conv, normal(0, (2, 6, 4)))
    assert conv.kernel.shape == (2, 2, 8) and conv.kernel.dtype == y.dtype == jnp.complex64


def test_sequential_of_layers_without_sizes_is_built_by_one_purecall():
    def net(**sizes):
        return pax.Sequential(
            MaskedConv1D(8, 3, 1, True, kernel_init=np_init(0), **sizes.get("a", {})),
            jax.nn.gelu,
            MaskedConv1D(8, 3, 2, False, 2, kernel_init=np_init(1), **sizes.get("b", {})),
            MaskedDense1D(3, False, kernel_init=np_init(2), **sizes.get("c", {})),
        )

    eager = net(a={"in_features": 2}, b={"in_features": 8}, c={"size": 6, "in_features": 8})
    x = normal(0, (2, 6, 2))
    built, y = pax.purecall(net(), x)
    assert_same_module(built, eager)
    np.testing.assert_array_equal(y, eager(x))


def test_stack_of_layers_without_sizes_is_built_by_one_purecall():
    def stack(**sizes):
        block = lambda k: MaskedConv1D(4, 3, 1, False, kernel_init=FAST, rng_key=k, **sizes)  # noqa: E731
        return pax.Stack(block, 3, rng_key=key(0))

    x = normal(0, (2, 5, 4))
    built, y = pax.purecall(stack(), x)
    eager = stack(in_features=4)
    assert_same_module(built, eager)
    np.testing.assert_array_equal(y, eager(x))


@pytest.mark.parametrize(
    "make, shape, match",
    [
        (
            lambda: MaskedConv1D(4, 3, 1, False, 2),
            (2, 5, 3),
            r"MaskedConv1D: in_features \(3\) and features \(4\) must both be divisible by "
            r"feature_group_count \(2\)",
        ),
        (
            lambda: MaskedConv2D(4, 3, 1, False),
            (5, 5),
            r"MaskedConv2D expects inputs of rank 4 \(batch, H, W, features\) or rank 3 "
            r"\(H, W, features\), got shape \(5, 5\)\.",
        ),
        (
            lambda: MaskedDense1D(3, True),
            (2, 1, 2),
            "MaskedDense1D: an exclusive layer needs size >= 2",
        ),
        (
            lambda: MaskedDense1D(3, True, size=5),
            (2, 6, 2),
            r"MaskedDense1D expects inputs of shape \(batch, 5, features\) or \(5, features\) "
            r"\(size 5\), got shape \(2, 6, 2\)\.",
        ),
    ],
    ids=["conv1d_groups", "conv2d_rank", "dense1d_size_1", "dense1d_size_given"],
)
def test_sizes_taken_from_the_input_are_checked(make, shape, match):
    with pytest.raises(ValueError, match=match):
        pax.purecall(make(), jnp.ones(shape))


def test_init_cache_on_a_stack_gives_every_block_its_cache():
    stack = pax.Stack(
        lambda k: MaskedConv1D(4, 3, 2, False, kernel_init=FAST, in_features=4, rng_key=k), 3
    )
    cached = init_cache(stack, 2)
    assert cached.blocks.cache.shape == (3, 2, 5, 4) and cached[1].cache.shape == (2, 5, 4)
    xs = normal(0, (2, 8, 4))
    np.testing.assert_array_equal(cached(xs), stack(xs))  # still a valid Stack
    blocks = ARNN(cached.to_sequential().modules, activation=lambda i, h: h)
    _, ys = step_through(blocks, xs)
    tree_allclose(ys, stack(xs), rtol=1e-5, atol=1e-5)
