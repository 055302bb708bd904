"""Array operations of ``pax.functional`` (Objax's "misc" functions)."""

import enum
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from .pooling import _check_rank4, _is_int, _pair

Carry = TypeVar("Carry")
T = TypeVar("T")


class Interpolate(str, enum.Enum):
    """Interpolation methods of ``interpolate`` and ``upsample_2d`` (a ``str`` enum, so
    ``Interpolate.NEAREST == "nearest"``; the functions also accept the strings, any case).

    >>> from pax._src.functional.misc import Interpolate
    >>> Interpolate.BILINEAR == "bilinear", Interpolate("nearest") is Interpolate.NEAREST
    (True, True)
    """

    NEAREST = "nearest"
    LINEAR = "linear"
    BILINEAR = "bilinear"
    TRILINEAR = "trilinear"
    TRIANGLE = "triangle"
    CUBIC = "cubic"
    BICUBIC = "bicubic"
    TRICUBIC = "tricubic"
    LANCZOS3 = "lanczos3"
    LANCZOS5 = "lanczos5"

    def __str__(self) -> str:
        return self.value


def _method(fn: str, mode: Interpolate | str) -> str:
    if isinstance(mode, Interpolate):
        return mode.value
    if isinstance(mode, str) and mode.lower() in {m.value for m in Interpolate}:
        return mode.lower()
    choices = ", ".join(repr(m.value) for m in Interpolate)
    raise ValueError(f"{fn}: unknown interpolation method {mode!r}; use one of {choices}.")


def _positive_ints(fn: str, arg: str, value: object) -> tuple[int, ...]:
    """``value`` (an int or a tuple of ints) as a tuple of positive ints."""
    values = (value,) if _is_int(value) else value
    if (
        not isinstance(values, (tuple, list))
        or not values
        or not all(_is_int(v) and v > 0 for v in values)
    ):
        raise ValueError(
            f"{fn}: `{arg}` must be a positive int or a tuple of positive ints, got {value!r}."
        )
    return tuple(int(v) for v in values)


def dynamic_slice(
    operand: ArrayLike, start_indices: Sequence[ArrayLike], slice_sizes: Sequence[int]
) -> jax.Array:
    """The slice of ``operand`` of shape ``slice_sizes`` starting at ``start_indices``
    (XLA's DynamicSlice, ``jax.lax.dynamic_slice``).

    The start indices may be traced values; the sizes must be static. A slice that would
    overrun the array has its start moved back so that it has the requested size.

    Args:
        operand: the array to slice.
        start_indices: one scalar index per dimension.
        slice_sizes: the size of the slice, one non-negative int per dimension.

    Returns:
        An array of shape ``slice_sizes``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import dynamic_slice
    >>> x = jnp.arange(12).reshape(3, 4)
    >>> dynamic_slice(x, (1, 1), (2, 3))
    Array([[ 5,  6,  7],
           [ 9, 10, 11]], dtype=int32)
    >>> dynamic_slice(x, (1, 1), (2, 4))
    Array([[ 4,  5,  6,  7],
           [ 8,  9, 10, 11]], dtype=int32)
    """
    return lax.dynamic_slice(operand, start_indices, slice_sizes)  # type: ignore[arg-type]


def flatten(x: ArrayLike) -> jax.Array:
    """Reshape ``(n_1, n_2, ..., n_k)`` to ``(n_1, n_2 * ... * n_k)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import flatten
    >>> flatten(jnp.zeros((2, 3, 4))).shape
    (2, 12)
    """
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError("flatten expects an array with at least one dimension, got a scalar.")
    return x.reshape(x.shape[0], -1)


