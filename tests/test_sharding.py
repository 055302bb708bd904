"""pax models under ``jax.jit`` with ``NamedSharding`` over a Mesh of 8 CPU devices,
and the module-shaped sharding trees of ``pax._src.sharding``."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import pax
from pax._src import sharding as S
from pax._src.abstract import eval_shape

STEPS = 4


def make_model():
    pax.seed_rng_key(0)
    return pax.Sequential(pax.Linear(4, 16), jax.nn.relu, pax.BatchNorm1D(16), pax.Linear(16, 2))


def loss_fn(model, x, y):
    model, y_hat = pax.purecall(model, x)  # BatchNorm updates its statistics
    loss = jnp.mean((y_hat - y) ** 2)
    return loss, (loss, model)


update_fn = pax.build_update_fn(loss_fn)


def batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS, 32, 4)).astype(np.float32)
    y = np.stack([np.sin(x[..., 0]), x[..., 1] * x[..., 2]], axis=-1).astype(np.float32)
    return x, y


def train(step, model, optimizer, put_batch=lambda b: b):
    losses = []
    for x, y in zip(*batches()):
        model, optimizer, loss = step(model, optimizer, put_batch(x), put_batch(y))
        losses.append(loss)
    return model, optimizer, np.array(losses)


@pytest.fixture(scope="module")
def reference():
    """The same training on one device."""
    model = make_model()
    return train(jax.jit(update_fn), model, opax.adam(1e-2)(model.parameters()))


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    """Same leaf paths and close values (opax makes a new optimizer class per call, so
    two optimizers never have equal treedefs)."""
    leaves_a = jax.tree_util.tree_flatten_with_path(a)[0]
    leaves_b = jax.tree_util.tree_flatten_with_path(b)[0]
    assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
    for (path, x), (_, y) in zip(leaves_a, leaves_b):
        np.testing.assert_allclose(
            np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=jax.tree_util.keystr(path)
        )


def assert_placed(tree, shardings):
    """Every leaf of ``tree`` is laid out as the matching leaf of ``shardings``."""
    for (path, leaf), sharding in zip(
        jax.tree_util.tree_flatten_with_path(tree)[0], jax.tree_util.tree_leaves(shardings)
    ):
        assert isinstance(leaf, jax.Array), jax.tree_util.keystr(path)
        assert leaf.sharding.is_equivalent_to(sharding, leaf.ndim), (
            jax.tree_util.keystr(path),
            leaf.sharding,
            sharding,
        )


@pytest.fixture(scope="module")
def mesh8():
    return Mesh(np.array(jax.devices()[:8]), ("data",))


@pytest.fixture(scope="module")
def mesh2d():
    return Mesh(np.array(jax.devices()[:8]).reshape(4, 2), ("data", "model"))


# -- training -------------------------------------------------------------------------


def test_data_parallel_jit_equals_one_device(mesh8, reference):
    model = make_model()
    optimizer = opax.adam(1e-2)(model.parameters())
    model_sh, opt_sh = S.replicated((model, optimizer), mesh8)
    assert type(model_sh) is type(model) and type(opt_sh) is type(optimizer)
    batch_sh = NamedSharding(mesh8, P("data"))
    step = jax.jit(
        update_fn,
        in_shardings=(model_sh, opt_sh, batch_sh, batch_sh),
        out_shardings=(model_sh, opt_sh, NamedSharding(mesh8, P())),
    )
    model, optimizer = S.shard((model, optimizer), (model_sh, opt_sh))
    assert_placed((model, optimizer), (model_sh, opt_sh))
    model, optimizer, losses = train(
        step, model, optimizer, put_batch=lambda b: jax.device_put(b, batch_sh)
    )

    ref_model, ref_optimizer, ref_losses = reference
    assert_trees_close(model, ref_model)
    assert_trees_close(optimizer, ref_optimizer)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    # the BatchNorm statistics were averaged over the global batch, not per device
    assert int(optimizer.transforms[0].count) == STEPS
    assert_placed((model, optimizer), (model_sh, opt_sh))
    assert len(model.modules[0].weight.devices()) == 8


TENSOR_PARALLEL_RULES = [  # Megatron style: column-parallel, then row-parallel
    (r"\.modules\[0\]\.weight$", P(None, "model")),
    (r"\.modules\[0\]\.bias$", P("model")),
    (r"\.modules\[3\]\.weight$", P("model", None)),
]


def test_data_and_tensor_parallel_by_rules_equals_one_device(mesh2d, reference):
    model = make_model()
    optimizer = opax.adam(1e-2)(model.parameters())
    # one rule set for both: the `$`-anchored patterns also match Adam's mu and nu
    model_sh, opt_sh = S.by_rules((model, optimizer), mesh2d, TENSOR_PARALLEL_RULES)
    assert opt_sh.transforms[0].mu.modules[0].weight.spec == P(None, "model")
    assert opt_sh.transforms[0].count.spec == P()
    batch_sh = NamedSharding(mesh2d, P("data"))
    step = jax.jit(
        update_fn,
        in_shardings=(model_sh, opt_sh, batch_sh, batch_sh),
        out_shardings=(model_sh, opt_sh, NamedSharding(mesh2d, P())),
    )
    model, optimizer = S.shard((model, optimizer), (model_sh, opt_sh))
    model, optimizer, losses = train(
        step, model, optimizer, put_batch=lambda b: jax.device_put(b, batch_sh)
    )

    ref_model, ref_optimizer, ref_losses = reference
    assert_trees_close(model, ref_model)
    assert_trees_close(optimizer, ref_optimizer)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert_placed((model, optimizer), (model_sh, opt_sh))
    w0, w3 = model.modules[0].weight, model.modules[3].weight
    assert w0.sharding.spec == P(None, "model") and w3.sharding.spec == P("model", None)
    assert w0.addressable_shards[0].data.shape == (4, 8)  # columns split in 2
    assert w3.addressable_shards[0].data.shape == (8, 2)  # rows split in 2
    assert model.modules[2].scale.sharding.is_fully_replicated


def test_module_as_jit_argument_with_module_shaped_shardings(mesh8, mesh2d):
    model = make_model().eval()
    in_sh = S.replicated(model, mesh8)
    out_sh = S.by_rules(model, mesh2d, TENSOR_PARALLEL_RULES)

    @jax.jit
    def scale(m):
        return jax.tree_util.tree_map(lambda w: 2 * w, m)

    moved = jax.jit(scale, in_shardings=(in_sh,), out_shardings=out_sh)(model)
    assert type(moved) is type(model) and not moved.training  # statics survive
    assert jax.tree_util.tree_structure(moved) == jax.tree_util.tree_structure(model)
    assert_placed(moved, out_sh)
    assert_trees_close(moved, scale(model))
    # and the module-shaped tree works as a prefix for a (module, array) argument list
    fn = jax.jit(lambda m, x: m(x), in_shardings=(in_sh, NamedSharding(mesh8, P("data"))))
    out = fn(model, jnp.ones((8, 4)))
    np.testing.assert_allclose(out, model(jnp.ones((8, 4))), rtol=1e-6)


# -- the rule-based helper --------------------------------------------------------------


def test_by_rules_first_match_wins_and_default(mesh2d):
    model = make_model()
    rules = [
        (r"\.modules\[2\]\.", P()),  # BatchNorm: replicated
        (r"\.modules\[0\]\.weight$", P("data", "model")),
        (r"weight$", (None, "model")),  # a tuple is a PartitionSpec
        (re.compile(r"\.modules\[3\]\.bias$"), None),  # None: replicated
    ]
    shardings = S.by_rules(model, mesh2d, rules, default=P("model"))
    assert shardings.modules[0].weight.spec == P("data", "model")
    assert shardings.modules[3].weight.spec == P(None, "model")
    assert shardings.modules[3].bias.spec == P()
    assert shardings.modules[0].bias.spec == P("model")  # default
    assert all(s.mesh is mesh2d for s in jax.tree_util.tree_leaves(shardings))
    # a dict of rules is taken in insertion order
    as_dict = S.by_rules(model, mesh2d, dict(rules[:3]), default=P("model"))
    assert as_dict.modules[0].weight == shardings.modules[0].weight
    # an abstract model gives the same tree as the concrete one
    abstract = eval_shape(make_model)
    from_abstract = S.by_rules(abstract, mesh2d, rules, default=P("model"))
    assert jax.tree_util.tree_structure(from_abstract) == jax.tree_util.tree_structure(shardings)
    assert jax.tree_util.tree_leaves(from_abstract) == jax.tree_util.tree_leaves(shardings)


def test_shard_places_each_leaf_as_asked(mesh2d):
    model = make_model()
    shardings = S.by_rules(model, mesh2d, TENSOR_PARALLEL_RULES)
    placed = S.shard(model, shardings)
    assert_placed(placed, shardings)
    assert_trees_close(placed, model, rtol=0, atol=0)
    assert placed.modules[0].weight.sharding.spec == P(None, "model")
    assert model.modules[0].weight.sharding.is_fully_addressable  # the original is unchanged
    assert len(model.modules[0].weight.devices()) == 1
    one = NamedSharding(mesh2d, P())
    assert all(x.sharding == one for x in jax.tree_util.tree_leaves(S.shard(model, one)))


@pytest.mark.parametrize(
    "rules, match",
    [
        (
            [(r"\.modules\[3\]\.bias$", P(None, "model"))],
            r"`\.modules\[3\]\.bias` has shape \(2,\) \(rank 1\) but its "
            r"PartitionSpec\(None, 'model'\) has 2 entries",
        ),
        (
            [(r"nothing matches this", P("modle"))],
            r"Sharding rule 0 \('nothing matches this'\): PartitionSpec\('modle'\) names the "
            r"mesh axis 'modle', but the mesh has the axes \('data', 'model'\)",
        ),
        (
            [(r"\.modules\[3\]\.weight$", P(None, "data"))],
            r"`\.modules\[3\]\.weight` has shape \(16, 2\): dimension 1 \(2\) is split over "
            r"mesh axis 'data' of size 4, and 2 is not divisible by 4",
        ),
        ([(r"weight$", P("data", "data"))], r"uses the mesh axis 'data' for two dimensions"),
        ([(r"weight[", P())], r"Sharding rule 0: 'weight\[' is not a valid regular expression"),
    ],
)
def test_by_rules_errors(mesh2d, rules, match):
    model = make_model()
    before = jax.tree_util.tree_leaves(model)
    with pytest.raises(ValueError, match=match):
        S.by_rules(model, mesh2d, rules)
    assert all(a is b for a, b in zip(before, jax.tree_util.tree_leaves(model)))


def test_by_rules_error_on_indivisible_product_of_axes():
    mesh = Mesh(np.array(jax.devices()[:6]).reshape(3, 2), ("data", "model"))
    with pytest.raises(ValueError, match=r"mesh axes \('data', 'model'\) of size 6"):
        S.by_rules(make_model(), mesh, [(r"\.modules\[0\]\.weight$", P(None, ("data", "model")))])


@pytest.mark.parametrize(
    "rules, error, match",
    [
        ("weight", TypeError, r"a sequence of \(pattern, PartitionSpec\) pairs(?s:.*)got str"),
        ([("weight",)], TypeError, r"rule 0 is \('weight',\)"),
        ([(3, P())], TypeError, r"the pattern of rule 0 is a int"),
        ([("weight", "data")], TypeError, r"expected a jax.sharding.PartitionSpec"),
    ],
)
def test_by_rules_bad_rules(mesh8, rules, error, match):
    with pytest.raises(error, match=match):
        S.by_rules(make_model(), mesh8, rules)


def test_bad_mesh_and_bad_trees(mesh8):
    model = make_model()
    with pytest.raises(TypeError, match=r"expects a jax.sharding.Mesh, got list"):
        S.replicated(model, jax.devices())
    with pytest.raises(TypeError, match=r"`\[1\]` is a str, not an array"):
        S.by_rules([jnp.ones(2), "text"], mesh8, [])
    with pytest.raises(ValueError, match=r"`shardings` does not have the structure of `tree`"):
        S.shard(model, S.replicated(pax.Linear(2, 2), mesh8))
    with pytest.raises(TypeError, match=r"abstract leaf \(jax.ShapeDtypeStruct\)"):
        S.shard(eval_shape(make_model), S.replicated(model, mesh8))
