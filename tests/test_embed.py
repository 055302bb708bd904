"""Embed against dm-haiku with equal weights, initialization, errors, mixed precision."""

import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key as _key
from layer_registry import normal

import pax
from pax._src.core.mixed_precision import precision_of
from pax._src.nn.embed import Embed


@pytest.mark.parametrize(
    "ids",
    [np.array(3), np.array([0, 4, 4, 1]), np.array([[[1, 2, 4]]]), np.arange(10).reshape(2, 5) % 5],
    ids=["scalar", "vector", "pax_test", "matrix"],
)
def test_embed_matches_haiku(ids):
    embed = Embed(5, 7, rng_key=_key(0))
    f = hk.without_apply_rng(hk.transform(lambda ids: hk.Embed(5, 7)(ids)))
    shapes = jax.eval_shape(lambda ids: f.init(_key(0), ids), ids)
    assert shapes["embed"]["embeddings"].shape == embed.weight.shape
    cot = np.asarray(normal(1, (70,)))[: ids.size * 7].reshape(ids.shape + (7,))

    @jax.jit
    def run(weight, ids):
        def pax_loss(w):
            y = embed.replace(weight=w)(ids)
            return jnp.sum(y * cot), y

        def hk_loss(w):
            y = f.apply({"embed": {"embeddings": w}}, ids)
            return jnp.sum(y * cot), y

        return jax.grad(pax_loss, has_aux=True)(weight), jax.grad(hk_loss, has_aux=True)(weight)

    (grad, y), (hk_grad, y_hk) = run(embed.weight, jnp.asarray(ids, jnp.int32))
    assert y.shape == ids.shape + (7,)
    tree_allclose(y, y_hk, rtol=0, atol=0)
    tree_allclose(grad, hk_grad, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y, np.asarray(embed.weight)[ids])


def test_embed_initialization():
    embed = Embed(400, 50, rng_key=_key(3))
    # PAX 0.5's default: jax.nn.initializers.normal() (standard deviation 0.01)
    np.testing.assert_array_equal(
        embed.weight, jax.nn.initializers.normal()(_key(3), (400, 50), jnp.float32)
    )
    assert embed.weight.dtype == jnp.float32
    assert abs(float(jnp.std(embed.weight)) - 0.01) < 5e-4
    custom = Embed(4, 3, w_init=jax.nn.initializers.ones, rng_key=_key(0))
    np.testing.assert_array_equal(custom.weight, np.ones((4, 3)))
    assert jax.tree_util.tree_leaves(custom.parameters()) == [custom.weight]
    assert custom([[1, 3]]).shape == (1, 2, 3) and custom(2).shape == (3,)  # lists, ints
    assert repr(Embed(4, 3, name="tok")) == "(tok) Embed(vocab_size=4, embed_dim=3)"


@pytest.mark.parametrize(
    "ids, error, match",
    [
        (jnp.array([1.0, 2.0]), TypeError, r"Embed expects integer ids, got .* float32.*astype"),
        ([0.5], TypeError, r"integer ids, got an array of dtype float"),
        (jnp.array([True]), TypeError, r"integer ids, got an array of dtype bool"),
        (jnp.array([0, 5]), ValueError, r"Embed expects ids in \[0, 5\).*from 0 to 5"),
        (np.array([-1, 2]), ValueError, r"ids in \[0, 5\) \(vocab_size\), got ids from -1 to 2"),
    ],
    ids=["float", "float_list", "bool", "too_large", "negative"],
)
def test_embed_rejects_bad_ids(ids, error, match):
    embed = Embed(5, 2, rng_key=_key(0))
    with pytest.raises(error, match=match):
        embed(ids)


def test_embed_float_ids_raise_under_jit_and_range_follows_jax_indexing():
    embed = Embed(5, 2, rng_key=_key(0))
    with pytest.raises(TypeError, match="integer ids"):
        jax.jit(embed.__call__)(jnp.ones(2))
    # traced ids cannot be checked: negative ids wrap, ids past the end are clamped
    y = jax.jit(embed.__call__)(jnp.array([-1, 7]))
    np.testing.assert_array_equal(y, np.asarray(embed.weight)[[4, 4]])


@pytest.mark.parametrize(
    "args, match",
    [((0, 3), "`vocab_size` must be a positive int"), ((3, 2.0), "`embed_dim` must be a pos")],
)
def test_embed_bad_constructor_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        Embed(*args)


def test_embed_mixed_precision_keeps_integer_ids():
    embed = Embed(6, 4, rng_key=_key(0))
    assert precision_of(Embed) == "half"
    policy = jmp.get_policy("params=float32,compute=bfloat16,output=bfloat16")
    mp_embed = pax.apply_mp_policy(embed, policy)
    ids = jnp.array([[0, 5], [3, 3]], jnp.int32)  # jmp casts only floating arrays
    y = jax.jit(lambda m, i: m(i))(mp_embed, ids)
    assert y.dtype == jnp.bfloat16 and mp_embed.weight.dtype == jnp.float32
    expected = np.asarray(embed.weight.astype(jnp.bfloat16), np.float32)[np.asarray(ids)]
    np.testing.assert_array_equal(np.asarray(y, np.float32), expected)