def interpolate(
    input: ArrayLike,
    size: int | tuple[int, ...] | None = None,
    scale_factor: int | tuple[int, ...] | None = None,
    mode: Interpolate | str = Interpolate.BILINEAR,
) -> jax.Array:
    """Resize an array to ``size`` or by ``scale_factor`` (``jax.image.resize``).

    Exactly one of ``size`` and ``scale_factor`` must be given. As in Objax:

    - ``size=n`` (an int) sets the last dimension to ``n``;
    - ``size=(n_1, ..., n_k)`` sets the last ``k`` dimensions;
    - ``scale_factor=s`` (an int) multiplies every dimension but the first by ``s``;
    - ``scale_factor=(s_1, ..., s_k)`` multiplies the last ``k`` dimensions.

    Args:
        input: the array to resize.
        size: the output size of the trailing dimensions.
        scale_factor: integer scaling factors.
        mode: an ``Interpolate`` method or its name (e.g. ``'bilinear'``, ``'nearest'``).

    Returns:
        The resized array.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import interpolate
    >>> interpolate(jnp.array([[0.0, 1.0]]), size=4, mode="nearest")
    Array([[0., 0., 1., 1.]], dtype=float32)
    >>> interpolate(jnp.zeros((2, 3, 4, 5)), scale_factor=(2, 3)).shape
    (2, 3, 8, 15)
    """
    fn = "interpolate"
    x = jnp.asarray(input)
    method = _method(fn, mode)
    if (size is None) == (scale_factor is None):
        raise ValueError(
            f"{fn}: give exactly one of `size` and `scale_factor`, got size={size!r} and "
            f"scale_factor={scale_factor!r}."
        )
    if x.ndim == 0:
        raise ValueError(f"{fn} expects an array with at least one dimension, got a scalar.")
    shape = x.shape
    if scale_factor is not None:
        factors = _positive_ints(fn, "scale_factor", scale_factor)
        if _is_int(scale_factor):
            factors = (1,) + factors * (x.ndim - 1)
        elif len(factors) > x.ndim:
            raise ValueError(
                f"{fn}: `scale_factor` {scale_factor!r} has more entries than the input has "
                f"dimensions (shape {shape})."
            )
        lead = x.ndim - len(factors)
        out = shape[:lead] + tuple(d * f for d, f in zip(shape[lead:], factors))
    else:
        sizes = _positive_ints(fn, "size", size)
        if len(sizes) > x.ndim:
            raise ValueError(
                f"{fn}: `size` {size!r} has more entries than the input has dimensions "
                f"(shape {shape})."
            )
        out = shape[: x.ndim - len(sizes)] + sizes
    return jax.image.resize(x, out, method)


def one_hot(x: ArrayLike, num_classes: int, *, dtype: Any = None, axis: int = -1) -> jax.Array:
    """One-hot encode the indices ``x`` along a new axis of length ``num_classes``
    (``jax.nn.one_hot``); indices outside ``[0, num_classes)`` encode as all zeros.

    Args:
        x: an array of indices.
        num_classes: the length of the one-hot dimension.
        dtype: the output dtype; ``None`` (default) is JAX's default float dtype (float32,
            float64 with ``jax_enable_x64``), which is what Objax's ``jnp.float_`` gave.
        axis: where the new axis goes.

    Returns:
        An array of shape ``x.shape`` with ``num_classes`` inserted at ``axis``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import one_hot
    >>> one_hot(jnp.array([0, 2, 3]), 3)
    Array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    return jax.nn.one_hot(x, num_classes, dtype=dtype, axis=axis)


def pad(
    array: ArrayLike, pad_width: Any, mode: str | Callable = "constant", **kwargs: Any
) -> jax.Array:
    """Pad an array (``jax.numpy.pad``, numpy's semantics).

    Args:
        array: the array to pad.
        pad_width: ``((before_1, after_1), ..., (before_N, after_N))``, one
            ``(before, after)`` pair for every axis, or an int for all.
        mode: ``'constant'`` (default), ``'edge'``, ``'linear_ramp'``, ``'maximum'``,
            ``'mean'``, ``'median'``, ``'minimum'``, ``'reflect'``, ``'symmetric'``,
            ``'wrap'``, ``'empty'``, or a function returning the padded vector.
        **kwargs: ``constant_values``, ``stat_length``, ``end_values``, ``reflect_type``
            as in ``numpy.pad``.

    Returns:
        The padded array.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import pad
    >>> pad(jnp.array([1, 2]), (1, 2))
    Array([0, 1, 2, 0, 0], dtype=int32)
    >>> pad(jnp.array([1, 2]), 1, mode="edge")
    Array([1, 1, 2, 2], dtype=int32)
    """
    return jnp.pad(array, pad_width, mode, **kwargs)


def scan(
    f: Callable[[Carry, Any], tuple[Carry, Any]],
    init: Carry,
    xs: Any,
    length: int | None = None,
    reverse: bool = False,
    unroll: int = 1,
) -> tuple[Carry, Any]:
    """Scan ``f`` over the leading axis of ``xs`` while carrying a state
    (``jax.lax.scan``): roughly ``for x in xs: carry, y = f(carry, x)``, returning the
    final carry and the stacked ``y``.

    Args:
        f: ``(carry, x) -> (carry, y)``; the carry keeps a fixed structure, shape and dtype.
        init: the initial carry (any pytree).
        xs: the pytree scanned over along its leading axis, or ``None`` with ``length``.
        length: the number of iterations (needed when ``xs`` is ``None``).
        reverse: scan from the end (the outputs stay aligned with ``xs``).
        unroll: how many iterations to unroll in one loop step.

    Returns:
        ``(final_carry, stacked_ys)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import scan
    >>> scan(lambda c, x: (c + x, c * x), 0.0, jnp.array([1.0, 2.0, 3.0]))
    (Array(6., dtype=float32), Array([0., 2., 9.], dtype=float32))
    """
    return lax.scan(f, init, xs, length=length, reverse=reverse, unroll=unroll)


def stop_gradient(x: T) -> T:
    """The identity, through which no gradient flows (``jax.lax.stop_gradient``; works on
    pytrees).

    >>> import jax
    >>> from pax._src.functional.misc import stop_gradient
    >>> jax.grad(lambda x: x**2 + stop_gradient(x**2))(3.0)
    Array(6., dtype=float32, weak_type=True)
    """
    return lax.stop_gradient(x)


def top_k(operand: ArrayLike, k: int) -> tuple[jax.Array, jax.Array]:
    """The ``k`` largest values along the last axis, in decreasing order, and their
    indices (``jax.lax.top_k``).

    Args:
        operand: an array of rank at least 1.
        k: how many values to return, ``0 <= k <= operand.shape[-1]``.

    Returns:
        ``(values, indices)``, each of shape ``operand.shape[:-1] + (k,)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import top_k
    >>> top_k(jnp.array([1.0, 5.0, 3.0, 4.0]), 2)
    (Array([5., 4.], dtype=float32), Array([1, 3], dtype=int32))
    """
    x = jnp.asarray(operand)
    if x.ndim == 0:
        raise ValueError("top_k expects an array with at least one dimension, got a scalar.")
    if not _is_int(k) or not 0 <= k <= x.shape[-1]:
        raise ValueError(
            f"top_k: `k` must be an int in [0, {x.shape[-1]}] (the size of the last axis of "
            f"an input of shape {x.shape}), got {k!r}."
        )
    values, indices = lax.top_k(x, int(k))
    return values, indices


def rsqrt(x: ArrayLike) -> jax.Array:
    """Elementwise reciprocal square root ``1 / sqrt(x)`` (integers are promoted to float).

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import rsqrt
    >>> rsqrt(jnp.array([4.0, 0.25]))
    Array([0.5, 2. ], dtype=float32)
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(x.dtype, 1.0))
    return lax.rsqrt(x)


