"""Registry cases: Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose."""

import jax
import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key

from pax._src.nn.conv import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose


def np_normal(seed: int, shape, scale: float = 1.0) -> jax.Array:
    # numpy draws: no compilation per shape (jax.random costs ~1 s per new shape)
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32)


def init(seed: int):
    """Normal with variance 1 / (the product of all axes but the last): O(1) outputs."""

    def init_fn(rng_key, shape, dtype=jnp.float32):
        del rng_key
        fan_in = float(np.prod(shape[:-1])) if len(shape) > 1 else 1.0
        return np_normal(seed, shape, fan_in**-0.5).astype(dtype)

    return init_fn


CONV = dict(w_init=init(0), b_init=init(1), rng_key=key(0))


def conv1d_stride(dtype=jnp.float32):
    return Conv1D(3, 4, 3, stride=2, **CONV, param_dtype=dtype)


def conv2d_nchw_groups_dilated(dtype=jnp.float32):
    return Conv2D(
        4,
        6,
        (3, 2),
        rate=(1, 2),
        padding=[(1, 1), (0, 1)],
        data_format="NCHW",
        feature_group_count=2,
        **CONV,
        param_dtype=dtype,
    )


def conv1d_transpose_ncw_no_bias(dtype=jnp.float32):
    return Conv1DTranspose(
        3,
        2,
        4,
        stride=2,
        data_format="NCW",
        with_bias=False,
        w_init=init(2),
        rng_key=key(1),
        param_dtype=dtype,
    )


def conv2d_transpose_stride(dtype=jnp.float32):
    return Conv2DTranspose(2, 3, 3, stride=2, **CONV, param_dtype=dtype)


# -- a numpy reference: a strided, dilated, grouped correlation ------------------------


def np_correlate(x, w, stride, rate, pads, input_dilation, groups):
    """``x`` (N, *spatial, C) correlated with ``w`` (*kernel, C // groups, O): ``x`` is
    dilated by ``input_dilation`` (zeros between its entries), padded by ``pads``
    ((low, high) per spatial axis) and read at ``stride``, the kernel taps ``rate``
    apart."""
    n, *spatial, channels = x.shape
    kernel = w.shape[:-2]
    dilated_shape = [(size - 1) * d + 1 for size, d in zip(spatial, input_dilation)]
    dilated = np.zeros((n, *dilated_shape, channels), x.dtype)
    dilated[(slice(None), *(slice(None, None, d) for d in input_dilation))] = x
    padded = np.pad(dilated, [(0, 0), *pads, (0, 0)])
    extent = [(k - 1) * r + 1 for k, r in zip(kernel, rate)]
    out_shape = [(size - e) // st + 1 for size, e, st in zip(padded.shape[1:-1], extent, stride)]
    c_group, o_group = channels // groups, w.shape[-1] // groups
    out = np.zeros((n, *out_shape, w.shape[-1]), np.result_type(x, w))
    for tap in np.ndindex(*kernel):
        window = tuple(
            slice(t * r, t * r + (o - 1) * st + 1, st)
            for t, r, o, st in zip(tap, rate, out_shape, stride)
        )
        patch = padded[(slice(None), *window)]  # (N, *out_shape, C)
        for g in range(groups):
            out[..., g * o_group : (g + 1) * o_group] += (
                patch[..., g * c_group : (g + 1) * c_group]
                @ w[tap][:, g * o_group : (g + 1) * o_group]
            )
    return out


def _same_pads(spatial, extent, stride):
    """XLA's "SAME" padding of a convolution: ceil(size / stride) outputs."""
    pads = []
    for size, e, st in zip(spatial, extent, stride):
        total = max((-(-size // st) - 1) * st + e - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _transpose_same_pads(kernel, stride):
    """The padding of a "SAME" transposed convolution (stride times more outputs)."""
    pads = []
    for k, st in zip(kernel, stride):
        total = k + st - 2
        low = k - 1 if st > k - 1 else -(-total // 2)
        pads.append((low, total - low))
    return pads


def np_conv(conv, x):
    """The output of a Conv1D/Conv2D/Conv1DTranspose/Conv2DTranspose, in numpy."""
    x, w = np.asarray(x), np.asarray(conv.weight)
    channels_first = conv.data_format[1] == "C"
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    transpose = "Transpose" in type(conv).__name__
    kernel, stride = conv.kernel_shape, conv.stride
    ones = (1,) * len(kernel)
    if transpose:  # (*kernel, out, in) -> (*kernel, in, out); strides dilate the input
        w = np.swapaxes(w, -1, -2)
        rate, groups, dilation, conv_stride = ones, 1, stride, ones
    else:
        rate, groups, dilation, conv_stride = conv.rate, conv.feature_group_count, ones, stride
    if conv.padding == "SAME":
        if transpose:
            pads = _transpose_same_pads(kernel, stride)
        else:
            extent = [(k - 1) * r + 1 for k, r in zip(kernel, rate)]
            pads = _same_pads(x.shape[1:-1], extent, stride)
    else:
        pads = list(conv.padding)
    y = np_correlate(x, w, conv_stride, rate, pads, dilation, groups)
    if conv.bias is not None:
        y = y + np.asarray(conv.bias)
    return np.moveaxis(y, -1, 1) if channels_first else y


LAYERS = [
    LayerCase(
        "conv1d_stride",
        conv1d_stride,
        lambda s: (np_normal(s, (2, 7, 3)),),
        make_dtype=conv1d_stride,
        reference=np_conv,
    ),
    LayerCase(
        "conv2d_nchw_groups_dilated",
        conv2d_nchw_groups_dilated,
        lambda s: (np_normal(s, (2, 4, 5, 6)),),
        make_dtype=conv2d_nchw_groups_dilated,
        reference=np_conv,
    ),
    LayerCase(
        "conv1d_transpose_ncw_no_bias",
        conv1d_transpose_ncw_no_bias,
        lambda s: (np_normal(s, (2, 3, 5)),),
        make_dtype=conv1d_transpose_ncw_no_bias,
        reference=np_conv,
    ),
    LayerCase(
        "conv2d_transpose_stride",
        conv2d_transpose_stride,
        lambda s: (np_normal(s, (2, 4, 3, 2)),),
        make_dtype=conv2d_transpose_stride,
        reference=np_conv,
    ),
]
