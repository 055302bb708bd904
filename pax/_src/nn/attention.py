"""Multi-head attention (after haiku's ``MultiHeadAttention``), with PAX 0.5's constructor."""

from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.module import Module
from ..core.rng import next_rng_key
from .linear import Linear
from .param_dtype import check_param_dtype, with_param_dtype
from .validation import positive_ints


class MultiHeadAttention(Module):
    """Multi-head attention, as in "Attention is all you need" (arXiv:1706.03762).

    With ``H = num_heads``, ``K = key_size`` and ``model_size = H * K``, the
    query, key and value (last axis ``model_size``) are projected and split into
    ``H`` heads of size ``K``; each head computes
    ``softmax(q @ k.T / sqrt(K)) @ v`` over the key positions, the heads are
    concatenated and ``output_projection`` maps them back to ``model_size``.
    As in PAX 0.5, the value size is ``key_size`` and every projection is a
    ``Linear(model_size, model_size)`` with bias, initialized with
    ``variance_scaling(w_init_scale, "fan_in", "normal")``.

    Args:
        num_heads: the number of heads ``H``.
        key_size: the size ``K`` of each head's keys, queries and values.
        w_init_scale: the scale of the weight initialization (PAX's transformer
            uses ``2 / num_layers``).
        rng_key: the key of the weight initialization (default ``pax.next_rng_key()``).
        name: the module name.
        param_dtype: the dtype of the projections' weights (default float32; a
            complex dtype draws complex weights, and the softmax is then JAX's
            ``softmax`` of the complex logits).

    Called as ``mha(query, key, value, mask=None)`` with ``query`` of shape
    ``(..., T, model_size)`` and ``key``, ``value`` of shape
    ``(..., S, model_size)`` (the same leading dimensions ``...``); ``mask`` is
    true where query position ``t`` may attend to key position ``s`` and
    broadcasts to ``(..., H, T, S)``: ``(T, S)`` for a causal mask,
    ``(N, 1, 1, S)`` for a padding mask. Returns ``(..., T, model_size)``.
    A query position whose keys are all masked attends uniformly to all of them
    (as in haiku), also in half precision.

    >>> import jax, jax.numpy as jnp, numpy as np
    >>> mha = MultiHeadAttention(num_heads=2, key_size=4, w_init_scale=1.0,
    ...                          rng_key=jax.random.PRNGKey(0))
    >>> x = jax.random.normal(jax.random.PRNGKey(1), (3, 5, 8))  # (N, T, model_size)
    >>> causal = np.tril(np.ones((5, 5), dtype=bool))
    >>> y = mha(x, x, x, mask=causal)
    >>> y.shape
    (3, 5, 8)
    >>> x2 = x[:, :2]  # no look-ahead: the first two outputs ignore later positions
    >>> bool(jnp.allclose(y[:, :2], mha(x2, x2, x2, mask=causal[:2, :2]), atol=1e-6))
    True
    """

    _pax_default_precision = "half"

    num_heads: int
    key_size: int
    value_size: int
    model_size: int
    query_projection: Linear
    key_projection: Linear
    value_projection: Linear
    output_projection: Linear

    def __init__(
        self,
        num_heads: int,
        key_size: int,
        w_init_scale: float,
        *,
        rng_key: Optional[jax.Array] = None,
        name: Optional[str] = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        num_heads, key_size = positive_ints(
            "MultiHeadAttention", num_heads=num_heads, key_size=key_size
        )
        self.param_dtype: np.dtype = check_param_dtype("MultiHeadAttention", param_dtype)
        if (
            not isinstance(w_init_scale, (int, float, np.floating, np.integer))
            or isinstance(w_init_scale, bool)
            or not w_init_scale > 0
        ):
            raise ValueError(
                f"MultiHeadAttention: `w_init_scale` must be a positive number, "
                f"got {w_init_scale!r}."
            )
        self.num_heads = num_heads
        self.key_size = key_size
        self.value_size = key_size
        self.model_size = key_size * num_heads
        w_init = jax.nn.initializers.variance_scaling(w_init_scale, "fan_in", "normal")
        rng_key = next_rng_key() if rng_key is None else rng_key
        keys = jax.random.split(rng_key, 4)
        d = self.model_size

        def projection(i: int, name: str) -> Linear:
            return Linear(
                d, d, w_init=w_init, rng_key=keys[i], name=name, param_dtype=self.param_dtype
            )

        self.query_projection = projection(0, "qry_proj")
        self.key_projection = projection(1, "key_proj")
        self.value_projection = projection(2, "val_proj")
        self.output_projection = projection(3, "out_proj")

    def __call__(
        self,
        query: jax.Array,
        key: jax.Array,
        value: jax.Array,
        mask: Optional[jax.Array] = None,
    ) -> jax.Array:
        """``(..., T, model_size)`` queries attend to ``(..., S, model_size)`` keys/values."""
        logits_shape = self._check_shapes(query, key, value, mask)

        def heads(fc: Linear, x: jax.Array) -> jax.Array:
            return fc(x).reshape(*jnp.shape(x)[:-1], self.num_heads, self.key_size)

        q = heads(self.query_projection, query)  # (..., T, H, K)
        k = heads(self.key_projection, key)  # (..., S, H, K)
        v = heads(self.value_projection, value)  # (..., S, H, K)
        logits = jnp.einsum("...thd,...shd->...hts", q, k)
        logits = logits / np.sqrt(self.key_size).astype(k.dtype)
        if mask is not None:
            # the lowest finite value (haiku: -1e30, which is -inf in float16 and
            # would turn a fully masked row into NaNs)
            logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
        weights = jax.nn.softmax(logits, axis=-1)  # (..., H, T, S)
        attn = jnp.einsum("...hts,...shd->...thd", weights, v)
        attn = jnp.reshape(attn, (*logits_shape[:-3], logits_shape[-2], self.model_size))
        return self.output_projection(attn)

    def _check_shapes(
        self,
        query: jax.Array,
        key: jax.Array,
        value: jax.Array,
        mask: Optional[jax.Array],
    ) -> Tuple[int, ...]:
        """Raise unless the shapes fit; return the attention logits' shape ``(..., H, T, S)``."""
        d = self.model_size
        shapes = {"query": jnp.shape(query), "key": jnp.shape(key), "value": jnp.shape(value)}
        for arg, shape in shapes.items():
            if len(shape) < 2 or shape[-1] != d:
                raise ValueError(
                    f"MultiHeadAttention expects `{arg}` of shape (..., T, {d}) "
                    f"(model_size = num_heads * key_size = {self.num_heads} * "
                    f"{self.key_size}), got shape {shape}."
                )
        q_shape, k_shape, v_shape = shapes.values()
        if k_shape != v_shape:
            raise ValueError(
                f"MultiHeadAttention expects `key` and `value` of the same shape "
                f"(..., S, {d}), got key {k_shape} and value {v_shape}."
            )
        if q_shape[:-2] != k_shape[:-2]:
            raise ValueError(
                f"MultiHeadAttention expects `query` and `key` with the same leading "
                f"dimensions (..., T, {d}) and (..., S, {d}), got query {q_shape} and "
                f"key {k_shape}."
            )
        logits_shape = (*q_shape[:-2], self.num_heads, q_shape[-2], k_shape[-2])
        if mask is not None:
            m_shape = jnp.shape(mask)
            try:
                fits = np.broadcast_shapes(m_shape, logits_shape) == logits_shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"MultiHeadAttention expects a `mask` that broadcasts to "
                    f"(..., num_heads, T, S) = {logits_shape}, got shape {m_shape}. "
                    f"Use shape (T, S) for a causal mask and (N, 1, 1, S) for a "
                    f"padding mask."
                )
        return logits_shape

    def __repr__(self) -> str:
        info = {"num_heads": self.num_heads, "key_size": self.key_size}
        return self._repr(with_param_dtype(info, self.param_dtype))
