"""Pooling and space/batch/channel rearrangements of ``pax.functional`` (NCHW layout)."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from ..nn.padding import ConvPadding, normalize_padding

IntPair = int | tuple[int, int]
PoolPadding = ConvPadding | str | int | tuple[int, int] | Sequence[tuple[int, int]]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _pair(fn: str, arg: str, value: object) -> tuple[int, int]:
    """``value`` as a pair of positive ints (an int is used for both dimensions)."""
    if _is_int(value):
        pair = (int(value), int(value))  # type: ignore[call-overload]
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{fn}: `{arg}` must be an int or a pair of ints (h, w), got {value!r}.")
    if min(pair) <= 0:
        raise ValueError(f"{fn}: `{arg}` must be positive, got {value!r}.")
    return pair


def _padding(fn: str, padding: object) -> str | tuple[tuple[int, int], ...]:
    """``'SAME'``/``'VALID'``, or explicit ``((low, high), (low, high))`` for (H, W).

    An int ``p`` pads ``p`` on both sides of H and W; a pair of ints ``(low, high)`` is used
    for both H and W; two pairs give the padding of H and of W (as in Objax).
    """
    if isinstance(padding, (str, ConvPadding)):
        try:
            return normalize_padding(padding)
        except ValueError as error:
            raise ValueError(f"{fn}: {error}") from None
    pairs: object
    if _is_int(padding):
        pairs = ((padding, padding), (padding, padding))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 and all(map(_is_int, padding)):
        pairs = (tuple(padding), tuple(padding))
    else:
        pairs = padding
    if (
        not isinstance(pairs, (tuple, list))
        or len(pairs) != 2
        or not all(
            isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(v) and v >= 0 for v in p)
            for p in pairs
        )
    ):
        raise ValueError(
            f"{fn}: `padding` must be 'SAME', 'VALID' (pax.ConvPadding), a non-negative int, "
            f"a pair (low, high) or two pairs ((low_h, high_h), (low_w, high_w)); got {padding!r}."
        )
    return tuple((int(lo), int(hi)) for lo, hi in pairs)


def _check_rank4(fn: str, x: jax.Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"{fn} expects inputs of rank 4 (N, C, H, W), got shape {x.shape}.")


def _pool(
    fn: str,
    x: ArrayLike,
    size: IntPair,
    strides: IntPair | None,
    padding: PoolPadding,
    init: object,
    op: object,
) -> jax.Array:
    x = jnp.asarray(x)
    _check_rank4(fn, x)
    window = _pair(fn, "size", size)
    step = window if strides is None else _pair(fn, "strides", strides)
    pad = _padding(fn, padding)
    if not isinstance(pad, str):
        pad = ((0, 0), (0, 0)) + pad
    return lax.reduce_window(x, init, op, (1, 1) + window, (1, 1) + step, pad)  # type: ignore[arg-type]


def average_pool_2d(
    x: ArrayLike,
    size: IntPair = 2,
    strides: IntPair | None = None,
    padding: PoolPadding = ConvPadding.VALID,
) -> jax.Array:
    """Average pooling of ``(N, C, H, W)`` inputs with a ``size`` window.

    Padded positions count as zeros (every window is divided by ``size[0] * size[1]``).

    Args:
        x: input of shape ``(N, C, H, W)``.
        size: window size, an int or ``(h, w)``.
        strides: stride, an int or ``(h, w)``; ``None`` (default) uses ``size``.
        padding: ``'VALID'`` (default), ``'SAME'`` (``pax.ConvPadding`` or a string), an
            int, a pair ``(low, high)`` for both H and W, or two pairs for H and W.

    Returns:
        An array of shape ``(N, C, H', W')``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.pooling import average_pool_2d
    >>> average_pool_2d(jnp.arange(8.0).reshape(1, 1, 2, 4))
    Array([[[[2.5, 4.5]]]], dtype=float32)
    """
    x = jnp.asarray(x)
    total = _pool("average_pool_2d", x, size, strides, padding, jnp.zeros((), x.dtype), lax.add)
    window = _pair("average_pool_2d", "size", size)
    return total / (window[0] * window[1])


def max_pool_2d(
    x: ArrayLike,
    size: IntPair = 2,
    strides: IntPair | None = None,
    padding: PoolPadding = ConvPadding.VALID,
) -> jax.Array:
    """Max pooling of ``(N, C, H, W)`` inputs with a ``size`` window.

    Padded positions are ``-inf`` (the smallest integer for integer inputs), so they never
    win.

    Args:
        x: input of shape ``(N, C, H, W)``.
        size: window size, an int or ``(h, w)``.
        strides: stride, an int or ``(h, w)``; ``None`` (default) uses ``size``.
        padding: as in ``average_pool_2d``.

    Returns:
        An array of shape ``(N, C, H', W')``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.pooling import max_pool_2d
    >>> max_pool_2d(jnp.arange(8.0).reshape(1, 1, 2, 4))
    Array([[[[5., 7.]]]], dtype=float32)
    """
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.integer):
        init: object = jnp.array(jnp.iinfo(x.dtype).min, x.dtype)
    elif jnp.issubdtype(x.dtype, jnp.bool_):
        init = jnp.array(False)
    else:
        init = jnp.array(-jnp.inf, x.dtype)
    return _pool("max_pool_2d", x, size, strides, padding, init, lax.max)


def _check_divides(fn: str, what: str, length: int, block: int, size: object, dims: str) -> None:
    if length % block:
        raise ValueError(
            f"{fn}: {what} {length} is not divisible by the block size {block} "
            f"(size={size!r}); use {dims}."
        )


def space_to_batch2d(x: ArrayLike, size: IntPair = 2) -> jax.Array:
    """Move ``size[0] x size[1]`` spatial blocks into the batch dimension.

    ``y[n * s0 * s1 + i * s1 + j, c, h, w] = x[n, c, h * s0 + i, w * s1 + j]``
    (the inverse of ``batch_to_space2d``).

    Args:
        x: input of shape ``(N, C, H, W)``, with ``H`` and ``W`` divisible by ``size``.
        size: block size, an int or ``(s0, s1)``.

    Returns:
        An array of shape ``(N * s0 * s1, C, H // s0, W // s1)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.pooling import space_to_batch2d
    >>> space_to_batch2d(jnp.arange(4).reshape(1, 1, 2, 2))[:, 0, 0, 0]
    Array([0, 1, 2, 3], dtype=int32)
    """
    fn = "space_to_batch2d"
    x = jnp.asarray(x)
    _check_rank4(fn, x)
    s0, s1 = _pair(fn, "size", size)
    n, c, h, w = x.shape
    _check_divides(fn, "height", h, s0, size, "an input height that is a multiple of size[0]")
    _check_divides(fn, "width", w, s1, size, "an input width that is a multiple of size[1]")
    y = x.reshape(n, c, h // s0, s0, w // s1, s1).transpose(0, 3, 5, 1, 2, 4)
    return y.reshape(n * s0 * s1, c, h // s0, w // s1)


def batch_to_space2d(x: ArrayLike, size: IntPair = 2) -> jax.Array:
    """Move groups of ``size[0] * size[1]`` batch entries into spatial blocks.

    ``y[n, c, h * s0 + i, w * s1 + j] = x[n * s0 * s1 + i * s1 + j, c, h, w]``
    (the inverse of ``space_to_batch2d``).

    Args:
        x: input of shape ``(N, C, H, W)``, with ``N`` divisible by ``s0 * s1``.
        size: block size, an int or ``(s0, s1)``.

    Returns:
        An array of shape ``(N // (s0 * s1), C, H * s0, W * s1)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.pooling import batch_to_space2d
    >>> batch_to_space2d(jnp.arange(4).reshape(4, 1, 1, 1))
    Array([[[[0, 1],
             [2, 3]]]], dtype=int32)
    """
    fn = "batch_to_space2d"
    x = jnp.asarray(x)
    _check_rank4(fn, x)
    s0, s1 = _pair(fn, "size", size)
    n, c, h, w = x.shape
    _check_divides(fn, "batch size", n, s0 * s1, size, "a batch size that is a multiple of s0 * s1")
    y = x.reshape(n // (s0 * s1), s0, s1, c, h, w).transpose(0, 3, 4, 1, 5, 2)
    return y.reshape(n // (s0 * s1), c, h * s0, w * s1)


def space_to_channel2d(x: ArrayLike, size: IntPair = 2) -> jax.Array:
    """Move ``size[0] x size[1]`` spatial blocks into the channel dimension.

    ``y[n, c * s0 * s1 + i * s1 + j, h, w] = x[n, c, h * s0 + i, w * s1 + j]``
    (the inverse of ``channel_to_space2d``).

    Args:
        x: input of shape ``(N, C, H, W)``, with ``H`` and ``W`` divisible by ``size``.
        size: block size, an int or ``(s0, s1)``.

    Returns:
        An array of shape ``(N, C * s0 * s1, H // s0, W // s1)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.pooling import space_to_channel2d
    >>> space_to_channel2d(jnp.arange(4).reshape(1, 1, 2, 2))[0, :, 0, 0]
    Array([0, 1, 2, 3], dtype=int32)
    """
    fn = "space_to_channel2d"
    x = jnp.asarray(x)
    _check_rank4(fn, x)
    s0, s1 = _pair(fn, "size", size)
    n, c, h, w = x.shape
    _check_divides(fn, "height", h, s0, size, "an input height that is a multiple of size[0]")
    _check_divides(fn, "width", w, s1, size, "an input width that is a multiple of size[1]")
    y = x.reshape(n, c, h // s0, s0, w // s1, s1).transpose(0, 1, 3, 5, 2, 4)
    return y.reshape(n, c * s0 * s1, h // s0, w // s1)


def channel_to_space2d(x: ArrayLike, size: IntPair = 2) -> jax.Array:
    """Move groups of ``size[0] * size[1]`` channels into spatial blocks.

    ``y[n, c, h * s0 + i, w * s1 + j] = x[n, c * s0 * s1 + i * s1 + j, h, w]``
    (the inverse of ``space_to_channel2d``).

    Args:
        x: input of shape ``(N, C, H, W)``, with ``C`` divisible by ``s0 * s1``.
        size: block size, an int or ``(s0, s1)``.

    Returns:
        An array of shape ``(N, C // (s0 * s1), H * s0, W * s1)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.pooling import channel_to_space2d
    >>> channel_to_space2d(jnp.arange(4).reshape(1, 4, 1, 1))
    Array([[[[0, 1],
             [2, 3]]]], dtype=int32)
    """
    fn = "channel_to_space2d"
    x = jnp.asarray(x)
    _check_rank4(fn, x)
    s0, s1 = _pair(fn, "size", size)
    n, c, h, w = x.shape
    _check_divides(
        fn, "channels", c, s0 * s1, size, "a channel count that is a multiple of s0 * s1"
    )
    y = x.reshape(n, c // (s0 * s1), s0, s1, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (s0 * s1), h * s0, w * s1)
