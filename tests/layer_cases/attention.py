"""Registry cases: multi-head attention (model_size 6 = 2 heads * key_size 3)."""

import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, key, normal, purecall

import pax
from pax._src.nn.attention import MultiHeadAttention

# an (N=2, 1, 1, T=4) padding mask, fixed (a mask is not a differentiable input)
PADDING = np.arange(4)[None, None, None, :] < np.array([4, 2])[:, None, None, None]


def masked_self_attention(mha, x):
    return purecall(mha, x, x, x, PADDING)


def multi_head_attention(dtype=jnp.float32):
    return MultiHeadAttention(2, 3, 1.0, rng_key=key(0), param_dtype=dtype)


def np_masked_self_attention(mha, x):
    """Softmax attention in numpy; masked keys get weight 0 (for complex logits too:
    the softmax is ``exp(l) / sum(exp(l))``, which JAX computes with a shift)."""
    x = np.asarray(x)

    def heads(fc):
        y = x @ np.asarray(fc.weight) + np.asarray(fc.bias)
        return y.reshape(*x.shape[:-1], mha.num_heads, mha.key_size)

    q, k, v = heads(mha.query_projection), heads(mha.key_projection), heads(mha.value_projection)
    logits = np.einsum("nthd,nshd->nhts", q, k) / np.sqrt(mha.key_size)
    logits = logits - np.max(logits.real, axis=-1, keepdims=True)
    weights = np.where(PADDING, np.exp(logits), 0)
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    attn = np.einsum("nhts,nshd->nthd", weights, v).reshape(x.shape)
    out = mha.output_projection
    return attn @ np.asarray(out.weight) + np.asarray(out.bias)


def causal_gqa_rope(dtype=jnp.float32):
    return MultiHeadAttention(
        2, 4, 1.0, num_kv_heads=1, causal=True, rope_base=100.0, rng_key=key(1), param_dtype=dtype
    )


def self_attention(mha, x):
    return purecall(mha, x, x, x)


def cached_causal_attention(dtype=jnp.float32):
    """A causal GQA layer with a cache in the middle of a sequence (3 of 5 positions)."""
    mha = pax.nn.init_cache(causal_gqa_rope(dtype), 2, max_length=5)
    for t in range(3):
        mha, _ = pax.module_and_value(mha.update_site)(normal(20 + t, (2, 8), 0.5))
    return mha


def update_site(mha, x):
    return pax.module_and_value(mha.update_site)(x)


LAYERS = [
    LayerCase(
        "causal_gqa_rope_attention",
        causal_gqa_rope,
        lambda s: (normal(s, (2, 4, 8)),),
        call=self_attention,
        make_dtype=causal_gqa_rope,
    ),
    LayerCase(
        "causal_attention_update_site",
        cached_causal_attention,
        lambda s: (normal(s, (2, 8), 0.5),),
        call=update_site,
        make_dtype=cached_causal_attention,
    ),
    LayerCase(
        "multi_head_attention",
        multi_head_attention,
        lambda s: (normal(s, (2, 4, 6)),),
        call=masked_self_attention,
        make_dtype=multi_head_attention,
        reference=np_masked_self_attention,
    ),
]
