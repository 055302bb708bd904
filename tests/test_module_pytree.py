"""``pax.Module`` as a JAX pytree (SPEC §1) and the methods every module has.

References are plain JAX/numpy computations on the same weights.
"""

import copy
import pickle
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax

GetAttrKey = jax.tree_util.GetAttrKey


# -- modules used below -------------------------------------------------------------


class MLP(pax.Module):
    """A mixed list: modules and a plain function side by side."""

    def __init__(self, dims=(3, 4, 2)):
        super().__init__()
        self.layers = [pax.Linear(dims[0], dims[1]), jax.nn.relu, pax.Linear(dims[1], dims[2])]

    def __call__(self, x):
        for f in self.layers:
            x = f(x)
        return x


def mlp_reference(net: MLP, x):
    """The same computation written against the raw weights."""
    fc1, _, fc2 = net.layers
    h = jnp.maximum(x @ fc1.weight + fc1.bias, 0.0)
    return h @ fc2.weight + fc2.bias


class Counter(pax.Module):
    def __init__(self):
        super().__init__()
        self.count = jnp.array(0)
        self.total = jnp.zeros(())

    def __call__(self, x, scale=1.0):
        self.count = self.count + 1
        self.total = self.total + x * scale
        return self.total


class Pair(NamedTuple):
    h: jax.Array
    c: jax.Array


class Holder(pax.Module):
    """Stores whatever it is given, in the given attribute order."""

    def __init__(self, **attributes):
        super().__init__()
        for name, value in attributes.items():
            setattr(self, name, value)


class NoCall(pax.Module):
    def __init__(self):
        super().__init__()
        self.w = jnp.ones(2)


def leaves_identical(a, b) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(x is y for x, y in zip(la, lb, strict=True))


# -- registration with keys ------------------------------------------------------------


def test_flatten_with_path_names_attributes():
    fc = pax.Linear(2, 3)
    paths_and_leaves, _ = jax.tree_util.tree_flatten_with_path(fc)
    assert [p for p, _ in paths_and_leaves] == [(GetAttrKey("weight"),), (GetAttrKey("bias"),)]
    assert paths_and_leaves[0][1] is fc.weight
    assert paths_and_leaves[1][1] is fc.bias


def test_paths_through_containers_and_submodules():
    m = Holder(
        d={"b": jnp.ones(1), "a": jnp.ones(1)},
        t=(jnp.ones(1),),
        s=Pair(jnp.ones(1), jnp.ones(1)),
        fc=pax.Linear(1, 1),
        mixed=[pax.Linear(1, 1), jax.nn.relu],
    )
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(m)[0]]
    assert paths == [
        ".d['a']",
        ".d['b']",
        ".t[0]",
        ".s.h",
        ".s.c",
        ".fc.weight",
        ".fc.bias",
        ".mixed[0].weight",
        ".mixed[0].bias",
    ]


def test_attribute_order_is_assignment_order_and_stable():
    m = Holder(z=jnp.zeros(1), a=jnp.ones(1), m=jnp.full(1, 2.0))
    expected = [GetAttrKey("z"), GetAttrKey("a"), GetAttrKey("m")]
    assert [p[0] for p, _ in jax.tree_util.tree_flatten_with_path(m)[0]] == expected

    @pax.pure
    def reassign(mod):
        mod.a = jnp.full(1, 5.0)  # rebinding keeps the attribute's place
        return mod

    m2 = reassign(m)
    assert [p[0] for p, _ in jax.tree_util.tree_flatten_with_path(m2)[0]] == expected
    assert jax.tree_util.tree_structure(m2) == jax.tree_util.tree_structure(m)
    np.testing.assert_array_equal(jax.tree_util.tree_leaves(m2)[1], [5.0])


EQUAL_STRUCTURE_CASES = [
    ("linear", lambda: pax.Linear(2, 3)),
    ("linear_no_bias", lambda: pax.Linear(2, 3, with_bias=False)),
    ("named", lambda: pax.Linear(2, 3, name="fc")),
    ("sequential", lambda: pax.Sequential(pax.Linear(2, 3), jax.nn.relu, pax.Linear(3, 1))),
    ("mixed_list", MLP),
    ("batch_norm", lambda: pax.BatchNorm1D(3)),
    ("counter", Counter),
]


