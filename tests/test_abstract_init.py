"""Abstract init (``pax.eval_shape``) and sharded init (``init_sharded``) of pax models."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

import pax
from pax._src import sharding as S
from pax._src.abstract import eval_shape


def flatten(x):
    return x.reshape(x.shape[0], -1)


def small_cnn():
    return pax.Sequential(
        pax.Conv2D(1, 8, 3),
        pax.BatchNorm2D(8),
        jax.nn.relu,
        flatten,  # (a lambda here would give each build its own treedef)
        pax.Linear(8 * 8 * 8, 10),
    )


def model_and_optimizer():
    model = pax.Sequential(pax.Linear(3, 4), pax.Dropout(0.1), pax.LSTM(4, 8))
    return model, opax.adam(1e-3)(model.parameters())


CONSTRUCTORS = {
    "cnn": (small_cnn, (), {}),
    "linear": (pax.Linear, (3, 4), {"with_bias": False}),
    "attention": (pax.MultiHeadAttention, (), {"num_heads": 2, "key_size": 4, "w_init_scale": 1.0}),
    "transformer": (pax.nets.Transformer, (8, 2, 2, 0.1), {}),
    "model_and_optimizer": (model_and_optimizer, (), {}),
}


def assert_abstract(tree):
    leaves = jax.tree_util.tree_leaves(tree)
    assert leaves
    for leaf in leaves:
        assert isinstance(leaf, jax.ShapeDtypeStruct) and not isinstance(leaf, jax.Array)


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_abstract_model_has_the_real_structure(name):
    constructor, args, kwargs = CONSTRUCTORS[name]
    abstract = eval_shape(constructor, *args, **kwargs)
    assert_abstract(abstract)
    real = constructor(*args, **kwargs)
    real_leaves, real_def = jax.tree_util.tree_flatten_with_path(real)
    abstract_leaves, abstract_def = jax.tree_util.tree_flatten_with_path(abstract)
    if name == "model_and_optimizer":  # opax makes a new optimizer class at each call
        assert jax.tree_util.tree_structure(abstract[0]) == jax.tree_util.tree_structure(real[0])
        assert type(abstract[1]).__qualname__ == type(real[1]).__qualname__
    else:
        assert abstract_def == real_def
        assert type(abstract) is type(real)
    assert [p for p, _ in abstract_leaves] == [p for p, _ in real_leaves]
    for (path, a), (_, r) in zip(abstract_leaves, real_leaves):
        assert (a.shape, a.dtype) == (r.shape, r.dtype), jax.tree_util.keystr(path)


def test_abstract_resnet50_allocates_no_weights():
    abstract = eval_shape(pax.nets.ResNet50, 3, 1000)
    assert type(abstract) is pax.nets.ResNet50
    assert_abstract(abstract)
    params = jax.tree_util.tree_leaves(abstract.parameters())
    assert sum(math.prod(p.shape) for p in params) == 25_557_032  # the published count
    assert not abstract.eval().training  # modes and other module methods work


def test_arguments_are_passed_as_they_are():
    seen = []

    def constructor(n, *, key):
        seen.append((type(n), isinstance(key, jax.core.Tracer)))
        return pax.Linear(n, 2, rng_key=key)

    abstract = eval_shape(constructor, 3, key=jax.random.PRNGKey(0))
    assert seen == [(int, False)]
    assert abstract.weight.shape == (3, 2)


def test_abstract_init_leaves_the_random_state_alone():
    pax.seed_rng_key(7)
    expected = pax.Linear(2, 3)
    pax.seed_rng_key(7)
    eval_shape(pax.Linear, 2, 3)
    eval_shape(lambda: [pax.Linear(2, 3) for _ in range(3)])
    np.testing.assert_array_equal(pax.Linear(2, 3).weight, expected.weight)
    # also when the constructor reseeds or fails
    pax.seed_rng_key(7)

    def reseeds():
        pax.seed_rng_key(123)
        return pax.Linear(2, 3)

    eval_shape(reseeds)

    def fails():
        pax.Linear(2, 3)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        eval_shape(fails)
    np.testing.assert_array_equal(pax.Linear(2, 3).weight, expected.weight)


def test_objax_generator_draws_fail_clearly_and_leave_the_generator_alone():
    generator = pax.random.DEFAULT_GENERATOR
    before = np.asarray(generator.key.value)

    def objax_style():
        model = pax.Linear(2, 2)
        model = model.replace(weight=pax.random.normal((2, 2)))
        return model

    with pytest.raises(ValueError, match="Cannot write a traced value"):
        eval_shape(objax_style)
    np.testing.assert_array_equal(np.asarray(generator.key.value), before)


def test_not_a_constructor():
    with pytest.raises(TypeError, match=r"got Linear \(a module, not its class\)"):
        eval_shape(pax.Linear(2, 2))
    with pytest.raises(TypeError, match=r"expects a constructor .* got int\."):
        eval_shape(3)


# -- sharded init -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh():
    return Mesh(np.array(jax.devices()[:8]).reshape(2, 4), ("data", "model"))


RULES = [
    (r"\.modules\[0\]\.weight$", P(None, None, None, "model")),  # conv output channels
    (r"\.modules\[4\]\.weight$", P("data", None)),
    (r"\.modules\[4\]\.bias$", (None,)),
]


def test_init_sharded_places_each_leaf_as_asked_and_equals_the_real_build(mesh):
    pax.seed_rng_key(3)
    expected = small_cnn()
    after_real = pax.next_rng_key()
    pax.seed_rng_key(3)
    model = S.init_sharded(small_cnn, mesh, RULES)
    # the same draws from pax.next_rng_key as a real build, and the same advance
    np.testing.assert_array_equal(pax.next_rng_key(), after_real)
    assert jax.tree_util.tree_structure(model) == jax.tree_util.tree_structure(expected)
    for (path, leaf), ref in zip(
        jax.tree_util.tree_flatten_with_path(model)[0], jax.tree_util.tree_leaves(expected)
    ):
        np.testing.assert_allclose(leaf, ref, rtol=1e-6, atol=1e-7)
        assert leaf.sharding.mesh is mesh, jax.tree_util.keystr(path)
    assert model.modules[0].weight.sharding.spec == P(None, None, None, "model")
    assert model.modules[0].weight.addressable_shards[0].data.shape == (3, 3, 1, 2)
    assert model.modules[4].weight.sharding.spec == P("data", None)
    assert model.modules[4].weight.addressable_shards[0].data.shape == (256, 10)
    assert model.modules[4].bias.sharding.is_fully_replicated
    assert model.modules[1].scale.sharding.is_fully_replicated  # the default
    # replicated when no rules are given; constructor arguments are passed on
    linear = S.init_sharded(pax.Linear, mesh, None, 4, 8, with_bias=False)
    assert linear.bias is None and linear.weight.shape == (4, 8)
    assert linear.weight.sharding.is_fully_replicated and len(linear.weight.devices()) == 8


def test_init_sharded_checks_the_rules_before_building(mesh):
    pax.seed_rng_key(3)
    with pytest.raises(ValueError, match=r"`\.modules\[4\]\.bias` has shape \(10,\)"):
        S.init_sharded(small_cnn, mesh, [(r"\.bias$", P("model"))])
    expected = pax.next_rng_key()
    pax.seed_rng_key(3)
    np.testing.assert_array_equal(pax.next_rng_key(), expected)  # nothing was drawn


def test_with_shardings_gives_abstract_leaves_that_carry_their_sharding(mesh):
    abstract = eval_shape(small_cnn)
    shardings = S.by_rules(abstract, mesh, RULES)
    placed = S.with_shardings(abstract, shardings)
    assert_abstract(placed)
    for leaf, a, s in zip(*map(jax.tree_util.tree_leaves, (placed, abstract, shardings))):
        assert (leaf.shape, leaf.dtype, leaf.sharding) == (a.shape, a.dtype, s)
    scalar = S.with_shardings([1.0], S.replicated([1.0], mesh))[0]
    assert (scalar.shape, scalar.dtype, scalar.weak_type) == ((), jnp.float32, True)


# -- restoring a checkpoint into an abstract model ----------------------------------------


def _checkpoint_api():
    save, load = getattr(pax, "save", None), getattr(pax, "load", None)
    if save is None or load is None:
        try:
            from pax._src.checkpoint import load, save
        except ImportError:
            pytest.skip("pax.save/pax.load (pax/_src/checkpoint) are not available yet")
    return save, load


def test_restore_into_an_abstract_model(tmp_path, mesh):
    save, load = _checkpoint_api()
    pax.seed_rng_key(11)
    model, optimizer = model_and_optimizer()
    path = tmp_path / "model.ckpt"
    save(path, (model, optimizer))
    abstract = eval_shape(model_and_optimizer)
    restored = load(path, like=abstract)
    for (p, a), b in zip(
        jax.tree_util.tree_flatten_with_path(restored)[0],
        jax.tree_util.tree_leaves((model, optimizer)),
    ):
        assert isinstance(a, jax.Array), jax.tree_util.keystr(p)
        np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(p))
    # straight onto the devices: the abstract leaves carry the shardings
    placed_like = S.with_shardings(abstract, S.replicated(abstract, mesh))
    placed = load(path, like=placed_like)
    for a, b in zip(jax.tree_util.tree_leaves(placed), jax.tree_util.tree_leaves(restored)):
        assert a.sharding.is_fully_replicated and len(a.devices()) == 8
        np.testing.assert_array_equal(a, b)
