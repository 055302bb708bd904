"""Trainable parameters: ``parameters_method``, ParameterModule/StateModule, EmptyNode and
the functions built on them (SPEC §1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax


def is_empty(x):
    return isinstance(x, pax.EmptyNode)


def trainable_paths(module):
    """Key paths of the leaves of ``module.parameters()`` that are not EmptyNode."""
    flat, _ = jax.tree_util.tree_flatten_with_path(module.parameters(), is_leaf=is_empty)
    return [jax.tree_util.keystr(p) for p, x in flat if not is_empty(x)]


def empty_paths(module):
    flat, _ = jax.tree_util.tree_flatten_with_path(module.parameters(), is_leaf=is_empty)
    return [jax.tree_util.keystr(p) for p, x in flat if is_empty(x)]


class WeightOnly(pax.Module):
    """The seed's example."""

    parameters = pax.parameters_method("weight")

    def __init__(self):
        self.weight = jnp.array(1.0)


class Scaled(pax.Module):
    parameters = pax.parameters_method("w b")  # several names in one string

    def __init__(self):
        super().__init__()
        self.w = jnp.ones(2)
        self.b = jnp.zeros(2)
        self.running = jnp.zeros(2)
        self.fc = pax.Linear(2, 2)


class NoSubmodules(pax.Module):
    parameters = pax.parameters_method("w", submodules=False)

    def __init__(self):
        super().__init__()
        self.w = jnp.ones(1)
        self.fc = pax.Linear(1, 1)


class Plain(pax.Module):
    def __init__(self):
        super().__init__()
        self.w = jnp.ones(1)
        self.fc = pax.Linear(1, 1)


class HandWritten(pax.Module):
    """A ``parameters`` method written by hand instead of ``parameters_method``."""

    def __init__(self):
        super().__init__()
        self.w = jnp.ones(2)
        self.s = jnp.zeros(2)

    def parameters(self):
        return self.replace(s=pax.EmptyNode())


class AllTrainable(pax.ParameterModule):
    def __init__(self):
        super().__init__()
        self.w = jnp.ones(2)
        self.ws = [jnp.ones(1), jnp.zeros(1)]
        self.bn = pax.BatchNorm1D(2)


class AllState(pax.StateModule):
    def __init__(self):
        super().__init__()
        self.count = jnp.zeros((), jnp.int32)
        self.fc = pax.Linear(1, 1)


# -- which leaves are trainable ------------------------------------------------------------


def test_seed_example_module_equals_its_parameters():
    fc = WeightOnly()
    assert fc == fc.parameters()


TRAINABLE = [
    ("linear", lambda: pax.Linear(2, 3), [".weight", ".bias"], []),
    (
        "batch_norm",
        lambda: pax.BatchNorm1D(2),
        [".scale", ".offset"],
        [".ema_mean.averages", ".ema_mean.debias", ".ema_var.averages", ".ema_var.debias"],
    ),
    ("names_in_one_string", Scaled, [".w", ".b", ".fc.weight", ".fc.bias"], [".running"]),
    ("submodules_false", NoSubmodules, [".w"], [".fc.weight", ".fc.bias"]),
    ("plain_module", Plain, [".fc.weight", ".fc.bias"], [".w"]),
    (
        "parameter_module",
        AllTrainable,
        [".w", ".ws[0]", ".ws[1]", ".bn.scale", ".bn.offset"],
        [
            ".bn.ema_mean.averages",
            ".bn.ema_mean.debias",
            ".bn.ema_var.averages",
            ".bn.ema_var.debias",
        ],
    ),
    ("state_module", AllState, [".fc.weight", ".fc.bias"], [".count"]),
    ("hand_written", HandWritten, [".w"], [".s"]),
    (
        "sequential",
        lambda: pax.Sequential(pax.Linear(1, 1), jax.nn.relu, pax.BatchNorm1D(1)),
        [".modules[0].weight", ".modules[0].bias", ".modules[2].scale", ".modules[2].offset"],
        [
            ".modules[2].ema_mean.averages",
            ".modules[2].ema_mean.debias",
            ".modules[2].ema_var.averages",
            ".modules[2].ema_var.debias",
        ],
    ),
]


