"""Module.vars() names and pax.VarCollection (SPEC §4)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax
from pax.util import Renamer


class ObjaxLinear(pax.Module):
    """The guide's Linear, written with Objax variables."""

    def __init__(self, m, n):
        super().__init__()
        self.w = pax.TrainVar(pax.random.normal((m, n), generator=pax.random.Generator(m)))
        self.b = pax.TrainVar(jnp.zeros(n))

    def __call__(self, x):
        return x.dot(self.w.value) + self.b.value


class MiniNet(pax.Module):
    def __init__(self, m, n, p):
        super().__init__()
        self.f1 = pax.Linear(m, n)
        self.f2 = pax.Linear(n, p)

    def __call__(self, x):
        return self.f2(jax.nn.relu(self.f1(x)))


class MyModule(pax.Module):
    def __init__(self):
        super().__init__()
        self.bad = [pax.TrainVar(jnp.zeros(1)), pax.TrainVar(jnp.zeros(2))]
        self.good = pax.ModuleList([pax.TrainVar(jnp.zeros(3)), pax.TrainVar(jnp.zeros(4))])


# -- names and printouts (copied from the seeds, with pax's `weight`/`bias`) -----------


def test_names_of_objax_style_and_pax_style_modules():
    assert str(ObjaxLinear(4, 5).vars()) == (
        "(ObjaxLinear).w            20 (4, 5)\n"
        "(ObjaxLinear).b             5 (5,)\n"
        "+Total(2)                  25"
    )
    assert str(MiniNet(4, 5, 6).vars()) == (
        "(MiniNet).f1(Linear).weight       20 (4, 5)\n"
        "(MiniNet).f1(Linear).bias          5 (5,)\n"
        "(MiniNet).f2(Linear).weight       30 (5, 6)\n"
        "(MiniNet).f2(Linear).bias          6 (6,)\n"
        "+Total(4)                         61"
    )


def test_sequential_names_layers_by_index():
    m = pax.Sequential([pax.Linear(2, 3), jax.nn.relu])
    vc = m.vars()
    assert list(vc.keys()) == ["(Sequential)[0](Linear).weight", "(Sequential)[0](Linear).bias"]
    assert (vc["(Sequential)[0](Linear).weight"].value == m[0].weight).all()
    assert str(vc) == (
        "(Sequential)[0](Linear).weight        6 (2, 3)\n"
        "(Sequential)[0](Linear).bias          3 (3,)\n"
        "+Total(2)                             9"
    )
    # a slice shares the layers, so its variables are the model's
    assert m[:1].vars()["(Sequential)[0](Linear).weight"] is vc["(Sequential)[0](Linear).weight"]


def test_modules_and_variables_in_plain_containers_are_collected():
    # DECISION (differs from Objax, whose vars() skips `bad`): lists, tuples and dicts
    # held by a module are pytree children that pax.grad trains, so vars() sees them;
    # skipping them would silently freeze those weights in pax.Grad/pax.Jit.
    assert str(MyModule().vars()) == (
        "(MyModule).bad[0]                     1 (1,)\n"
        "(MyModule).bad[1]                     2 (2,)\n"
        "(MyModule).good(ModuleList)[0]        3 (3,)\n"
        "(MyModule).good(ModuleList)[1]        4 (4,)\n"
        "+Total(4)                            10"
    )
    grads = pax.grad(lambda m: sum(v.value.sum() for v in m.bad))(MyModule())
    assert isinstance(grads.bad[0], pax.TrainVar)  # pax.grad trains them too

    class Tree(pax.Module):
        def __init__(self):
            super().__init__()
            self.layers = {"enc": pax.Linear(1, 2), "dec": (pax.Linear(2, 1), jnp.ones(3))}

    assert list(Tree().vars().keys()) == [
        "(Tree).layers['dec'][0](Linear).weight",
        "(Tree).layers['dec'][0](Linear).bias",
        "(Tree).layers['dec'][1]",
        "(Tree).layers['enc'](Linear).weight",
        "(Tree).layers['enc'](Linear).bias",
    ]


