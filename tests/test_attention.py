"""MultiHeadAttention against haiku's ``MultiHeadAttention`` with equal weights.

PAX's ``query_projection``, ``key_projection``, ``value_projection`` and
``output_projection`` are haiku's ``query``, ``key``, ``value`` and ``linear``
(with ``model_size = num_heads * key_size``). haiku wants a mask of the logits'
rank, so the reference gets ours with leading axes of size one added.
"""

from collections.abc import Callable
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key as _key

import pax
from pax._src.core.mixed_precision import precision_of
from pax._src.nn.attention import MultiHeadAttention


def normal(seed: int, shape, scale: float = 1.0) -> np.ndarray:
    """Float32 normal noise from numpy (no per-shape compilation, unlike jax.random)."""
    return scale * np.random.default_rng(seed).standard_normal(shape, np.float32)


def _randomized(make: Callable[[], Any], seed: int, scale: float = 0.4) -> Any:
    """``make()`` with normal weights and biases, built without running its initializers."""
    leaves, treedef = jax.tree_util.tree_flatten(jax.eval_shape(make))
    new = [jnp.asarray(normal(seed + i, x.shape, scale)) for i, x in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, new)


def _haiku_params(mha: MultiHeadAttention) -> dict[str, Any]:
    layers = {
        "query": mha.query_projection,
        "key": mha.key_projection,
        "value": mha.value_projection,
        "linear": mha.output_projection,
    }
    return {f"multi_head_attention/{k}": {"w": v.weight, "b": v.bias} for k, v in layers.items()}


def _haiku_mha(num_heads: int, key_size: int):
    def forward(q, k, v, mask):
        mha = hk.MultiHeadAttention(
            num_heads, key_size, w_init=hk.initializers.VarianceScaling(1.0),
            model_size=num_heads * key_size,
        )  # fmt: skip
        return mha(q, k, v, mask)

    return hk.without_apply_rng(hk.transform(forward))


def _causal(t: int, dtype=bool) -> np.ndarray:
    return np.tril(np.ones((t, t), dtype))


def _padding(lengths, s: int) -> np.ndarray:
    """``(N, 1, 1, S)``: true for the first ``lengths[n]`` keys (0: all masked)."""
    return (np.arange(s)[None, :] < np.asarray(lengths)[:, None])[:, None, None, :]