@pytest.mark.parametrize(
    "make, trainable, empty", [c[1:] for c in TRAINABLE], ids=[c[0] for c in TRAINABLE]
)
def test_parameters_keeps_trainable_leaves_and_empties_the_rest(make, trainable, empty):
    m = make()
    assert trainable_paths(m) == trainable
    assert empty_paths(m) == empty
    params = m.parameters()
    assert type(params) is type(m)
    # same structure once EmptyNode counts as a leaf
    assert jax.tree_util.tree_structure(params, is_leaf=is_empty) == jax.tree_util.tree_structure(m)
    # the kept leaves are the module's own arrays, not copies
    kept = jax.tree_util.tree_leaves(params)
    assert all(any(k is x for x in jax.tree_util.tree_leaves(m)) for k in kept)


@pytest.mark.parametrize("make", [c[1] for c in TRAINABLE], ids=[c[0] for c in TRAINABLE])
def test_parameters_of_an_abstract_module_from_eval_shape(make):
    abstract = jax.eval_shape(make)
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree_util.tree_leaves(abstract))
    assert jax.tree_util.tree_structure(abstract.parameters()) == jax.tree_util.tree_structure(
        make().parameters()
    )


def test_parameters_of_parameters_is_stable():
    bn = pax.BatchNorm1D(3)
    p = bn.parameters()
    assert p.parameters() == p
    assert pax.select_parameters(p) == p


def test_parameters_method_errors():
    with pytest.raises(TypeError, match="takes attribute names"):
        pax.parameters_method(3)

    class Typo(pax.Module):
        parameters = pax.parameters_method("wieght")

        def __init__(self):
            super().__init__()
            self.weight = jnp.ones(1)

    with pytest.raises(
        ValueError, match=r"names attribute\(s\) \['wieght'\].*Set them in `__init__`"
    ):
        Typo().parameters()


def test_optional_weight_set_to_none_is_allowed():
    fc = pax.Linear(2, 2, with_bias=False)
    assert fc.bias is None
    assert trainable_paths(fc) == [".weight"]


# -- EmptyNode -----------------------------------------------------------------------------------


def test_empty_node_is_a_pytree_without_leaves():
    e = pax.EmptyNode()
    assert jax.tree_util.tree_leaves([e, 1.0, {"a": e}]) == [1.0]
    assert e == pax.EmptyNode() and hash(e) == hash(pax.EmptyNode())
    assert e != 0
    out = jax.tree_util.tree_map(lambda x: x + 1, pax.BatchNorm1D(2).parameters())
    assert isinstance(out.ema_mean.averages, pax.EmptyNode)
    assert isinstance(out.ema_mean.debias, pax.EmptyNode)
    np.testing.assert_array_equal(out.scale, [[[2.0, 2.0]]])


def test_empty_nodes_pass_through_jit():
    params = pax.BatchNorm1D(2).parameters()
    out = jax.jit(lambda p: p)(params)
    assert isinstance(out.ema_var.averages, pax.EmptyNode)
    assert isinstance(out.ema_var.debias, pax.EmptyNode)
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(params)


# -- select / update ----------------------------------------------------------------------------


def test_select_parameters_is_parameters():
    net = pax.Sequential(pax.Linear(2, 2), pax.BatchNorm1D(2))
    assert pax.select_parameters(net) == net.parameters()


def test_update_parameters_takes_trainable_leaves_only():
    net = pax.Sequential(pax.Linear(2, 2), pax.BatchNorm1D(2))
    net_state, _ = pax.purecall(net, jnp.arange(6.0).reshape(3, 2))
    other = pax.Sequential(pax.Linear(2, 2), pax.BatchNorm1D(2))
    other_state, _ = pax.purecall(other, jnp.ones((3, 2)))

    for updated in (
        pax.update_parameters(net_state, params=other_state.parameters()),
        net_state.update_parameters(other_state),  # a full module works too
    ):
        assert updated[0].weight is other[0].weight
        assert updated[1].scale is other[1].scale
        assert updated[1].ema_mean.averages is net_state[1].ema_mean.averages  # state stays
        assert updated[1].ema_var.averages is net_state[1].ema_var.averages
        assert updated[1].ema_mean.debias is net_state[1].ema_mean.debias