@pytest.mark.parametrize(
    "make", [c[1] for c in EQUAL_STRUCTURE_CASES], ids=[c[0] for c in EQUAL_STRUCTURE_CASES]
)
def test_equal_structure_gives_equal_treedefs(make):
    a, b = make(), make()
    ta, tb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    assert ta == tb
    assert hash(ta) == hash(tb)


@pytest.mark.parametrize(
    "make_a, make_b",
    [
        (lambda: pax.Linear(2, 3), lambda: pax.Linear(2, 4)),
        (lambda: pax.Linear(2, 3), lambda: pax.Linear(2, 3, with_bias=False)),
        (lambda: pax.Linear(2, 3), lambda: pax.Linear(2, 3, name="fc")),
        (lambda: pax.Linear(2, 3), lambda: pax.Linear(2, 3).eval()),
        (lambda: Holder(k=1, w=jnp.ones(1)), lambda: Holder(k=2, w=jnp.ones(1))),
        (
            lambda: Holder(a=jnp.ones(1), b=jnp.ones(1)),
            lambda: Holder(b=jnp.ones(1), a=jnp.ones(1)),
        ),
    ],
    ids=["out_dim", "bias", "name", "mode", "static_value", "order"],
)
def test_different_structure_gives_different_treedefs(make_a, make_b):
    assert jax.tree_util.tree_structure(make_a()) != jax.tree_util.tree_structure(make_b())


def _identity(x):
    return x


# (value, is a child): children contribute leaves; static values live in the treedef.
CLASSIFICATION = [
    ("jax_array", jnp.ones(2), True),
    ("numpy_array", np.ones(2, np.float32), True),
    ("module", pax.Linear(1, 1), True),
    ("list_of_arrays", [jnp.ones(1), jnp.ones(2)], True),
    ("dict_of_arrays", {"a": jnp.ones(1)}, True),
    ("tuple_of_modules", (pax.Linear(1, 1), pax.Linear(1, 1)), True),
    ("namedtuple", Pair(jnp.ones(1), jnp.zeros(1)), True),
    ("mixed_list", [pax.Linear(1, 1), jax.nn.relu], True),
    ("int", 3, False),
    ("float", 0.5, False),
    ("str", "tanh", False),
    ("function", _identity, False),
    ("jax_function", jax.nn.relu, False),
    ("none", None, False),
    ("tuple_of_ints", (1, 2), False),
    ("list_of_strings", ["a", "b"], False),
]


@pytest.mark.parametrize(
    "value, is_child", [c[1:] for c in CLASSIFICATION], ids=[c[0] for c in CLASSIFICATION]
)
def test_children_and_static_classification(value, is_child):
    m = Holder(value=value)
    leaves, treedef = jax.tree_util.tree_flatten(m)
    if is_child:
        assert len(leaves) > 0
        assert all(isinstance(x, (jax.Array, np.ndarray)) for x in leaves)
    else:
        assert leaves == []
        # static data survives a round trip through the treedef unchanged
        rebuilt = jax.tree_util.tree_unflatten(treedef, [])
        assert rebuilt.value is value or rebuilt.value == value


def test_static_values_are_part_of_the_treedef():
    # a jitted function is retraced when a static attribute changes
    traces = []

    @jax.jit
    def f(m):
        traces.append(m.k)
        return m.w * m.k

    np.testing.assert_allclose(f(Holder(k=2, w=jnp.ones(2))), [2.0, 2.0])
    np.testing.assert_allclose(f(Holder(k=2, w=jnp.zeros(2))), [0.0, 0.0])
    np.testing.assert_allclose(f(Holder(k=3, w=jnp.ones(2))), [3.0, 3.0])
    assert traces == [2, 3]


# -- JAX transforms over whole modules ---------------------------------------------------


