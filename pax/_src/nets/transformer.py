"""A GPT-2 style decoder stack: ``Transformer(dim, num_heads, num_layers, dropout_rate)``.

Each layer is pre-norm: ``h += dropout(attention(layer_norm(h)))`` with causal
self attention, then ``h += dropout(dense_block(layer_norm(h)))``; a last layer
norm follows the stack. Constructor, attribute names and initialization are
PAX 0.5's (after haiku's transformer example); grouped-query attention, rotary
position embeddings and RMSNorm are keyword options, and ``update_site`` decodes one
position at a time from a key/value cache (:func:`pax.nn.init_cache`).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import mixed_precision_method
from ..core.module import Module
from ..core.rng import next_rng_key
from ..nn.attention import MultiHeadAttention
from ..nn.dropout import dropout
from ..nn.linear import Linear
from ..nn.norms import LayerNorm, RMSNorm
from ..nn.rng_seq import RngSeq
from ..nn.validation import positive_ints


class CausalSelfAttention(MultiHeadAttention):
    """Multi-head attention in which position ``t`` attends only to positions ``<= t``
    (``MultiHeadAttention(..., causal=True)``).

    ``key`` and ``value`` default to ``query`` (self attention); an optional
    ``mask`` (broadcastable to ``(N, num_heads, T, T)``, true where attention is
    allowed) is combined with the causal mask. The keyword options are
    ``MultiHeadAttention``'s but ``causal``.

    >>> import jax, jax.numpy as jnp
    >>> attn = jax.eval_shape(lambda: CausalSelfAttention(2, 4, 1.0))  # shapes only
    >>> x = jax.ShapeDtypeStruct((1, 5, 8), jnp.float32)
    >>> jax.eval_shape(lambda attn, x: attn(x), attn, x).shape
    (1, 5, 8)
    """

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
        rope_base: float | None = None,
    ):
        super().__init__(
            num_heads,
            key_size,
            w_init_scale,
            rng_key=rng_key,
            name=name,
            param_dtype=param_dtype,
            num_kv_heads=num_kv_heads,
            causal=True,
            rope_base=rope_base,
        )

    def __call__(
        self,
        query: jax.Array,
        key: jax.Array | None = None,
        value: jax.Array | None = None,
        mask: jax.Array | None = None,
    ) -> jax.Array:
        key = query if key is None else key
        value = query if value is None else value
        return super().__call__(query, key, value, mask)


class DenseBlock(Module):
    """A two-layer MLP, ``fc2(gelu(fc1(x)))``, of width ``in_dim * widening_factor``.

    >>> import jax
    >>> mlp = jax.eval_shape(lambda: DenseBlock(4, init_scale=1.0))  # shapes only
    >>> mlp.fc1.weight.shape, mlp.fc2.weight.shape
    ((4, 16), (16, 4))
    """

    fc1: Linear
    fc2: Linear

    def __init__(
        self,
        in_dim: int,
        init_scale: float,
        widening_factor: int = 4,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        in_dim, widening_factor = positive_ints(
            "DenseBlock", in_dim=in_dim, widening_factor=widening_factor
        )
        self.in_dim = in_dim
        self.init_scale = init_scale
        self.widening_factor = widening_factor
        w_init = jax.nn.initializers.variance_scaling(init_scale, "fan_in", "normal")
        k1, k2 = jax.random.split(next_rng_key() if rng_key is None else rng_key)
        hidden = in_dim * widening_factor
        dtype = param_dtype
        self.fc1 = Linear(in_dim, hidden, w_init=w_init, rng_key=k1, name="fc1", param_dtype=dtype)
        self.fc2 = Linear(hidden, in_dim, w_init=w_init, rng_key=k2, name="fc2", param_dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(jax.nn.gelu(self.fc1(x)))

    def __repr__(self) -> str:
        return self._repr({"in_dim": self.in_dim, "widening_factor": self.widening_factor})


class Transformer(Module):
    """A stack of ``num_layers`` pre-norm decoder layers with causal self attention.

    Args:
        dim: the model width ``D`` (last axis of the input and the output).
        num_heads: attention heads; ``dim`` must be divisible by it (key size
            ``dim // num_heads``).
        num_layers: the number of layers.
        dropout_rate: dropout after the attention and after the dense block, in
            training mode only.
        rng_key: the key of the weight initialization and of the dropout sequence
            (default ``pax.next_rng_key()``).
        name: the module name.
        param_dtype: the dtype of every layer's parameters (default float32).
        num_kv_heads: grouped-query attention: key/value heads per layer (a divisor
            of ``num_heads``; default ``num_heads``).
        rope_base: rotary position embeddings of this base in every attention
            layer (default ``None``: none, PAX's model, which has no positions).
        rms_norm: ``RMSNorm`` in place of every ``LayerNorm`` (default ``False``).

    The call maps ``h`` of shape ``(N, T, D)`` (and an optional padding ``mask``
    of shape ``(N, T)``, true for real tokens) to ``(N, T, D)``; output ``t``
    depends only on inputs ``<= t``. In training mode with ``dropout_rate > 0``
    the call advances ``rng_seq`` (run it inside ``pax.pure``); in eval mode it
    is deterministic and changes nothing.

    Decoding: ``net = pax.nn.init_cache(net, N, max_length=L)`` gives every attention
    layer a key/value cache; ``pax.module_and_value(net.update_site)(h_t)`` maps the
    input at the next position, ``(N, dim)``, to the output there (as in eval
    mode: no dropout), equal to the full call's ``net.eval()(h)[:, t]``; one
    ``pax.scan`` over positions decodes a sequence.

    Training and evaluation::

        net = Transformer(64, num_heads=4, num_layers=2, dropout_rate=0.1)
        net, y = pax.purecall(net, h)  # training mode: dropout on, rng_seq advances
        y = net.eval()(h)  # deterministic

    Shapes only (``jax.eval_shape``: nothing computed):

    >>> import jax, jax.numpy as jnp, pax
    >>> net = jax.eval_shape(lambda: Transformer(8, num_heads=2, num_layers=2, dropout_rate=0.1))
    >>> h = jax.ShapeDtypeStruct((2, 5, 8), jnp.float32)
    >>> jax.eval_shape(pax.purecall, net, h)[1].shape
    (2, 5, 8)
    >>> sorted(net.layers[0])
    ['attention', 'attn_layer_norm', 'dense_block', 'dense_layer_norm']
    """

    rng_seq: RngSeq
    layers: list[dict[str, Any]]
    layer_norm_output: LayerNorm | RMSNorm

    def __init__(
        self,
        dim: int,
        num_heads: int,
        num_layers: int,
        dropout_rate: float,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
        num_kv_heads: int | None = None,
        rope_base: float | None = None,
        rms_norm: bool = False,
    ):
        super().__init__(name=name)
        dim, num_heads, num_layers = positive_ints(
            "Transformer", dim=dim, num_heads=num_heads, num_layers=num_layers
        )
        if dim % num_heads != 0:
            raise ValueError(
                f"Transformer: `dim` ({dim}) must be divisible by `num_heads` ({num_heads}); "
                f"each head has dim // num_heads channels."
            )
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(
                f"Transformer: `dropout_rate` must be in [0, 1), got {dropout_rate!r}."
            )
        self.dim = dim
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.dropout_rate = dropout_rate
        if not isinstance(rms_norm, (bool, np.bool_)):
            raise TypeError(f"Transformer: `rms_norm` must be a bool, got {rms_norm!r}.")

        def norm(key: jax.Array, name: str) -> LayerNorm | RMSNorm:
            if rms_norm:
                return RMSNorm(dim, rng_key=key, name=name, param_dtype=param_dtype)
            return LayerNorm(dim, -1, True, True, rng_key=key, name=name, param_dtype=param_dtype)

        rng_key = next_rng_key() if rng_key is None else rng_key
        keys = jax.random.split(rng_key, 4 * num_layers + 2)
        self.rng_seq = RngSeq(rng_key=keys[-1])
        init_scale = 2.0 / num_layers
        self.layers = [
            {
                "attention": CausalSelfAttention(
                    num_heads,
                    dim // num_heads,
                    init_scale,
                    rng_key=keys[4 * i],
                    param_dtype=param_dtype,
                    num_kv_heads=num_kv_heads,
                    rope_base=rope_base,
                ),
                "attn_layer_norm": norm(keys[4 * i + 1], "attn_layer_norm"),
                "dense_layer_norm": norm(keys[4 * i + 2], "dense_layer_norm"),
                "dense_block": DenseBlock(
                    dim, init_scale, rng_key=keys[4 * i + 3], param_dtype=param_dtype
                ),
            }
            for i in range(num_layers)
        ]
        self.layer_norm_output = norm(keys[-2], "layer_norm_output")

    def __call__(self, h: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``(N, T, dim) -> (N, T, dim)``; ``mask``: ``(N, T)`` padding mask or ``None``."""
        shape = jnp.shape(h)
        if len(shape) != 3 or shape[-1] != self.dim:
            raise ValueError(
                f"Transformer expects inputs of rank 3 (N, T, D) with D = {self.dim}, "
                f"got shape {shape}."
            )
        if mask is not None:
            if jnp.shape(mask) != shape[:2]:
                raise ValueError(
                    f"Transformer expects a padding mask of shape (N, T) = {shape[:2]}, "
                    f"got shape {jnp.shape(mask)}."
                )
            mask = mask[:, None, None, :]

        use_dropout = self.training and self.dropout_rate > 0.0
        keys = self.rng_seq.next_rng_key(2 * self.num_layers) if use_dropout else None

        def drop(i: int, x: jax.Array) -> jax.Array:
            return dropout(keys[i], self.dropout_rate, x) if keys is not None else x

        for i, layer in enumerate(self.layers):
            h_attn = layer["attention"](layer["attn_layer_norm"](h), mask=mask)
            h = h + drop(2 * i, h_attn)
            h_dense = layer["dense_block"](layer["dense_layer_norm"](h))
            h = h + drop(2 * i + 1, h_dense)
        return self.layer_norm_output(h)

    @mixed_precision_method
    def update_site(self, h: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """One decoding step: the output at the current position, from the caches.

        Args:
          h: ``(N, dim)``, the input at the current position.
          mask: ``(N,)``, false where this position is padding (as the full call's
            ``(N, T)`` padding mask); default all true.

        Returns:
          ``(N, dim)``, equal to ``net.eval()(h_all, mask_all)[:, t]``. Dropout is
          never applied. Call it through ``pax.module_and_value(net.update_site)(h)``
          after ``pax.nn.init_cache(net, N, max_length=L)``.

        >>> import jax, jax.numpy as jnp, pax
        >>> net = Transformer(8, 2, 2, 0.0, rope_base=10000.0, rng_key=jax.random.PRNGKey(0))
        >>> h = jax.random.normal(jax.random.PRNGKey(1), (3, 5, 8))
        >>> step = lambda m, h_t: pax.module_and_value(m.update_site)(h_t)
        >>> cached = pax.nn.init_cache(net, 3, max_length=5)
        >>> _, ys = pax.scan(step, cached, h, time_major=False)
        >>> bool(jnp.allclose(ys, net.eval()(h), atol=1e-5))
        True
        """
        shape = jnp.shape(h)
        if len(shape) != 2 or shape[-1] != self.dim:
            raise ValueError(
                f"Transformer.update_site expects one position, shape (N, D) with "
                f"D = {self.dim}, got shape {shape}."
            )
        for layer in self.layers:
            h = h + layer["attention"].update_site(layer["attn_layer_norm"](h), mask)
            h = h + layer["dense_block"](layer["dense_layer_norm"](h))
        return self.layer_norm_output(h)

    def __repr__(self) -> str:
        return self._repr(
            {
                "dim": self.dim,
                "num_heads": self.num_heads,
                "num_layers": self.num_layers,
                "dropout_rate": self.dropout_rate,
            }
        )