def test_update_parameters_with_arithmetic_on_parameters():
    fc = pax.Linear(2, 2)
    grads = fc.parameters().map(jnp.ones_like)
    new_params = jax.tree_util.tree_map(lambda p, g: p - 0.5 * g, fc.parameters(), grads)
    new = fc.update_parameters(new_params)
    np.testing.assert_allclose(new.weight, np.asarray(fc.weight) - 0.5, rtol=1e-6)
    np.testing.assert_allclose(new.bias, np.asarray(fc.bias) - 0.5, rtol=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        lambda: pax.Linear(2, 3).parameters(),
        lambda: pax.Linear(2, 2, with_bias=False).parameters(),
        lambda: pax.Linear(2, 2).eval().parameters(),
    ],
    ids=["shape", "missing_bias", "static_mode"],
)
def test_update_parameters_structure_mismatch_raises(params):
    fc = pax.Linear(2, 2)
    with pytest.raises(ValueError, match="Cannot merge modules of different structures") as info:
        pax.update_parameters(fc, params=params())
    assert "--- first" in str(info.value)  # with the readable diff


# -- freeze / unfreeze ---------------------------------------------------------------------


FREEZABLE = [
    ("linear", lambda: pax.Linear(2, 2)),
    ("custom_parameters", Scaled),
    ("hand_written_parameters", HandWritten),
    ("parameter_module", AllTrainable),
    ("sequential", lambda: pax.Sequential(pax.Linear(2, 2), jax.nn.relu, pax.BatchNorm1D(2))),
]


@pytest.mark.parametrize("make", [c[1] for c in FREEZABLE], ids=[c[0] for c in FREEZABLE])
def test_freeze_and_unfreeze(make):
    m = make()
    frozen = pax.freeze_parameters(m)
    assert jax.tree_util.tree_leaves(frozen.parameters()) == []
    assert all(jax.tree_util.tree_leaves(s.parameters()) == [] for s in frozen.submodules())
    # the arrays themselves are untouched
    assert all(
        a is b
        for a, b in zip(
            jax.tree_util.tree_leaves(frozen), jax.tree_util.tree_leaves(m), strict=True
        )
    )
    assert jax.tree_util.tree_leaves(m.parameters()) != []  # the original is still trainable
    grads = pax.grad(lambda mod: sum(jnp.sum(x) for x in jax.tree_util.tree_leaves(mod)))(frozen)
    assert jax.tree_util.tree_leaves(grads) == []

    unfrozen = pax.unfreeze_parameters(frozen, origin=m)
    assert unfrozen == m
    assert trainable_paths(unfrozen) == trainable_paths(m)


def test_unfreeze_keeps_changes_made_while_frozen():
    bn = pax.BatchNorm1D(2)
    frozen = pax.freeze_parameters(bn)
    frozen, _ = pax.purecall(frozen, jnp.ones((4, 2)))
    unfrozen = pax.unfreeze_parameters(frozen, origin=bn)
    assert float(unfrozen.ema_mean.debias) == pytest.approx(1 - 0.9)  # one update
    assert float(unfrozen.ema_var.debias) == pytest.approx(1 - 0.9)
    np.testing.assert_allclose(unfrozen.ema_mean.averages, np.ones((1, 1, 2)), rtol=1e-6)
    assert trainable_paths(unfrozen) == [".scale", ".offset"]


def test_a_frozen_submodule_is_not_trained():
    import opax

    net = pax.Sequential(pax.Linear(2, 2), pax.Linear(2, 2))
    partly = net.replace(modules=(pax.freeze_parameters(net[0]), net[1]))
    assert trainable_paths(partly) == [".modules[1].weight", ".modules[1].bias"]

    def loss_fn(model, x):
        loss = jnp.sum(model(x) ** 2)
        return loss, (loss, model)

    optimizer = opax.adam(1e-1)(partly.parameters())
    trained, _, _ = pax.build_update_fn(loss_fn)(partly, optimizer, jnp.ones((3, 2)))
    assert trained[0].weight is net[0].weight and trained[0].bias is net[0].bias
    assert not np.any(np.asarray(trained[1].weight) == np.asarray(net[1].weight))