def test_mixed_list_module_through_jit():
    net = MLP()
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    y = jax.jit(lambda m, x: m(x))(net, x)
    np.testing.assert_allclose(y, mlp_reference(net, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, net(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [MLP, lambda: pax.Sequential(pax.Linear(2, 2), jax.nn.tanh)])
def test_jit_returns_a_new_equal_valued_module(make):
    net = make()
    out = jax.jit(lambda m: m)(net)
    assert out is not net
    assert type(out) is type(net)
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(net)
    tree_allclose(out, net, rtol=0, atol=0)


def test_vmap_over_modules_equals_a_loop():
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    nets = jax.vmap(lambda k: pax.Linear(3, 2, rng_key=k))(keys)
    assert isinstance(nets, pax.Linear)
    assert nets.weight.shape == (4, 3, 2) and nets.bias.shape == (4, 2)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 5, 3))
    y = jax.vmap(lambda m, x: m(x))(nets, x)
    for i in range(4):
        single = pax.Linear(3, 2, rng_key=keys[i])
        np.testing.assert_allclose(y[i], single(x[i]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y[i], x[i] @ nets.weight[i] + nets.bias[i], rtol=1e-5, atol=1e-6)
    # a vmapped function that returns modules returns a new, stacked module
    shifted = jax.vmap(lambda m: m.replace(bias=m.bias + 1.0))(nets)
    assert type(shifted) is pax.Linear and shifted is not nets
    np.testing.assert_allclose(shifted.bias, np.asarray(nets.bias) + 1.0)


def test_jax_grad_over_a_whole_module_returns_a_module():
    net = MLP()
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3))

    grads = jax.grad(lambda m: jnp.sum(m(x) ** 2))(net)
    assert type(grads) is MLP
    assert grads.layers[1] is jax.nn.relu

    def plain(w1, b1, w2, b2):
        h = jnp.maximum(x @ w1 + b1, 0.0)
        return jnp.sum((h @ w2 + b2) ** 2)

    fc1, _, fc2 = net.layers
    expected = jax.grad(plain, argnums=(0, 1, 2, 3))(fc1.weight, fc1.bias, fc2.weight, fc2.bias)
    got = (
        grads.layers[0].weight,
        grads.layers[0].bias,
        grads.layers[2].weight,
        grads.layers[2].bias,
    )
    tree_allclose(got, expected)


def test_lax_scan_with_a_module_as_carry():
    xs = jnp.arange(1.0, 6.0)

    def body(counter, x):
        counter, total = pax.purecall(counter, x, scale=2.0)
        return counter, total

    counter, totals = jax.lax.scan(body, Counter(), xs)
    assert isinstance(counter, Counter)
    assert int(counter.count) == 5
    np.testing.assert_allclose(totals, np.cumsum(2.0 * np.arange(1.0, 6.0)))
    np.testing.assert_allclose(counter.total, 30.0)


# -- copy, ==, hash ---------------------------------------------------------------------


def test_copy_is_a_new_object_with_the_same_leaves():
    net = MLP()
    c = net.copy()
    assert c is not net
    assert c == net
    assert leaves_identical(c, net)
    assert c.layers is not net.layers  # containers are rebuilt, not shared
    assert jax.tree_util.tree_structure(c) == jax.tree_util.tree_structure(net)


def test_eq_means_same_structure_and_identical_leaves():
    net = pax.Linear(2, 2)
    assert net == net
    assert net == net.copy()
    same_values = jax.tree_util.tree_map(lambda x: x + 0.0, net)
    tree_allclose(same_values, net, rtol=0, atol=0)
    assert net != same_values  # equal values, but other array objects
    assert net != pax.Linear(2, 2)
    assert net != net.eval()  # different static data
    assert net != pax.Linear(2, 3)
    assert net != "Linear"
    assert (net == 1) is False


def test_hash_is_consistent_with_eq_and_usable_as_a_key():
    net = MLP()
    assert hash(net) == hash(net.copy())
    table = {net: "net"}
    assert table[net.copy()] == "net"
    # an unhashable static value (a list) still hashes
    m = Holder(sizes=[1, 2], w=jnp.ones(1))
    assert isinstance(hash(m), int)
    assert hash(m) == hash(m.copy())


# -- |, ~, % ------------------------------------------------------------------------------


def test_or_merges_non_empty_leaves_of_the_right_operand():
    bn = pax.BatchNorm1D(3)
    bn_state, _ = pax.purecall(bn, jnp.arange(6.0).reshape(2, 3))
    params = bn.parameters().map(lambda x: x + 1.0)  # only scale/offset, rest EmptyNode

    merged = bn_state | params
    np.testing.assert_allclose(merged.scale, np.full((1, 1, 3), 2.0))
    np.testing.assert_allclose(merged.offset, np.full((1, 1, 3), 1.0))
    # EmptyNode in `params` did not win
    assert merged.ema_mean.averages is bn_state.ema_mean.averages
    assert merged.ema_var.debias is bn_state.ema_var.debias
    assert (bn | bn_state) == bn_state
    assert (bn_state | bn) == bn


