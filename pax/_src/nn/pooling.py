"""``avg_pool`` and ``max_pool``: haiku's pooling functions (PAX 0.5's ``pax.avg_pool``,
``pax.max_pool``) on ``jax.lax.reduce_window``."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .padding import ConvPadding
from .validation import is_integer

IntOrInts = int | Sequence[int]


def _window(
    fn: str, arg: str, size: Any, ndim: int, shape: tuple[int, ...], channel_axis: int | None
) -> tuple[int, ...]:
    """The full-rank window (or strides) that ``size`` describes, as haiku infers it."""
    if is_integer(size):
        if size <= 0:
            raise ValueError(f"{fn}: `{arg}` must be positive, got {size!r}.")
        skip = None
        if channel_axis is not None:
            if not -ndim <= channel_axis < ndim:
                raise ValueError(
                    f"{fn}: `channel_axis` {channel_axis} is out of range for an input of "
                    f"shape {shape}."
                )
            skip = channel_axis % ndim
        # the leading (batch) axis and the channel axis are not pooled
        return (1,) + tuple(1 if d == skip else int(size) for d in range(1, ndim))
    if not isinstance(size, (list, tuple)) or not all(is_integer(s) and s > 0 for s in size):
        raise ValueError(
            f"{fn}: `{arg}` must be a positive int or a sequence of positive ints, got {size!r}."
        )
    if len(size) > ndim:
        raise ValueError(
            f"{fn}: `{arg}` {tuple(size)} has more entries than the input has axes (shape {shape})."
        )
    # missing leading entries are batch axes, which are not pooled
    return (1,) * (ndim - len(size)) + tuple(int(s) for s in size)


def _padding(fn: str, padding: Any) -> str:
    if isinstance(padding, str) and padding.upper() in ConvPadding.__members__:
        return padding.upper()  # ConvPadding is a str enum
    raise ValueError(
        f"{fn}: `padding` must be 'SAME' or 'VALID' (or pax.ConvPadding), got {padding!r}."
    )


def max_pool(
    value: jax.Array,
    window_shape: IntOrInts,
    strides: IntOrInts,
    padding: str | ConvPadding,
    channel_axis: int | None = -1,
) -> jax.Array:
    """The maximum over sliding windows (haiku's ``hk.max_pool``).

    Args:
      value: the array to pool, of any rank.
      window_shape: the window, a sequence of sizes for the trailing axes of
        ``value`` (missing leading entries are 1), or an int for every axis but
        the first (the batch) and ``channel_axis``.
      strides: the step between windows, in the same forms as ``window_shape``.
      padding: ``"SAME"`` or ``"VALID"`` (any case, or :class:`pax.ConvPadding`);
        ``"SAME"`` pads with ``-inf`` (the smallest integer for integer inputs).
      channel_axis: the axis an int ``window_shape``/``strides`` does not pool
        (``None``: pool every axis but the first).

    Returns:
      The pooled array, of the rank of ``value``.

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(12.0).reshape(1, 3, 4, 1)
    >>> max_pool(x, (2, 2, 1), (2, 2, 1), "SAME")[0, ..., 0]
    Array([[ 5.,  7.],
           [ 9., 11.]], dtype=float32)
    """
    value = jnp.asarray(value)
    shape = tuple(value.shape)
    padding = _padding("max_pool", padding)
    window = _window("max_pool", "window_shape", window_shape, value.ndim, shape, channel_axis)
    step = _window("max_pool", "strides", strides, value.ndim, shape, channel_axis)
    if jnp.issubdtype(value.dtype, jnp.floating):
        init = np.array(-np.inf, value.dtype)
    elif jnp.issubdtype(value.dtype, jnp.integer):
        init = np.array(jnp.iinfo(value.dtype).min, value.dtype)
    else:
        raise TypeError(f"max_pool: expects a float or integer array, got dtype {value.dtype}.")
    return jax.lax.reduce_window(value, init, jax.lax.max, window, step, padding)


def avg_pool(
    value: jax.Array,
    window_shape: IntOrInts,
    strides: IntOrInts,
    padding: str | ConvPadding,
    channel_axis: int | None = -1,
) -> jax.Array:
    """The mean over sliding windows (haiku's ``hk.avg_pool``).

    With ``"SAME"`` padding a window that reaches past the edge averages only
    the entries inside the input (padding is not counted).

    Args:
      value: the array to pool, of any rank (integer arrays are pooled in float32).
      window_shape: the window, a sequence of sizes for the trailing axes of
        ``value`` (missing leading entries are 1), or an int for every axis but
        the first (the batch) and ``channel_axis``.
      strides: the step between windows, in the same forms as ``window_shape``.
      padding: ``"SAME"`` or ``"VALID"`` (any case, or :class:`pax.ConvPadding`).
      channel_axis: the axis an int ``window_shape``/``strides`` does not pool
        (``None``: pool every axis but the first).

    Returns:
      The pooled array, of the rank of ``value``.

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(12.0).reshape(1, 3, 4, 1)
    >>> avg_pool(x, (2, 2, 1), (2, 2, 1), "SAME")[0, ..., 0]
    Array([[ 2.5,  4.5],
           [ 8.5, 10.5]], dtype=float32)
    """
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        value = value.astype(jnp.float32)
    shape = tuple(value.shape)
    padding = _padding("avg_pool", padding)
    window = _window("avg_pool", "window_shape", window_shape, value.ndim, shape, channel_axis)
    step = _window("avg_pool", "strides", strides, value.ndim, shape, channel_axis)
    zero = np.array(0, value.dtype)
    total = jax.lax.reduce_window(value, zero, jax.lax.add, window, step, padding)
    if padding == "VALID":
        return total / np.array(np.prod(window), value.dtype)
    # the number of entries inside the input in each window; it only varies along
    # the pooled axes (a window of 1 is never padded), so count on those alone
    count_shape = tuple(n if w != 1 else 1 for n, w in zip(shape, window))
    ones = jnp.ones(count_shape, value.dtype)
    counts = jax.lax.reduce_window(ones, zero, jax.lax.add, window, step, padding)
    return total / counts
