"""Losses of ``pax.functional.loss``."""

from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .activation import logsumexp

KeepAxis = int | Iterable[int] | None


def _kept_axes(fn: str, ndim: int, keep_axis: KeepAxis) -> tuple[int, ...]:
    if keep_axis is None:
        return ()
    axes = (keep_axis,) if isinstance(keep_axis, (int, np.integer)) else tuple(keep_axis)
    kept = []
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(
                f"{fn}: `keep_axis` must be None, an int or a sequence of ints, got {keep_axis!r}."
            )
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"{fn}: `keep_axis` {keep_axis!r} is out of range for inputs of rank {ndim}."
            )
        kept.append(int(axis) % ndim)
    return tuple(kept)


def _mean_keeping(fn: str, loss: jax.Array, keep_axis: KeepAxis) -> jax.Array:
    kept = _kept_axes(fn, loss.ndim, keep_axis)
    return loss.mean(axis=tuple(i for i in range(loss.ndim) if i not in kept))


def cross_entropy_logits(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Softmax cross-entropy with label probabilities:
    :math:`\log \sum_k e^{o_k} - \sum_j y_j o_j` over the last (class) axis.

    Args:
        logits: ``(batch, ..., #class)`` logits :math:`o`.
        labels: ``(batch, ..., #class)`` label probabilities :math:`y` (summing to 1).

    Returns:
        ``(batch, ...)`` cross-entropies.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.loss import cross_entropy_logits
    >>> cross_entropy_logits(jnp.zeros((2, 4)), jnp.array([[1.0, 0, 0, 0], [0, 0, 0.5, 0.5]]))
    Array([1.3862944, 1.3862944], dtype=float32)
    """
    logits = jnp.asarray(logits)
    return logsumexp(logits, axis=-1) - (logits * labels).sum(-1)  # type: ignore[operator]


def cross_entropy_logits_sparse(logits: ArrayLike, labels: ArrayLike | int) -> jax.Array:
    """Softmax cross-entropy with integer labels: ``cross_entropy_logits`` with
    ``one_hot(labels)``, without building the one-hot array.

    Args:
        logits: ``(batch, ..., #class)`` logits.
        labels: ``(batch, ...)`` integer class indices in ``[0, #class)``, or a single int
            (the same class for every entry).

    Returns:
        ``(batch, ...)`` cross-entropies.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.loss import cross_entropy_logits_sparse
    >>> logits = jnp.array([[0.0, 0.0], [0.0, 2.0]])
    >>> cross_entropy_logits_sparse(logits, jnp.array([0, 1])).round(4)
    Array([0.6931, 0.1269], dtype=float32)
    """
    fn = "cross_entropy_logits_sparse"
    logits = jnp.asarray(logits)
    if logits.ndim == 0:
        raise ValueError(f"{fn} expects logits of shape (batch, ..., #class), got a scalar.")
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{fn} expects integer labels (class indices), got dtype {labels.dtype}; "
            f"use cross_entropy_logits for label probabilities."
        )
    batch_shape = logits.shape[:-1]
    if labels.ndim == 0:
        labels = jnp.broadcast_to(labels, batch_shape)
    elif labels.shape != batch_shape:
        raise ValueError(
            f"{fn} expects labels of shape {batch_shape} (the logits' shape {logits.shape} "
            f"without the class axis), got shape {labels.shape}."
        )
    labeled = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    return logsumexp(logits, axis=-1) - labeled  # type: ignore[operator]


def l2(x: ArrayLike) -> jax.Array:
    r"""The L2 loss :math:`\frac{1}{2} \sum_i x_i^2` (a scalar).

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.loss import l2
    >>> l2(jnp.array([[1.0, 2.0], [3.0, 0.0]]))
    Array(7., dtype=float32)
    """
    return 0.5 * jnp.sum(jnp.square(x))


def mean_absolute_error(x: ArrayLike, y: ArrayLike, keep_axis: KeepAxis = (0,)) -> jax.Array:
    """Mean of ``|x - y|`` over every axis not in ``keep_axis``.

    Args:
        x: an array of shape ``(d0, ..., dN-1)``.
        y: an array of the same shape.
        keep_axis: the axes to keep (default ``(0,)``, one value per example): an int, a
            sequence of ints (negative ones count from the end), or ``None`` for a scalar.

    Returns:
        An array of shape ``(d_i for i in keep_axis)`` (kept axes in their input order).

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.loss import mean_absolute_error
    >>> x = jnp.array([[1.0, -1.0], [2.0, 0.0]])
    >>> mean_absolute_error(x, jnp.zeros((2, 2))), mean_absolute_error(x, 0.0, keep_axis=None)
    (Array([1., 1.], dtype=float32), Array(1., dtype=float32))
    """
    loss = jnp.abs(jnp.asarray(x) - jnp.asarray(y))
    return _mean_keeping("mean_absolute_error", loss, keep_axis)


def mean_squared_error(x: ArrayLike, y: ArrayLike, keep_axis: KeepAxis = (0,)) -> jax.Array:
    """Mean of ``(x - y) ** 2`` over every axis not in ``keep_axis``.

    Args:
        x: an array of shape ``(d0, ..., dN-1)``.
        y: an array of the same shape.
        keep_axis: the axes to keep (default ``(0,)``): an int, a sequence of ints, or
            ``None`` for a scalar.

    Returns:
        An array of shape ``(d_i for i in keep_axis)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.loss import mean_squared_error
    >>> mean_squared_error(jnp.array([[1.0, 3.0], [2.0, 0.0]]), jnp.zeros((2, 2)))
    Array([5., 2.], dtype=float32)
    """
    loss = jnp.square(jnp.asarray(x) - jnp.asarray(y))
    return _mean_keeping("mean_squared_error", loss, keep_axis)


def mean_squared_log_error(
    y_true: ArrayLike, y_pred: ArrayLike, keep_axis: KeepAxis = (0,)
) -> jax.Array:
    """Mean of ``(log(1 + y_true) - log(1 + y_pred)) ** 2`` over every axis not in
    ``keep_axis``.

    Args:
        y_true: an array of shape ``(d0, ..., dN-1)``.
        y_pred: an array of the same shape.
        keep_axis: the axes to keep (default ``(0,)``): an int, a sequence of ints, or
            ``None`` for a scalar.

    Returns:
        An array of shape ``(d_i for i in keep_axis)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.loss import mean_squared_log_error
    >>> mean_squared_log_error(jnp.array([[0.0, jnp.e - 1]]), jnp.zeros((1, 2)))
    Array([0.5], dtype=float32)
    """
    loss = jnp.square(jnp.log1p(jnp.asarray(y_true)) - jnp.log1p(jnp.asarray(y_pred)))
    return _mean_keeping("mean_squared_log_error", loss, keep_axis)


def sigmoid_cross_entropy_logits(logits: ArrayLike, labels: ArrayLike | int) -> jax.Array:
    r"""Elementwise sigmoid cross-entropy
    :math:`-y \log \sigma(o) - (1 - y) \log(1 - \sigma(o))`, computed stably as
    :math:`\max(o, 0) - o y + \log(1 + e^{-|o|})`.

    Args:
        logits: ``(batch, ..., #class)`` logits :math:`o`.
        labels: label probabilities :math:`y` of the same shape (or broadcastable, e.g. an
            int).

    Returns:
        The cross-entropies, of the shape of ``logits``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.loss import sigmoid_cross_entropy_logits
    >>> sigmoid_cross_entropy_logits(jnp.array([0.0, 0.0]), jnp.array([0.0, 1.0]))
    Array([0.6931472, 0.6931472], dtype=float32)
    """
    logits = jnp.asarray(logits)
    return jnp.maximum(logits, 0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))