def test_or_raises_on_different_structures():
    with pytest.raises(ValueError, match="different structures"):
        pax.Linear(2, 2) | pax.Linear(2, 3)


def test_invert_is_parameters():
    bn = pax.BatchNorm1D(2)
    assert ~bn == bn.parameters()
    assert isinstance((~bn).ema_mean.averages, pax.EmptyNode)
    assert isinstance((~bn).ema_var.debias, pax.EmptyNode)


def test_mod_calls_purely_and_spreads_a_tuple():
    counter = Counter()
    counter2, out = counter % (jnp.array(3.0), 2.0)
    np.testing.assert_allclose(out, 6.0)
    assert int(counter2.count) == 1 and int(counter.count) == 0
    counter3, out = counter2 % jnp.array(1.0)
    np.testing.assert_allclose(out, 7.0)
    assert int(counter3.count) == 2


def test_mod_without_call_raises_type_error():
    with pytest.raises(TypeError, match="has no `__call__`"):
        NoCall() % 1.0


# -- replace, replace_node, set_attribute ---------------------------------------------


def test_replace_returns_a_copy_and_keeps_the_original():
    fc = pax.Linear(2, 2)
    old_bias = fc.bias
    new = fc.replace(bias=jnp.ones(2))
    np.testing.assert_array_equal(new.bias, [1.0, 1.0])
    assert new.weight is fc.weight
    assert fc.bias is old_bias
    with pytest.raises(ValueError, match=r"no attribute\(s\) \['bisa'\].*set_attribute"):
        fc.replace(bisa=jnp.ones(2))


def test_replace_node_finds_a_leaf_by_identity():
    net = pax.Sequential(pax.Linear(2, 2), pax.Linear(2, 2))
    target = net[1].weight
    new = net.replace_node(target, jnp.zeros((2, 5)))
    assert new[1].weight.shape == (2, 5)
    assert new[0].weight is net[0].weight
    assert net[1].weight is target
    with pytest.raises(ValueError, match="appear exactly once.*appears 0 times"):
        net.replace_node(jnp.zeros(1), 1.0)


def test_replace_node_can_replace_a_submodule():
    net = pax.Sequential(pax.Linear(2, 2), jax.nn.relu, pax.Linear(2, 2))
    new = net.replace_node(net[2], pax.Linear(2, 5))
    assert new[2].out_dim == 5 and new[0] is not net[0] and new[0] == net[0]
    assert net[2].out_dim == 2
    x = jnp.ones((1, 2))
    np.testing.assert_allclose(
        new(x), jnp.maximum(net[0](x), 0) @ new[2].weight + new[2].bias, rtol=1e-6
    )


def test_set_attribute_adds_a_classified_attribute():
    fc = pax.Linear(2, 2)
    tagged = fc.set_attribute("tag", "v1")
    assert tagged.tag == "v1" and not hasattr(fc, "tag")
    assert len(jax.tree_util.tree_leaves(tagged)) == 2  # static: no new leaf
    with_state = fc.set_attribute("extra", jnp.zeros(3))
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(with_state)[0]]
    assert paths[-1] == (GetAttrKey("extra"),)


# -- apply, apply_submodules, submodules ----------------------------------------------


def test_apply_visits_submodules_bottom_up_then_the_module():
    net = pax.Sequential(pax.Linear(1, 1), jax.nn.relu, pax.Sequential(pax.Linear(1, 1)))
    seen = []
    out = net.apply(lambda m: seen.append(type(m).__name__) or m)
    assert seen == ["Linear", "Lambda", "Linear", "Sequential", "Sequential"]
    assert out == net


def test_apply_and_apply_submodules_transform_modules():
    net = pax.Sequential(pax.Linear(2, 2), pax.Linear(2, 2))

    def zero_linear(m):
        return m.map(jnp.zeros_like) if isinstance(m, pax.Linear) else m

    zeroed = net.apply(zero_linear)
    assert all(float(jnp.abs(x).sum()) == 0.0 for x in jax.tree_util.tree_leaves(zeroed))
    assert net[0].weight is not zeroed[0].weight

    names = []

    def record(m):
        names.append(type(m).__name__)
        return m

    net.apply_submodules(record)
    assert names == ["Linear", "Linear"]  # not the Sequential itself