# (query shape, key/value shape, mask); model_size 6 = 2 heads * 3
CASES = {
    "self": ((2, 5, 6), (2, 5, 6), None),
    "cross_lengths": ((2, 3, 6), (2, 7, 6), None),
    "causal_float": ((2, 5, 6), (2, 5, 6), _causal(5, np.float32)),  # PAX's transformer
    "padding_one_row_fully_masked": ((2, 4, 6), (2, 6, 6), _padding([4, 0], 6)),
    "full_rank_mask": ((2, 3, 6), (2, 4, 6), normal(1, (2, 2, 3, 4)) > 0),
    "unbatched": ((4, 6), (5, 6), normal(2, (4, 5)) > 0),
    "two_batch_dims": ((2, 3, 4, 6), (2, 3, 2, 6), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_haiku(case):
    q_shape, kv_shape, mask = CASES[case]
    mha = _randomized(lambda: MultiHeadAttention(2, 3, 1.0, rng_key=_key(0)), seed=10)
    q, k, v = normal(3, q_shape), normal(4, kv_shape), normal(5, kv_shape)
    f = _haiku_mha(2, 3)
    hk_mask: np.ndarray | None = None
    if mask is not None:
        logits_rank = len(q_shape) + 1
        hk_mask = mask.reshape((1,) * (logits_rank - mask.ndim) + mask.shape)
    hk_shapes = jax.eval_shape(f.init, _key(0), q, k, v, hk_mask)
    assert jax.tree_util.tree_map(jnp.shape, hk_shapes) == jax.tree_util.tree_map(
        jnp.shape, _haiku_params(mha)
    )
    expected = jax.jit(f.apply)(_haiku_params(mha), q, k, v, hk_mask)
    out = jax.jit(lambda m, *args: m(*args))(mha, q, k, v, mask)
    assert out.shape == q_shape
    tree_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_fully_masked_rows_stay_finite_in_float16():
    """haiku's -1e30 is -inf in float16 (NaN rows); the lowest finite value is not."""
    mha = _randomized(lambda: MultiHeadAttention(2, 3, 1.0, rng_key=_key(0)), seed=10)
    policy = jmp.Policy(jnp.float32, jnp.float16, jnp.float16)  # projections output float16
    half = mha.apply(lambda m: pax.apply_mp_policy(m, policy))
    q, kv = normal(3, (2, 4, 6)), normal(4, (2, 6, 6))
    mask = _padding([4, 0], 6)
    out, expected = jax.jit(lambda a, b: (a(q, kv, kv, mask), b(q, kv, kv, mask)))(half, mha)
    assert out.dtype == jnp.float16 and bool(jnp.all(jnp.isfinite(out)))
    tree_allclose(out, expected, rtol=2e-2, atol=2e-2)


# -- PAX 0.5 compatibility ----------------------------------------------------------


def test_pax_attributes_state_dict_and_repr():
    mha = _randomized(lambda: MultiHeadAttention(4, 2, 1.0), seed=0)
    assert (mha.num_heads, mha.key_size, mha.value_size, mha.model_size) == (4, 2, 2, 8)
    layer = {"weight": (8, 8), "bias": (8,)}
    names = {
        "query_projection": "qry_proj",
        "key_projection": "key_proj",
        "value_projection": "val_proj",
        "output_projection": "out_proj",
    }
    assert jax.tree_util.tree_map(np.shape, mha.state_dict()) == {n: layer for n in names}
    assert {attr: getattr(mha, attr).name for attr in names} == names
    assert precision_of(MultiHeadAttention) == "half"
    assert repr(mha) == "MultiHeadAttention(num_heads=4, key_size=2)"
    assert "(qry_proj) Linear(in_dim=8, out_dim=8, with_bias=True)" in mha.summary()


def test_w_init_scale_scales_the_weight_variance():
    """``variance_scaling(scale, "fan_in", "normal")``: std proportional to sqrt(scale)."""
    a = MultiHeadAttention(2, 4, 1.0, rng_key=_key(3))
    b = MultiHeadAttention(2, 4, 4.0, rng_key=_key(3))
    for name in ("query_projection", "output_projection"):
        fa, fb = getattr(a, name), getattr(b, name)
        tree_allclose(fb.weight, 2 * fa.weight, rtol=1e-5, atol=1e-6)
        assert not jnp.any(fa.bias) and not jnp.any(fb.bias)
    assert not np.allclose(a.query_projection.weight, a.key_projection.weight)
    # truncated normal of variance 1 / fan_in (fan_in = 8): std about 0.35
    assert 0.2 < float(jnp.std(a.query_projection.weight)) < 0.5


# -- error paths --------------------------------------------------------------------

_Q = (2, 5, 6)


@pytest.mark.parametrize(
    "q, k, v, mask, match",
    [
        pytest.param(
            (2, 5, 4), _Q, _Q, None,
            r"expects `query` of shape \(\.\.\., T, 6\) \(model_size = num_heads \* key_size = "
            r"2 \* 3\), got shape \(2, 5, 4\)",
            id="query_dim",
        ),
        pytest.param((6,), _Q, _Q, None, r"`query` of shape .* got shape \(6,\)", id="query_rank"),
        pytest.param(
            _Q, _Q, (2, 5, 7), None, r"`value` of shape .* got shape \(2, 5, 7\)", id="value_dim"
        ),
        pytest.param(
            _Q, (2, 5, 6), (2, 4, 6), None,
            r"`key` and `value` of the same shape .* got key \(2, 5, 6\) and value \(2, 4, 6\)",
            id="key_value_lengths",
        ),
        pytest.param(
            _Q, (3, 5, 6), (3, 5, 6), None,
            r"`query` and `key` with the same leading dimensions .* got query \(2, 5, 6\) "
            r"and key \(3, 5, 6\)",
            id="batch_dims",
        ),
        pytest.param(
            _Q, (2, 4, 6), (2, 4, 6), (5, 5),
            r"`mask` that broadcasts to \(\.\.\., num_heads, T, S\) = \(2, 2, 5, 4\), got "
            r"shape \(5, 5\)",
            id="mask_shape",
        ),
        pytest.param(
            _Q, _Q, _Q, (3, 2, 5, 5), r"broadcasts to .* got shape \(3, 2, 5, 5\)", id="mask_batch"
        ),
        pytest.param(
            _Q, _Q, _Q, (1, 2, 2, 5, 5), r"got shape \(1, 2, 2, 5, 5\)", id="mask_rank"
        ),
    ],
)  # fmt: skip
def test_wrong_shapes_raise(q, k, v, mask, match):
    mha = _randomized(lambda: MultiHeadAttention(2, 3, 1.0), seed=0)
    args = [jnp.ones(q), jnp.ones(k), jnp.ones(v), None if mask is None else jnp.ones(mask, bool)]
    with pytest.raises(ValueError, match=match):
        mha(*args)
    with pytest.raises(ValueError, match=match):  # also while tracing
        jax.jit(lambda m, *a: m(*a))(mha, *args)


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, 3, 1.0), "MultiHeadAttention: `num_heads` must be a positive int, got 0"),
        ((2, 2.5, 1.0), "MultiHeadAttention: `key_size` must be a positive int, got 2.5"),
        ((2, 3, 0.0), "MultiHeadAttention: `w_init_scale` must be a positive number, got 0.0"),
        ((2, 3, -1.0), "`w_init_scale` must be a positive number"),
        ((2, 3, "1"), "`w_init_scale` must be a positive number, got '1'"),
    ],
)
def test_bad_constructor_arguments_raise(args, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(*args)


# -- jax.nn.dot_product_attention, grouped-query attention, rotary embeddings -------------

from pax._src.nn import attention as attention_module  # noqa: E402
from pax._src.nn.rope import rotary_embedding  # noqa: E402

FUSED_CASES = {  # (query, key/value shapes (..., T|S, heads, K), mask)
    "self": ((2, 5, 4, 3), (2, 5, 4, 3), None),
    "gqa_causal": ((2, 5, 4, 3), (2, 5, 2, 3), _causal(5)),
    "mqa_cross_padding": ((2, 3, 4, 3), (2, 6, 1, 3), _padding([6, 2], 6)),
    "fully_masked_row_two_batch_dims": ((2, 2, 3, 2, 3), (2, 2, 4, 2, 3), _padding([0, 3], 4)),
    "unbatched": ((3, 2, 4), (5, 2, 4), normal(5, (2, 3, 5)) > 0),
}


@pytest.mark.parametrize("case", list(FUSED_CASES))
def test_fused_attention_equals_the_einsum_path(case):
    q_shape, kv_shape, mask = FUSED_CASES[case]
    q, k, v = normal(1, q_shape), normal(2, kv_shape), normal(3, kv_shape)
    assert attention_module.fused_attention_applies(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v))
    fused = attention_module.attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), mask)
    reference = attention_module.attention_einsum(
        jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), mask
    )
    tree_allclose(fused, reference, rtol=1e-5, atol=1e-5)


