"""numpy references of the masked layers (explicit loops over positions and taps),
shared by tests/test_masked.py and the layer registry (tests/layer_cases/masked.py)."""

import itertools
from typing import Any

import numpy as np

from pax._src.nn.masked import MaskedConv1D, MaskedConv2D, MaskedDense1D, conv2d_mask


def _ungroup(tap: np.ndarray, groups: int, in_features: int) -> np.ndarray:
    """A grouped kernel tap ``(in // groups, out)`` as a dense ``(in, out)`` matrix."""
    cin, cout = tap.shape
    dense = np.zeros((in_features, cout), tap.dtype)
    per_group = cout // groups
    for o in range(cout):
        g = o // per_group
        dense[g * cin : (g + 1) * cin, o] = tap[:, o]
    return dense


def _as_numpy(layer: Any, x: Any):
    """``x`` and the kernel in numpy, in float64 or complex128 (the widest of their kind)."""
    x, kernel = np.asarray(x), np.asarray(layer.kernel)
    dtype = np.result_type(x.dtype, kernel.dtype, np.float64)
    return x.astype(dtype), kernel.astype(dtype)


def np_masked_conv1d(layer: MaskedConv1D, x: np.ndarray) -> np.ndarray:
    """Output i = sum over taps t < K - exclusive of kernel[t] . x[i - (K - 1 - t) d]."""
    x, kernel = _as_numpy(layer, x)
    batch, length, cin = x.shape
    y = np.zeros((batch, length, layer.features), x.dtype)
    K, d = layer.kernel_size, layer.kernel_dilation
    assert kernel.shape[0] == K - layer.exclusive
    for i in range(length):
        for t in range(K - layer.exclusive):
            j = i - (K - 1 - t) * d
            if j >= 0:
                y[:, i] += x[:, j] @ _ungroup(kernel[t], layer.feature_group_count, cin)
    if layer.bias is not None:
        y += np.asarray(layer.bias)
    return y


def np_masked_conv2d(layer: MaskedConv2D, x: np.ndarray) -> np.ndarray:
    """Output (r, c) = sum over unmasked taps (a, b) of
    kernel[a, b] . x[r - (kh - 1 - a) dh, c + (b - kw // 2) dw] (zero outside)."""
    x, kernel = _as_numpy(layer, x)
    batch, height, width, cin = x.shape
    (kh, kw), (dh, dw) = layer.kernel_size, layer.kernel_dilation
    mask = conv2d_mask(layer.kernel_size, layer.exclusive)
    y = np.zeros((batch, height, width, layer.features), x.dtype)
    for r, c, a, b in itertools.product(range(height), range(width), range(kh), range(kw)):
        rr, cc = r - (kh - 1 - a) * dh, c + (b - kw // 2) * dw
        if mask[a, b] and 0 <= rr and 0 <= cc < width:
            y[:, r, c] += x[:, rr, cc] @ _ungroup(kernel[a, b], layer.feature_group_count, cin)
    if layer.bias is not None:
        y += np.asarray(layer.bias)
    return y


def np_masked_dense1d(layer: MaskedDense1D, x: np.ndarray) -> np.ndarray:
    """Output j = sum over i <= j (i < j when exclusive) of x[i] @ kernel block (i, j)."""
    x, kernel = _as_numpy(layer, x)
    batch, size, cin = x.shape
    cout = layer.features
    y = np.zeros((batch, size, cout), x.dtype)
    for i, j in itertools.product(range(size), range(size)):
        if i + layer.exclusive <= j:
            y[:, j] += x[:, i] @ kernel[i * cin : (i + 1) * cin, j * cout : (j + 1) * cout]
    if layer.bias is not None:
        y += np.asarray(layer.bias)
    return y