def test_submodules_are_the_direct_children_in_order():
    inner = pax.Sequential(pax.Linear(1, 1))
    fc = pax.Linear(1, 2)
    m = Holder(w=jnp.ones(1), layers=[inner, jax.nn.relu], d={"fc": fc}, k=3)
    subs = m.submodules()
    assert subs == [inner, fc]
    assert subs[0] is inner and subs[1] is fc
    assert pax.Linear(1, 1).submodules() == []


# -- summary --------------------------------------------------------------------------


def test_summary_box_drawing_exact():
    net = pax.Sequential(
        pax.Linear(2, 3),
        jax.nn.relu,
        pax.Sequential(pax.Linear(3, 3, name="mid"), pax.Linear(3, 3)),
        pax.Linear(3, 4),
    )
    expected = "\n".join(
        [
            "Sequential",
            "├── Linear(in_dim=2, out_dim=3, with_bias=True)",
            "├── x => relu(x)",
            "├── Sequential",
            "│   ├── (mid) Linear(in_dim=3, out_dim=3, with_bias=True)",
            "│   └── Linear(in_dim=3, out_dim=3, with_bias=True)",
            "└── Linear(in_dim=3, out_dim=4, with_bias=True)",
        ]
    )
    assert net.summary() == expected
    assert net.summary(return_list=True) == expected.split("\n")


def test_summary_of_a_leaf_module_is_its_repr():
    assert pax.Linear(1, 2).summary() == "Linear(in_dim=1, out_dim=2, with_bias=True)"
    assert MLP().summary().splitlines()[0] == "MLP"


# -- state_dict ------------------------------------------------------------------------


def test_state_dict_layout():
    net = MLP()
    sd = net.state_dict()
    assert set(sd) == {"layers"}
    assert sd["layers"][1] is None
    assert sd["layers"][0]["weight"] is net.layers[0].weight
    assert set(sd["layers"][2]) == {"weight", "bias"}


@pytest.mark.parametrize(
    "make", [MLP, lambda: pax.BatchNorm1D(3), lambda: pax.Sequential(pax.Linear(2, 2), jax.nn.relu)]
)
def test_state_dict_round_trip(make):
    source, target = make(), make()
    # a numpy copy of the arrays, as when loading a checkpoint from disk
    saved = jax.tree_util.tree_map(lambda x: np.asarray(x) + 1, source.state_dict())
    loaded = target.load_state_dict(saved)
    assert type(loaded) is type(target)
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(target)
    tree_allclose(loaded, jax.tree_util.tree_map(lambda x: np.asarray(x) + 1, source))
    assert target.load_state_dict(target.state_dict()) == target


def test_load_state_dict_errors_on_mismatch():
    fc = pax.Linear(2, 3)
    sd = fc.state_dict()
    with pytest.raises(ValueError, match=r"missing \['bias'\]"):
        fc.load_state_dict({"weight": sd["weight"]})
    with pytest.raises(ValueError, match=r"unexpected \['scale'\]"):
        fc.load_state_dict({**sd, "scale": jnp.ones(3)})
    with pytest.raises(
        ValueError, match=r"`.weight` has shape \(3, 2\), the module expects \(2, 3\)"
    ):
        fc.load_state_dict({**sd, "weight": jnp.ones((3, 2))})
    with pytest.raises(ValueError, match="should be a dict for a module"):
        MLP().load_state_dict({"layers": [jnp.ones(1), None, None]})


# -- map, scan_bugs, modes, name ---------------------------------------------------------


def test_map_is_tree_map_over_the_module():
    a, b = pax.Linear(2, 2), pax.Linear(2, 2)
    s = a.map(lambda x, y: x + 2 * y, b)
    assert type(s) is pax.Linear
    np.testing.assert_allclose(s.weight, np.asarray(a.weight) + 2 * np.asarray(b.weight), rtol=1e-6)
    np.testing.assert_allclose(s.bias, np.asarray(a.bias) + 2 * np.asarray(b.bias), rtol=1e-6)


@pytest.mark.parametrize(
    "make", [c[1] for c in EQUAL_STRUCTURE_CASES], ids=[c[0] for c in EQUAL_STRUCTURE_CASES]
)
def test_scan_bugs_returns_a_clean_module(make):
    m = make()
    assert m.scan_bugs() is m