def test_unfreeze_with_a_wrong_origin_raises():
    frozen = pax.freeze_parameters(pax.Linear(2, 2))
    with pytest.raises(ValueError, match="`origin` has 1 leaves but the module has 2"):
        pax.unfreeze_parameters(frozen, origin=pax.Linear(2, 2, with_bias=False))


# -- modes -----------------------------------------------------------------------------------


def test_enable_train_and_eval_mode():
    net = pax.Sequential(pax.Linear(2, 2), pax.BatchNorm1D(2))
    ev = pax.enable_eval_mode(net)
    assert ev == net.eval()
    assert not ev.training and not ev[1].training
    tr = pax.enable_train_mode(ev)
    assert tr.training and tr[1].training
    assert tr == net.train()
    assert net.training  # the original is unchanged


# -- assert_structure_equal --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: pax.Linear(2, 2),
        lambda: pax.Sequential(pax.Linear(1, 1), jax.nn.relu),
        lambda: {"a": [1.0, 2.0]},
    ],
)
def test_assert_structure_equal_true_on_equal(make):
    assert pax.assert_structure_equal(make(), make()) is True


@pytest.mark.parametrize(
    "a, b, lines",
    [
        (
            lambda: pax.Linear(2, 2),
            lambda: pax.Linear(2, 2, with_bias=False),
            ["-.bias: leaf", "+<root>: Linear(", "with_bias=False"],
        ),
        (
            lambda: pax.Linear(2, 2),
            lambda: pax.Linear(2, 3),
            [
                "-<root>: Linear(_name=None, _training=True, in_dim=2, out_dim=2, "
                "with_bias=True, param_dtype=dtype('float32'))",
                "+<root>: Linear(_name=None, _training=True, in_dim=2, out_dim=3, "
                "with_bias=True, param_dtype=dtype('float32'))",
            ],
        ),
        (
            lambda: pax.Sequential(pax.Linear(1, 1)),
            lambda: pax.Sequential(pax.Linear(1, 1), pax.Linear(1, 1)),
            ["+.modules[1]: Linear(", "+.modules[1].weight: leaf"],
        ),
    ],
    ids=["missing_leaf", "static_value", "extra_module"],
)
def test_assert_structure_equal_raises_with_a_readable_diff(a, b, lines):
    with pytest.raises(ValueError, match="The two pytrees have different structures") as info:
        pax.assert_structure_equal(a(), b())
    message = str(info.value)
    assert "--- first" in message and "+++ second" in message
    for line in lines:
        assert line in message, message


class Tag:
    """A static value without ``__eq__``: two instances never compare equal."""

    def __repr__(self):
        return "Tag()"


class Tagged(pax.Module):
    def __init__(self):
        super().__init__()
        self.tag = Tag()
        self.w = jnp.ones(1)


def test_assert_structure_equal_explains_a_mismatch_that_prints_the_same():
    with pytest.raises(
        ValueError, match=r"(?s)different structures.*print the same.*first: .*second: "
    ):
        pax.assert_structure_equal(Tagged(), Tagged())


def test_parameters_are_what_jax_grad_differentiates():
    bn = pax.BatchNorm1D(2)
    x = jnp.array([[1.0, 2.0], [3.0, 5.0]])

    def loss(m):
        _, y = pax.purecall(m, x)
        return jnp.sum(y * jnp.array([1.0, 2.0]))

    grads = pax.grad(loss)(bn)
    assert trainable_paths(grads) == [".scale", ".offset"]
    # d/d offset of sum(y * c) is c * batch; d/d scale is sum over batch of normalized x * c
    np.testing.assert_allclose(grads.offset.reshape(2), [2.0, 4.0], rtol=1e-6)
    xn = (np.asarray(x) - np.asarray(x).mean(0)) / np.sqrt(np.asarray(x).var(0) + 1e-5)
    tree_allclose(grads.scale.reshape(2), (xn * np.array([1.0, 2.0])).sum(0), atol=1e-5)