def upsample_2d(
    x: ArrayLike,
    scale: tuple[int, int] | int,
    method: Interpolate | str = Interpolate.BILINEAR,
) -> jax.Array:
    """Upscale ``(N, C, H, W)`` images by integer factors (``jax.image.resize`` on H, W).

    Args:
        x: input of shape ``(N, C, H, W)``.
        scale: an int or ``(s0, s1)``.
        method: an ``Interpolate`` method or its name (e.g. ``'bilinear'``, ``'nearest'``).

    Returns:
        An array of shape ``(N, C, H * s0, W * s1)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import upsample_2d
    >>> upsample_2d(jnp.array([[[[0.0, 1.0]]]]), (1, 2))
    Array([[[[0.  , 0.25, 0.75, 1.  ]]]], dtype=float32)
    """
    fn = "upsample_2d"
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"{fn} expects inputs of rank 4 (N, C, H, W), got shape {x.shape}; "
            f"use interpolate for other ranks."
        )
    s0, s1 = _pair(fn, "scale", scale)
    n, c, h, w = x.shape
    return jax.image.resize(x, (n, c, h * s0, w * s1), _method(fn, method))


def upscale_nn(x: ArrayLike, scale: int = 2) -> jax.Array:
    """Nearest-neighbour upscale of ``(N, C, H, W)`` images: every pixel becomes a
    ``scale x scale`` block.

    Args:
        x: input of shape ``(N, C, H, W)``.
        scale: a positive int.

    Returns:
        An array of shape ``(N, C, H * scale, W * scale)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.misc import upscale_nn
    >>> upscale_nn(jnp.array([[[[1, 2]]]]))
    Array([[[[1, 1, 2, 2],
             [1, 1, 2, 2]]]], dtype=int32)
    """
    fn = "upscale_nn"
    x = jnp.asarray(x)
    _check_rank4(fn, x)
    if not _is_int(scale) or scale <= 0:
        raise ValueError(f"{fn}: `scale` must be a positive int, got {scale!r}.")
    return jnp.repeat(jnp.repeat(x, scale, axis=2), scale, axis=3)
