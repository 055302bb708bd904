"""Multi-head attention (after haiku's ``MultiHeadAttention``), with PAX 0.5's constructor,
grouped-query attention, rotary position embeddings and a key/value cache for decoding."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import default_precision, mixed_precision_method
from ..core.rng import next_rng_key
from .decoding import MSG_NO_CACHE, Autoregressive, CacheRequest, stacked_axes
from .linear import Linear
from .masked_layer import check_cache_fits
from .param_dtype import check_param_dtype, with_param_dtype
from .rope import rotary_embedding
from .validation import positive_ints

# jax.nn.dot_product_attention (JAX >= 0.4.31) picks cuDNN's fused kernel on GPU; older
# JAX, complex dtypes and mixed dtypes take the einsum path, which it must equal
_FUSED_ATTENTION = getattr(jax.nn, "dot_product_attention", None)

MSG_NOT_CAUSAL = (
    "{layer}.update_site steps causal self-attention, and this attention is not causal "
    "(its output at a position depends on later ones). Build it with "
    "`MultiHeadAttention(..., causal=True)` (or use pax.nets.Transformer's layers)."
)

MSG_PAST_MAX_LENGTH = (
    "{layer}.update_site: the cache holds max_length={length} positions and this step "
    "is at position {position}. Build a longer cache: "
    "`init_cache(model, batch_size, max_length=...)`."
)


def attention_einsum(
    query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None
) -> jax.Array:
    """Softmax attention by ``jnp.einsum``: the reference path.

    ``query`` ``(..., T, H, K)``; ``key``, ``value`` ``(..., S, G, K)`` with ``G``
    dividing ``H`` (query head ``h`` reads key/value head ``h // (H // G)``);
    ``mask`` broadcastable to ``(..., H, T, S)``. Returns ``(..., T, H, K)``.

    >>> import jax.numpy as jnp
    >>> q = k = v = jnp.ones((1, 3, 2, 4))
    >>> attention_einsum(q, k, v, None).shape
    (1, 3, 2, 4)
    """
    groups = query.shape[-2] // key.shape[-2]
    if groups > 1:
        key = jnp.repeat(key, groups, axis=-2)
        value = jnp.repeat(value, groups, axis=-2)
    logits = jnp.einsum("...thd,...shd->...hts", query, key)
    logits = logits / np.sqrt(query.shape[-1]).astype(key.dtype)
    if mask is not None:
        # the lowest finite value (haiku: -1e30, which is -inf in float16 and would turn
        # a fully masked row into NaNs): such a row attends uniformly to every key
        logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits, axis=-1)  # (..., H, T, S)
    return jnp.einsum("...hts,...shd->...thd", weights, value)


def fused_attention_applies(query: jax.Array, key: jax.Array, value: jax.Array) -> bool:
    """Whether :func:`attention` goes through ``jax.nn.dot_product_attention``: it
    exists, and the inputs share one dtype it computes in on this backend: float32,
    and on GPU/TPU also float16 and bfloat16 (on CPU its half-precision matmuls with
    float32 accumulation are not supported; float64 and complex it would downcast).

    >>> import jax.numpy as jnp
    >>> x = jnp.ones((1, 2, 1, 4))
    >>> fused_attention_applies(x, x, x), fused_attention_applies(x, x, x.astype(complex))
    (True, False)
    """
    dtype = query.dtype
    if _FUSED_ATTENTION is None or key.dtype != dtype or value.dtype != dtype:
        return False
    if dtype == jnp.float32:
        return True
    half = dtype in (jnp.float16, jnp.bfloat16)
    return half and jax.default_backend() != "cpu"


def attention(
    query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None
) -> jax.Array:
    """:func:`attention_einsum`'s result, through ``jax.nn.dot_product_attention`` where
    it applies (:func:`fused_attention_applies`).

    >>> import jax, jax.numpy as jnp
    >>> q, k, v = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 5, 4, 8))
    >>> bool(jnp.allclose(attention(q, k, v, None), attention_einsum(q, k, v, None), atol=1e-5))
    True
    """
    if not fused_attention_applies(query, key, value):
        return attention_einsum(query, key, value, mask)
    *lead, t, h, d = query.shape
    s, g = key.shape[-3], key.shape[-2]
    q = query.reshape(-1, t, h, d)
    k = key.reshape(-1, s, g, d)
    v = value.reshape(-1, s, g, d)
    if mask is not None:
        mask = jnp.broadcast_to(jnp.asarray(mask, bool), (*lead, h, t, s)).reshape(-1, h, t, s)
    out = _FUSED_ATTENTION(q, k, v, mask=mask)  # type: ignore[misc]
    return out.reshape(*lead, t, h, d)


@default_precision("half")
class MultiHeadAttention(Autoregressive):
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
        num_kv_heads: grouped-query attention: the number ``G`` of key/value heads
            (default ``H``), a divisor of ``H``; query head ``h`` reads key/value head
            ``h // (H // G)``, and the key and value projections map ``model_size`` to
            ``G * K``. ``G = 1`` is multi-query attention.
        causal: query position ``t`` attends only to key positions ``s <= t`` (the
            causal mask is combined with ``mask``); causal self-attention has an
            incremental mode (``update_site``, after :func:`pax.nn.init_cache`).
        rope_base: rotate queries and keys by :func:`pax.nn.rotary_embedding` with
            this base (query position ``t`` and key position ``s`` are ``0, 1, ...``);
            ``None`` (the default) for no rotary embedding.

    Called as ``mha(query, key, value, mask=None)`` with ``query`` of shape
    ``(..., T, model_size)`` and ``key``, ``value`` of shape
    ``(..., S, model_size)`` (the same leading dimensions ``...``); ``mask`` is
    true where query position ``t`` may attend to key position ``s`` and
    broadcasts to ``(..., H, T, S)``: ``(T, S)`` for a causal mask,
    ``(N, 1, 1, S)`` for a padding mask. Returns ``(..., T, model_size)``.
    A query position whose keys are all masked attends uniformly to all of them
    (as in haiku), also in half precision. For real floating inputs the attention
    goes through ``jax.nn.dot_product_attention`` (cuDNN's fused kernel on GPU), else
    through ``jnp.einsum``; both give the same values.

    Incremental decoding (causal self-attention): :func:`pax.nn.init_cache` gives the
    layer a cache of ``max_length`` positions (``key_cache``, ``value_cache``: the
    rotated keys and the values, ``(N, max_length, G, K)``; ``token_mask``:
    ``(N, max_length)``, true for the positions written as real tokens; ``position``),
    and ``update_site(x_t)`` maps the input at the next position to the output
    there, equal to the full call's ``mha(x, x, x)[:, t]``.

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

    num_heads: int
    num_kv_heads: int
    key_size: int
    value_size: int
    model_size: int
    causal: bool
    rope_base: float | None
    query_projection: Linear
    key_projection: Linear
    value_projection: Linear
    output_projection: Linear
    key_cache: jax.Array | None
    value_cache: jax.Array | None
    token_mask: jax.Array | None
    position: jax.Array | None

    def __init__(
        self,
        num_heads: int,
        key_size: int,
        w_init_scale: float,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
        num_kv_heads: int | None = None,
        causal: bool = False,
        rope_base: float | None = None,
    ):
        super().__init__(name=name)
        num_heads, key_size = positive_ints(
            "MultiHeadAttention", num_heads=num_heads, key_size=key_size
        )
        if num_kv_heads is None:
            num_kv_heads = num_heads
        (num_kv_heads,) = positive_ints("MultiHeadAttention", num_kv_heads=num_kv_heads)
        if num_heads % num_kv_heads:
            raise ValueError(
                f"MultiHeadAttention: `num_kv_heads` ({num_kv_heads}) must divide "
                f"`num_heads` ({num_heads}): each key/value head serves a group of "
                f"query heads."
            )
        if not isinstance(causal, (bool, np.bool_)):
            raise TypeError(f"MultiHeadAttention: `causal` must be a bool, got {causal!r}.")
        if rope_base is not None:
            if key_size % 2:
                raise ValueError(
                    f"MultiHeadAttention: rotary embeddings (`rope_base`) rotate pairs of "
                    f"features and need an even `key_size`, got {key_size}."
                )
            if isinstance(rope_base, bool) or not (
                isinstance(rope_base, (int, float, np.floating, np.integer)) and rope_base > 1
            ):
                raise ValueError(
                    f"MultiHeadAttention: `rope_base` must be a number > 1 (e.g. 10000.0) "
                    f"or None, got {rope_base!r}."
                )
            rope_base = float(rope_base)
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
        self.num_kv_heads = num_kv_heads
        self.key_size = key_size
        self.value_size = key_size
        self.model_size = key_size * num_heads
        self.causal = bool(causal)
        self.rope_base = rope_base
        w_init = jax.nn.initializers.variance_scaling(w_init_scale, "fan_in", "normal")
        rng_key = next_rng_key() if rng_key is None else rng_key
        keys = jax.random.split(rng_key, 4)
        d = self.model_size
        kv = num_kv_heads * key_size

        def projection(i: int, name: str, out_dim: int) -> Linear:
            return Linear(
                d, out_dim, w_init=w_init, rng_key=keys[i], name=name, param_dtype=self.param_dtype
            )

        self.query_projection = projection(0, "qry_proj", d)
        self.key_projection = projection(1, "key_proj", kv)
        self.value_projection = projection(2, "val_proj", kv)
        self.output_projection = projection(3, "out_proj", d)
        self.key_cache = None
        self.value_cache = None
        self.token_mask = None
        self.position = None

    def _heads(self, fc: Linear, x: jax.Array, num_heads: int) -> jax.Array:
        return fc(x).reshape(*jnp.shape(x)[:-1], num_heads, self.key_size)

    def __call__(
        self,
        query: jax.Array,
        key: jax.Array,
        value: jax.Array,
        mask: jax.Array | None = None,
    ) -> jax.Array:
        """``(..., T, model_size)`` queries attend to ``(..., S, model_size)`` keys/values."""
        logits_shape = self._check_shapes(query, key, value, mask)
        t, s = logits_shape[-2], logits_shape[-1]
        if self.causal:
            causal = jnp.asarray(np.tril(np.ones((t, s), dtype=bool)))
            mask = causal if mask is None else jnp.logical_and(mask, causal)
        q = self._heads(self.query_projection, query, self.num_heads)  # (..., T, H, K)
        k = self._heads(self.key_projection, key, self.num_kv_heads)  # (..., S, G, K)
        v = self._heads(self.value_projection, value, self.num_kv_heads)  # (..., S, G, K)
        if self.rope_base is not None:
            q = rotary_embedding(q, jnp.arange(t), base=self.rope_base)
            k = rotary_embedding(k, jnp.arange(s), base=self.rope_base)
        attn = attention(q, k, v, mask)
        attn = jnp.reshape(attn, (*logits_shape[:-3], t, self.model_size))
        return self.output_projection(attn)

    # -- incremental decoding ---------------------------------------------------------
    def _with_cache(self, request: CacheRequest) -> "MultiHeadAttention":
        if not self.causal:  # no incremental mode: update_site says why
            return self
        layer = type(self).__name__
        if request.max_length is None:
            raise ValueError(
                f"init_cache: {layer} (causal attention) caches the keys and values of "
                f"`max_length` positions: pass it, "
                f"`init_cache(model, batch_size, max_length=...)`."
            )
        if not request.batch:
            raise ValueError(
                f"init_cache: {layer} needs a `batch_size` (got None); use batch_size=1 "
                f"for one sequence."
            )
        weight = self.key_projection.weight
        stacked = stacked_axes(weight, 2)  # the blocks of a pax.Stack, if any
        dtype = jnp.promote_types(request.dtype, weight.dtype)
        shape = (*stacked, *request.batch, request.max_length)
        kv_shape = (*shape, self.num_kv_heads, self.key_size)
        return self.replace(
            key_cache=jnp.zeros(kv_shape, dtype),
            value_cache=jnp.zeros(kv_shape, dtype),
            token_mask=jnp.zeros(shape, bool),
            position=jnp.zeros(stacked, jnp.int32),
        )

    @mixed_precision_method
    def update_site(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """One step of causal self-attention: the output at the current position ``t``.

        Writes the key and value of ``x`` at position ``t`` of the cache (with
        ``jax.lax.dynamic_update_slice``: one compiled step serves every position),
        attends over the real tokens at positions ``<= t`` and advances ``position``.
        Call it through ``pax.module_and_value(mha.update_site)(x)``.

        Args:
          x: ``(N, model_size)``, the input at position ``t``.
          mask: ``(N,)`` booleans, false where position ``t`` is padding (later
            positions then ignore it, as the full call's ``(N, 1, 1, T)`` padding mask
            does); default all true.

        Returns:
          ``(N, model_size)``. Past ``max_length`` positions: a ``ValueError`` when the
          position is known (eager calls); under ``jax.jit`` the outputs are NaN and
          the cache is unchanged.

        >>> import jax, jax.numpy as jnp, pax
        >>> mha = pax.MultiHeadAttention(2, 4, 1.0, causal=True, rng_key=jax.random.PRNGKey(0))
        >>> x = jax.random.normal(jax.random.PRNGKey(1), (3, 6, 8))  # (N, T, model_size)
        >>> step = lambda m, x_t: pax.module_and_value(m.update_site)(x_t)
        >>> cached = pax.nn.init_cache(mha, 3, max_length=6)
        >>> _, ys = pax.scan(step, cached, x, time_major=False)
        >>> bool(jnp.allclose(ys, mha(x, x, x), atol=1e-5))
        True
        """
        layer = type(self).__name__
        if not self.causal:
            raise ValueError(MSG_NOT_CAUSAL.format(layer=layer))
        key_cache, value_cache = self.key_cache, self.value_cache
        token_mask, position = self.token_mask, self.position
        if key_cache is None or value_cache is None or token_mask is None or position is None:
            raise ValueError(MSG_NO_CACHE.format(layer=layer))
        batch, length = token_mask.shape[:-1], token_mask.shape[-1]
        expected = (*batch, self.model_size)
        if jnp.shape(x) != expected:
            raise ValueError(
                f"{layer}.update_site expects one position of input, shape {expected} (the "
                f"batch shape of the cache and model_size = {self.model_size}), got shape "
                f"{jnp.shape(x)}."
            )
        if mask is None:
            mask = jnp.ones(batch, bool)
        elif jnp.shape(mask) != batch:
            raise ValueError(
                f"{layer}.update_site expects a `mask` of shape {batch} (one flag per "
                f"sequence, true for a real token), got shape {jnp.shape(mask)}."
            )
        if not isinstance(position, jax.core.Tracer) and int(position) >= length:
            raise ValueError(
                MSG_PAST_MAX_LENGTH.format(layer=layer, length=length, position=int(position))
            )
        q = self._heads(self.query_projection, x, self.num_heads)[..., None, :, :]
        k = self._heads(self.key_projection, x, self.num_kv_heads)[..., None, :, :]
        v = self._heads(self.value_projection, x, self.num_kv_heads)[..., None, :, :]
        if self.rope_base is not None:
            here = jnp.reshape(position, (1,))
            q = rotary_embedding(q, here, base=self.rope_base)
            k = rotary_embedding(k, here, base=self.rope_base)
        if jnp.iscomplexobj(k) and not jnp.iscomplexobj(key_cache):
            check_cache_fits(layer, k.dtype, key_cache.dtype)  # raises: no silent real part
        # otherwise the keys and values are stored in the cache's dtype: under a
        # mixed-precision policy the cache is in the compute dtype during the call
        in_range = position < length
        slot = jnp.minimum(position, length - 1)
        axis = len(batch)

        def write(cache: jax.Array, new: jax.Array) -> jax.Array:
            written = jax.lax.dynamic_update_slice_in_dim(
                cache, new.astype(cache.dtype), slot, axis
            )
            return jnp.where(in_range, written, cache)  # past the end: unchanged

        key_cache = write(key_cache, k)
        value_cache = write(value_cache, v)
        token_mask = write(token_mask, jnp.asarray(mask, bool)[..., None])
        self.key_cache, self.value_cache, self.token_mask = key_cache, value_cache, token_mask
        self.position = position + 1
        keys_allowed = token_mask[..., None, None, :]  # (N, 1, 1, L): written real tokens
        attn = attention(q, key_cache.astype(q.dtype), value_cache.astype(q.dtype), keys_allowed)
        y = self.output_projection(attn.reshape(expected))
        return jnp.where(in_range, y, jnp.asarray(np.nan, y.dtype))

    def _check_shapes(
        self,
        query: jax.Array,
        key: jax.Array,
        value: jax.Array,
        mask: jax.Array | None,
    ) -> tuple[int, ...]:
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
        info: dict[str, Any] = {"num_heads": self.num_heads, "key_size": self.key_size}
        if self.num_kv_heads != self.num_heads:
            info["num_kv_heads"] = self.num_kv_heads
        if self.causal:
            info["causal"] = True
        if self.rope_base is not None:
            info["rope_base"] = self.rope_base
        return self._repr(with_param_dtype(info, self.param_dtype))
