"""Rotary position embeddings (RoPE, Su et al., arXiv:2104.09864)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def rotary_embedding(x: ArrayLike, positions: ArrayLike, *, base: float = 10000.0) -> jax.Array:
    r"""Rotate the features of ``x`` by angles proportional to each position.

    The last axis (of even size ``K``) is split into halves ``x1 = x[..., :K/2]`` and
    ``x2 = x[..., K/2:]`` ("rotate half", the GPT-NeoX/LLaMA layout); pair ``i`` turns
    by ``theta = p * base ** (-2 i / K)`` at position ``p``:

    .. math::

        y_1 = x_1 \cos\theta - x_2 \sin\theta, \qquad y_2 = x_2 \cos\theta + x_1 \sin\theta.

    So the dot product of a rotated query at ``p`` and a rotated key at ``s``
    depends on ``p - s`` only.

    Args:
      x: ``(..., T, H, K)``: ``T`` positions of ``H`` heads of ``K`` features.
      positions: the ``T`` positions, shape ``(T,)`` (or broadcastable to
        ``x.shape[:-2]``); integers or floats.
      base: the wavelength scale (10000, as in the paper).

    Returns:
      An array of the shape and dtype of ``x``.

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[1.0, 0.0]]])  # T = 1, H = 1, K = 2
    >>> [round(v, 3) for v in rotary_embedding(x, jnp.array([1]))[0, 0].tolist()]  # 1 radian
    [0.54, 0.841]
    """
    x = jnp.asarray(x)
    size = x.shape[-1] if x.ndim else 0
    if x.ndim < 3 or size % 2:
        raise ValueError(
            f"rotary_embedding expects `x` of shape (..., T, heads, K) with K even, got "
            f"shape {x.shape}."
        )
    half = size // 2
    dtype = jnp.promote_types(x.dtype, jnp.float32)
    inv_freq = jnp.asarray(base ** (-np.arange(half) * 2.0 / size), dtype)
    angles = jnp.asarray(positions, dtype)[..., None] * inv_freq  # (..., T, K/2)
    cos = jnp.cos(angles)[..., None, :]  # one angle per position, shared by the heads
    sin = jnp.sin(angles)[..., None, :]
    x1, x2 = x[..., :half], x[..., half:]
    y = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return y.astype(x.dtype)
