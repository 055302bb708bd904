"""Divergences of ``pax.functional.divergence``."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def kl(p: ArrayLike, q: ArrayLike, eps: float = 2**-17) -> jax.Array:
    r"""Kullback-Leibler divergence between the distributions ``p`` and ``q`` along the
    last axis: :math:`\sum_i p_i \log \frac{p_i + \epsilon}{q_i + \epsilon}`.

    ``eps`` keeps the logarithms finite where ``p`` or ``q`` is zero. For 1-D inputs this
    is Objax's ``p.dot(log(p + eps) - log(q + eps))``; leading axes are batch axes.

    Args:
        p: probabilities of shape ``(..., K)``.
        q: probabilities broadcastable with ``p``.
        eps: a small constant added to ``p`` and ``q`` (default ``2 ** -17``).

    Returns:
        An array of shape ``(...)`` (a scalar for 1-D inputs).

    >>> import jax.numpy as jnp
    >>> from pax._src.functional.divergence import kl
    >>> kl(jnp.array([0.5, 0.5]), jnp.array([0.5, 0.5]))
    Array(0., dtype=float32)
    >>> kl(jnp.array([[1.0, 0.0], [0.5, 0.5]]), jnp.array([[0.5, 0.5], [0.5, 0.5]])).round(4)
    Array([0.6931, 0.    ], dtype=float32)
    """
    p = jnp.asarray(p)
    q = jnp.asarray(q)
    if p.ndim == 0:
        raise ValueError("kl expects p with at least one dimension (..., K), got a scalar.")
    return jnp.sum(p * (jnp.log(p + eps) - jnp.log(q + eps)), axis=-1)
