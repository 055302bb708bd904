"""Activation functions of ``pax.functional`` (thin wrappers over ``jax.nn``)."""

import jax
import jax.numpy as jnp
import jax.scipy.special
from jax.typing import ArrayLike

Axis = int | tuple[int, ...] | None


def celu(x: ArrayLike, alpha: ArrayLike = 1.0) -> jax.Array:
    r"""Continuously-differentiable exponential linear unit:
    ``x`` for ``x > 0``, ``alpha * (exp(x / alpha) - 1)`` otherwise.

    Args:
        x: input array.
        alpha: array or scalar (default 1.0).

    Returns:
        An array of the shape of ``x``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import celu
    >>> celu(jnp.array([-1.0, 0.0, 2.0]), alpha=2.0)
    Array([-0.78693867,  0.        ,  2.        ], dtype=float32)
    """
    return jax.nn.celu(x, alpha)


def elu(x: ArrayLike, alpha: ArrayLike = 1.0) -> jax.Array:
    r"""Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        x: input array.
        alpha: scalar or array of alpha values (default 1.0).

    Returns:
        An array of the shape of ``x``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import elu
    >>> elu(jnp.array([-1.0, 2.0]))
    Array([-0.63212055,  2.        ], dtype=float32)
    """
    return jax.nn.elu(x, alpha)


def leaky_relu(x: ArrayLike, negative_slope: ArrayLike = 0.01) -> jax.Array:
    r"""Leaky rectified linear unit: ``x`` for ``x >= 0``, ``negative_slope * x`` otherwise.

    Args:
        x: input array.
        negative_slope: array or scalar specifying the negative slope (default 0.01).

    Returns:
        An array of the shape of ``x``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import leaky_relu
    >>> leaky_relu(jnp.array([-2.0, 3.0]), negative_slope=0.1)
    Array([-0.2,  3. ], dtype=float32)
    """
    return jax.nn.leaky_relu(x, negative_slope)


def log_sigmoid(x: ArrayLike) -> jax.Array:
    r"""Log-sigmoid: ``log(sigmoid(x)) = -log(1 + exp(-x))``, computed stably.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import log_sigmoid
    >>> log_sigmoid(jnp.array([0.0]))
    Array([-0.6931472], dtype=float32)
    """
    return jax.nn.log_sigmoid(x)


def log_softmax(
    x: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
    initial: ArrayLike | None = None,
) -> jax.Array:
    r"""Log-softmax: ``x_i - log(sum_j exp(x_j))`` along ``axis``.

    Args:
        x: input array.
        axis: the axis or axes along which the log-softmax is computed.
        where: elements to include in the log-softmax (excluded elements give ``-inf``).
        initial: accepted for Objax compatibility and unused: the result does not depend on
            the shift that Objax's ``initial`` set, and current JAX needs no ``initial``
            with ``where``.

    Returns:
        An array of the shape of ``x``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import log_softmax
    >>> log_softmax(jnp.array([0.0, 0.0]))
    Array([-0.6931472, -0.6931472], dtype=float32)
    """
    del initial
    return jax.nn.log_softmax(x, axis=axis, where=where)


def logsumexp(
    a: ArrayLike,
    axis: Axis = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    return_sign: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    r"""``log(sum(b * exp(a)))`` over ``axis`` (all axes by default), computed stably
    (``jax.scipy.special.logsumexp``).

    Args:
        a: input array.
        axis: axis or axes over which the sum is taken; ``None`` sums all elements.
        b: scaling factors for ``exp(a)``, broadcastable to ``a``; may be negative.
        keepdims: keep the reduced axes as dimensions of size one.
        return_sign: also return the sign of the sum (otherwise negative sums give NaN).

    Returns:
        The result, or ``(result, sign)`` when ``return_sign`` is true.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import logsumexp
    >>> logsumexp(jnp.zeros((2, 4)), axis=1)
    Array([1.3862944, 1.3862944], dtype=float32)
    """
    return jax.scipy.special.logsumexp(
        a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign
    )


def relu(x: ArrayLike) -> jax.Array:
    r"""Rectified linear unit: ``max(x, 0)``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import relu
    >>> relu(jnp.array([-1.0, 2.0]))
    Array([0., 2.], dtype=float32)
    """
    return jax.nn.relu(x)


def selu(x: ArrayLike) -> jax.Array:
    r"""Scaled exponential linear unit: ``lambda * x`` for ``x > 0``,
    ``lambda * alpha * (exp(x) - 1)`` otherwise, with ``lambda = 1.0507009873554805``
    and ``alpha = 1.6732632423543772``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import selu
    >>> selu(jnp.array([1.0]))
    Array([1.050701], dtype=float32)
    """
    return jax.nn.selu(x)


def sigmoid(x: ArrayLike) -> jax.Array:
    r"""Sigmoid: ``1 / (1 + exp(-x))``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import sigmoid
    >>> sigmoid(jnp.array([0.0]))
    Array([0.5], dtype=float32)
    """
    return jax.nn.sigmoid(x)


def softmax(
    x: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
    initial: ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax: ``exp(x_i) / sum_j exp(x_j)`` along ``axis`` (the outputs along ``axis``
    sum to one).

    Args:
        x: input array.
        axis: the axis or axes along which the softmax is computed.
        where: elements to include in the softmax (excluded elements give 0).
        initial: accepted for Objax compatibility and unused (see ``log_softmax``).

    Returns:
        An array of the shape of ``x``.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import softmax
    >>> softmax(jnp.array([0.0, 0.0, 0.0, 0.0]))
    Array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    del initial
    return jax.nn.softmax(x, axis=axis, where=where)


def softplus(x: ArrayLike) -> jax.Array:
    r"""Softplus: ``log(1 + exp(x))``, computed stably.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import softplus
    >>> softplus(jnp.array([0.0]))
    Array([0.6931472], dtype=float32)
    """
    return jax.nn.softplus(x)


def tanh(x: ArrayLike) -> jax.Array:
    r"""Elementwise hyperbolic tangent.

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.activation import tanh
    >>> tanh(jnp.array([0.0]))
    Array([0.], dtype=float32)
    """
    return jnp.tanh(x)