def test_train_eval_and_training():
    net = pax.Sequential(pax.Linear(2, 2), pax.BatchNorm1D(2), pax.Linear(2, 2))
    assert net.training and all(m.training for m in net.submodules())
    ev = net.eval()
    assert not ev.training and not any(m.training for m in ev.submodules())
    assert net.training and all(m.training for m in net.submodules())  # unchanged
    assert leaves_identical(ev, net)
    tr = ev.train()
    assert tr.training and all(m.training for m in tr.submodules())
    assert jax.tree_util.tree_structure(tr) == jax.tree_util.tree_structure(net)
    assert jax.tree_util.tree_structure(ev) != jax.tree_util.tree_structure(net)
    # modules inside list attributes change mode too
    m = Holder(layers=[pax.Linear(1, 1), jax.nn.relu]).eval()
    assert m.layers[0].training is False


def test_eval_changes_behaviour_of_batch_norm():
    bn = pax.BatchNorm1D(2)
    x = jnp.array([[1.0, 2.0], [3.0, 6.0]])
    _, y_train = pax.purecall(bn, x)
    mean, var = x.mean(0), x.var(0)
    np.testing.assert_allclose(y_train, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)
    _, y_eval = pax.purecall(bn.eval(), x)
    np.testing.assert_allclose(y_eval, x / np.sqrt(1.0 + 1e-5), rtol=1e-5)


class WithProperty(pax.Module):
    def __init__(self):
        super().__init__()
        self._scale = jnp.ones(1)
        self.scale = jnp.full(1, 3.0)  # goes through the setter below

    @property
    def scale(self):
        return self._scale

    @scale.setter
    def scale(self, value):
        self._scale = value


def test_property_setters_run_instead_of_being_shadowed():
    m = WithProperty()
    np.testing.assert_array_equal(m.scale, [3.0])
    assert [p for p, _ in jax.tree_util.tree_flatten_with_path(m)[0]] == [(GetAttrKey("_scale"),)]

    @pax.pure
    def set_scale(mod):
        mod.scale = jnp.full(1, 5.0)
        return mod

    np.testing.assert_array_equal(set_scale(m).scale, [5.0])
    with pytest.raises(ValueError, match="pax.pure"):
        m.scale = jnp.zeros(1)


@pytest.mark.parametrize("name, value", [("name", "fc"), ("training", False)])
def test_name_and_training_are_read_only(name, value):
    class Assigns(pax.Module):
        def __init__(self):
            super().__init__()
            setattr(self, name, value)

    with pytest.raises(
        AttributeError, match=rf"Cannot set `{name}`: it is a read-only property of .*Assigns"
    ):
        Assigns()


def test_name():
    assert pax.Linear(1, 1).name is None
    fc = pax.Linear(1, 1, name="fc")
    assert fc.name == "fc"
    assert repr(fc).startswith("(fc) Linear")
    assert fc.copy().name == "fc" and fc.eval().name == "fc"


PICKLABLE = [
    ("linear", lambda: pax.Linear(2, 3)),
    ("named", lambda: pax.Linear(2, 3, name="fc")),
    ("batch_norm_eval", lambda: pax.BatchNorm1D(3).eval()),
    ("sequential", lambda: pax.Sequential(pax.Linear(2, 3), pax.Linear(3, 1))),
    ("mixed_list", lambda: Holder(layers=[pax.Linear(1, 1), _identity], k=3)),
]


@pytest.mark.parametrize("make", [c[1] for c in PICKLABLE], ids=[c[0] for c in PICKLABLE])
def test_pickle_round_trip(make):
    m = make()
    restored = pickle.loads(pickle.dumps(m))
    assert type(restored) is type(m)
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(m)
    tree_allclose(restored, m, rtol=0, atol=0)
    with pytest.raises(ValueError, match="pax.pure"):
        restored.extra = 1  # still immutable
    # the restored module flattens, unflattens and goes through jit like the original
    assert jax.jit(lambda t: t)(restored) is not None


def test_deepcopy_copies_arrays_and_keeps_the_structure():
    m = Holder(layers=[pax.Linear(2, 2), _identity], k=3)
    d = copy.deepcopy(m)
    assert jax.tree_util.tree_structure(d) == jax.tree_util.tree_structure(m)
    tree_allclose(d, m, rtol=0, atol=0)
    assert d != m  # new array objects
    assert copy.copy(m) == m
