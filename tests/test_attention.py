"""MultiHeadAttention against haiku's ``MultiHeadAttention`` with equal weights.

PAX's ``query_projection``, ``key_projection``, ``value_projection`` and
``output_projection`` are haiku's ``query``, ``key``, ``value`` and ``linear``
(with ``model_size = num_heads * key_size``). haiku wants a mask of the logits'
rank, so the reference gets ours with leading axes of size one added.
"""

from typing import Any, Callable, Dict, Optional

import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key as _key

import pax
from pax._src.nn.attention import MultiHeadAttention


def normal(seed: int, shape, scale: float = 1.0) -> np.ndarray:
    """Float32 normal noise from numpy (no per-shape compilation, unlike jax.random)."""
    return scale * np.random.default_rng(seed).standard_normal(shape, np.float32)


def _randomized(make: Callable[[], Any], seed: int, scale: float = 0.4) -> Any:
    """``make()`` with normal weights and biases, built without running its initializers."""
    leaves, treedef = jax.tree_util.tree_flatten(jax.eval_shape(make))
    new = [jnp.asarray(normal(seed + i, x.shape, scale)) for i, x in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, new)


def _haiku_params(mha: MultiHeadAttention) -> Dict[str, Any]:
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
    hk_mask: Optional[np.ndarray] = None
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
    assert MultiHeadAttention._pax_default_precision == "half"
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