def test_scope_prefix_and_stable_identity():
    m = MiniNet(2, 3, 4)
    vc = m.vars("net")
    assert next(iter(vc.keys())) == "net(MiniNet).f1(Linear).weight"
    again = m.vars()
    assert [a is b for a, b in zip(vc.values(), again.values())] == [True] * 4
    assert m.f1.vars()["(Linear).weight"] is again["(MiniNet).f1(Linear).weight"]


def test_raw_arrays_are_train_or_state_views_per_parameters():
    vc = pax.BatchNorm1D(3).vars()
    assert list(vc.subset(is_a=pax.TrainVar).keys()) == [
        "(BatchNorm1D).scale",
        "(BatchNorm1D).offset",
    ]
    assert list(vc.subset(is_a=pax.StateVar).keys()) == [
        "(BatchNorm1D).ema_mean(EMA).averages",
        "(BatchNorm1D).ema_mean(EMA).debias",
        "(BatchNorm1D).ema_var(EMA).averages",
        "(BatchNorm1D).ema_var(EMA).debias",
    ]
    frozen = pax.freeze_parameters(pax.Linear(2, 2)).vars()
    assert all(isinstance(v, pax.StateVar) for v in frozen)


def test_views_write_into_the_module_in_place():
    fc = pax.Linear(2, 3)
    weight = fc.vars()["(Linear).weight"]
    weight.assign(jnp.ones((2, 3)))  # Objax-style escape hatch: no pax.pure needed
    assert fc.weight.tolist() == [[1.0] * 3] * 2
    with pytest.raises(ValueError, match="read-only"):
        weight.value = jnp.zeros((2, 3))
    with pytest.raises(
        ValueError, match=r"TrainVarView `\(Linear\).weight`.*received shape \(3,\)"
    ):
        weight.assign(jnp.ones(3))
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        fc.weight = jnp.zeros((2, 3))  # the module itself stays immutable


def test_views_of_arrays_inside_containers():
    class Params(pax.ParameterModule):
        def __init__(self):
            super().__init__()
            self.ws = [jnp.zeros(2), jnp.zeros(3)]
            self.pair = (jnp.zeros(1), "tag")

    m = Params()
    vc = m.vars()
    assert list(vc.keys()) == ["(Params).ws[0]", "(Params).ws[1]", "(Params).pair[0]"]
    assert all(isinstance(v, pax.TrainVar) for v in vc)
    old_list = m.ws
    vc["(Params).ws[1]"].assign(jnp.ones(3))
    vc["(Params).pair[0]"].assign(jnp.ones(1))
    assert m.ws[1].tolist() == [1.0] * 3 and m.ws[0].tolist() == [0.0, 0.0]
    assert m.pair[1] == "tag" and isinstance(m.pair, tuple)
    assert old_list[1].tolist() == [0.0] * 3  # a new list: copies are not affected


# -- VarCollection -------------------------------------------------------------------------


def test_add_scopes_and_conflicts():
    m1, m2 = ObjaxLinear(3, 4), ObjaxLinear(4, 5)
    all_vars = m1.vars("m1") + m2.vars("m2")
    assert list(all_vars.keys()) == [
        "m1(ObjaxLinear).w",
        "m1(ObjaxLinear).b",
        "m2(ObjaxLinear).w",
        "m2(ObjaxLinear).b",
    ]
    with pytest.raises(
        ValueError, match=r"Name conflict .*`\(ObjaxLinear\).w` names two different"
    ):
        m1.vars() + m2.vars()
    vc = m1.vars()
    vc.update(m1.vars())  # same names, same variables: fine
    with pytest.raises(ValueError, match="Name conflict"):
        vc.update({"(ObjaxLinear).w": m2.w})
    with pytest.raises(TypeError, match="maps names to variables"):
        vc["x"] = jnp.zeros(1)