def np_grouped_attention(q, k, v, mask):
    """numpy: query head h reads key/value head h // (H // G)."""
    groups = q.shape[-2] // k.shape[-2]
    k, v = np.repeat(k, groups, axis=-2), np.repeat(v, groups, axis=-2)
    logits = np.einsum("nthd,nshd->nhts", q, k) / np.sqrt(q.shape[-1])
    logits = np.where(mask, logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("nhts,nshd->nthd", weights, v)


def test_grouped_query_attention_matches_numpy():
    mha = _randomized(lambda: MultiHeadAttention(4, 2, 1.0, num_kv_heads=2, causal=True), seed=3)
    assert mha.key_projection.weight.shape == (8, 4)  # model_size -> G * K
    x = normal(6, (2, 5, 8))

    def proj(fc, heads):
        return (x @ np.asarray(fc.weight) + np.asarray(fc.bias)).reshape(2, 5, heads, 2)

    q = proj(mha.query_projection, 4)
    k, v = proj(mha.key_projection, 2), proj(mha.value_projection, 2)
    attn = np_grouped_attention(q, k, v, _causal(5)).reshape(2, 5, 8)
    out = attn @ np.asarray(mha.output_projection.weight) + np.asarray(mha.output_projection.bias)
    tree_allclose(mha(x, x, x), out, rtol=1e-5, atol=1e-5)


def test_module_falls_back_to_einsum_without_dot_product_attention(monkeypatch):
    mha = _randomized(lambda: MultiHeadAttention(2, 3, 1.0, num_kv_heads=1), seed=4)
    q, kv, mask = normal(7, (2, 4, 6)), normal(8, (2, 6, 6)), _padding([6, 0], 6)
    fused = mha(q, kv, kv, mask)
    monkeypatch.setattr(attention_module, "_FUSED_ATTENTION", None)  # as on JAX < 0.4.31
    assert not attention_module.fused_attention_applies(*(jnp.asarray(q),) * 3)
    tree_allclose(mha(q, kv, kv, mask), fused, rtol=1e-5, atol=1e-5)


def test_complex_attention_takes_the_einsum_path():
    x = jnp.asarray(normal(9, (1, 3, 2, 4))).astype(jnp.complex64)
    assert not attention_module.fused_attention_applies(x, x, x)


def np_rotary(x, positions, base):
    """Pair i = (x[i], x[i + K/2]) turned by the 2x2 rotation of angle p * base^(-2i/K)."""
    x = np.asarray(x, np.float64)
    half = x.shape[-1] // 2
    y = np.empty_like(x)
    for t, p in enumerate(positions):
        for i in range(half):
            theta = p * base ** (-2.0 * i / x.shape[-1])
            rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
            pair = np.stack([x[..., t, :, i], x[..., t, :, i + half]], axis=-1)
            turned = pair @ rotation.T
            y[..., t, :, i], y[..., t, :, i + half] = turned[..., 0], turned[..., 1]
    return y


@pytest.mark.parametrize("base", [10000.0, 10.0])
def test_rotary_embedding_matches_the_rotation_formula(base):
    x = normal(10, (2, 5, 3, 6))  # (N, T, H, K)
    positions = np.array([0, 1, 2, 7, 30])
    y = rotary_embedding(x, positions, base=base)
    tree_allclose(y, np_rotary(x, positions, base).astype(np.float32), rtol=1e-5, atol=1e-5)


def test_rotary_logits_depend_on_relative_position_only():
    q, k = normal(11, (1, 1, 1, 4)), normal(12, (1, 1, 1, 4))

    def logit(p, s):
        qp = rotary_embedding(q, np.array([p]))
        ks = rotary_embedding(k, np.array([s]))
        return float(jnp.sum(qp * ks))

    assert logit(5, 2) == pytest.approx(logit(13, 10), rel=1e-4, abs=1e-5)
    assert logit(5, 2) != pytest.approx(logit(5, 4), rel=1e-3)


def test_attention_with_rope_rotates_queries_and_keys_by_position():
    mha = _randomized(lambda: MultiHeadAttention(2, 4, 1.0, rope_base=100.0), seed=5)
    plain = mha.replace(rope_base=None)
    x = normal(13, (2, 4, 8))
    q = plain._heads(plain.query_projection, jnp.asarray(x), 2)
    k = plain._heads(plain.key_projection, jnp.asarray(x), 2)
    v = plain._heads(plain.value_projection, jnp.asarray(x), 2)
    positions = np.arange(4)
    rq, rk = np_rotary(q, positions, 100.0), np_rotary(k, positions, 100.0)
    attn = np_grouped_attention(rq, rk, np.asarray(v), np.ones((4, 4), bool)).reshape(2, 4, 8)
    out = mha.output_projection(jnp.asarray(attn, jnp.float32))
    tree_allclose(mha(x, x, x), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_kv_heads": 3}, r"`num_kv_heads` \(3\) must divide `num_heads` \(4\)"),
        ({"num_kv_heads": 0}, r"`num_kv_heads` must be a positive int"),
        ({"rope_base": 0.5}, r"`rope_base` must be a number > 1"),
        ({"causal": 1}, r"`causal` must be a bool, got 1"),
    ],
)
def test_new_options_reject_bad_values(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        MultiHeadAttention(4, 2, 1.0, **kwargs)


def test_rope_needs_an_even_key_size():
    with pytest.raises(ValueError, match=r"need an even `key_size`, got 3"):
        MultiHeadAttention(2, 3, 1.0, rope_base=10000.0)
    with pytest.raises(ValueError, match=r"K even, got shape \(2, 3, 1, 3\)"):
        rotary_embedding(jnp.ones((2, 3, 1, 3)), np.arange(3))