def test_weight_sharing_is_deduplicated():
    m1 = ObjaxLinear(3, 4)
    shared = m1.vars("m1") + m1.vars("m1_shared")
    assert len(shared) == 4 and len(list(shared)) == 2
    assert str(shared) == (
        "m1(ObjaxLinear).w              12 (3, 4)\n"
        "m1(ObjaxLinear).b               4 (4,)\n"
        "m1_shared(ObjaxLinear).w       12 (3, 4)\n"
        "m1_shared(ObjaxLinear).b        4 (4,)\n"
        "+Total(4)                      32"
    )
    before = shared.tensors()
    shared.assign([x + 1 for x in shared.tensors()])
    for b, a in zip(before, shared.tensors()):
        np.testing.assert_allclose(a, b + 1)  # each variable incremented once


def test_tensors_subset_and_assign():
    m = pax.Sequential(pax.BatchNorm1D(2), pax.Linear(2, 2))
    vc = m.vars()
    assert len(vc.tensors(is_a=pax.TrainVar)) == 4 and len(vc.tensors()) == 8
    assert list(vc.subset(is_a=pax.StateVar, is_not=pax.RandomState).keys()) == list(
        vc.subset(is_a=pax.BaseState).keys()
    )
    assert len(vc.subset(is_not=pax.TrainVar)) == 4
    with pytest.raises(ValueError, match="got 1 tensors for 8 variables"):
        vc.assign([jnp.zeros(2)])
    vc.subset(is_a=pax.TrainVar).assign([jnp.zeros_like(t) for t in vc.tensors(is_a=pax.TrainVar)])
    assert float(jnp.abs(m[1].weight).sum()) == 0.0


def test_rename_with_the_seed_renamers():
    m = pax.Sequential(pax.Linear(2, 3), jax.nn.relu)
    renamer = Renamer([(re.compile(r"\([^)]+\)"), "")])
    assert str(m.vars().rename(renamer)) == (
        "[0].weight                  6 (2, 3)\n"
        "[0].bias                    3 (3,)\n"
        "+Total(2)                   9"
    )
    renamer_all = Renamer({"[": ".", "]": ""}, renamer)
    assert list(m.vars().rename(renamer_all).keys()) == [".0.weight", ".0.bias"]
    assert Renamer([(r"weight", "w")], Renamer(str.upper))("(Linear).weight") == "(LINEAR).W"
    assert (
        m.vars().rename(lambda s: s.replace("(Linear)", ""))["(Sequential)[0].bias"]
        is m.vars()["(Sequential)[0](Linear).bias"]
    )
    with pytest.raises(TypeError, match="Renamer rules must be"):
        Renamer(42)
    with pytest.raises(ValueError, match="Name conflict"):
        m.vars().rename(lambda s: "same")


def test_printout_of_scalars_and_empty_collections():
    bn = pax.BatchNorm1D(2)
    lines = str(bn.vars()).splitlines()
    assert lines[3] == "(BatchNorm1D).ema_mean(EMA).debias          1 ()"
    assert lines[5] == "(BatchNorm1D).ema_var(EMA).debias           1 ()"
    assert str(pax.VarCollection()) == "+Total(0)                   0"


def test_replicate_and_reduce_back():
    n = jax.local_device_count()
    fc = pax.Linear(2, 3)
    gen = pax.random.Generator(0)
    vc = fc.vars() + gen.vars()
    weight = fc.weight
    with vc.replicate():
        assert fc.weight.shape == (n, 2, 3)
        keys = gen.key.value
        assert keys.shape == (n, 2) and len({tuple(k) for k in keys.tolist()}) == n
        with pytest.raises(ValueError, match="already replicated"):
            with fc.vars().replicate():
                pass
    # reduced back by a mean over the n copies: equal up to float32 rounding
    np.testing.assert_allclose(fc.weight, weight, rtol=1e-6)
    after_split = gen.key.value
    assert after_split.shape == (2,)
    assert n == 8  # conftest forces 8 host devices
