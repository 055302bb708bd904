"""ModuleList, Function, ForceArgs, transforms stored in modules, ConvPadding (SPEC §4)."""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax

# -- ModuleList ----------------------------------------------------------------------------


def test_module_list_seed_example():
    ml = pax.ModuleList(["hello", pax.TrainVar(pax.random.normal((10, 2)))])
    assert str(ml.vars()) == (
        "(ModuleList)[1]            20 (10, 2)\n+Total(1)                  20"
    )
    ml.pop()
    ml.append(pax.Linear(2, 3))  # in place, outside pax.pure
    assert str(ml.vars()) == (
        "(ModuleList)[1](Linear).weight        6 (2, 3)\n"
        "(ModuleList)[1](Linear).bias          3 (3,)\n"
        "+Total(2)                             9"
    )


def test_module_list_behaves_like_a_list():
    a, b, c, d, e = (pax.Linear(1, 1, name=n) for n in "abcde")
    ml = pax.ModuleList([a, b])
    assert isinstance(ml, list) and isinstance(ml, pax.Module)
    assert len(ml) == 2 and list(ml) == [a, b] and ml[1] is b and ml[-1] is b and b in ml
    ml.insert(0, c)
    ml[1] = d
    del ml[2]
    assert [m.name for m in ml] == ["c", "d"]
    ml += [e]
    assert [m.name for m in ml[1:]] == ["d", "e"] and isinstance(ml[1:], pax.ModuleList)
    assert [m.name for m in reversed(ml)] == ["e", "d", "c"]
    assert ml.index(c) == 0 and ml.count(c) == 1
    ml.remove(c)
    assert len(ml) == 2 and bool(ml) and not pax.ModuleList()
    assert [m.name for m in [a] + ml] == ["a", "d", "e"]
    assert ml != pax.ModuleList() and ml == ml
    ml.clear()
    assert len(ml) == 0


def test_module_list_is_a_pytree_of_its_items():
    ml = pax.ModuleList([pax.Linear(2, 2), jax.nn.relu, pax.Linear(2, 2)])
    assert len(jax.tree_util.tree_leaves(ml)) == 4
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(ml)[0]]
    assert paths[0] == ".items[0].weight"
    doubled = jax.jit(lambda m: jax.tree_util.tree_map(lambda x: 2 * x, m))(ml)
    assert isinstance(doubled, pax.ModuleList) and doubled[1] is jax.nn.relu
    np.testing.assert_allclose(doubled[0].weight, 2 * ml[0].weight)
    grads = pax.grad(lambda m, x: m[2](m[1](m[0](x))).sum())(ml, jnp.ones((1, 2)))
    assert grads[0].weight.shape == (2, 2)
    # copies made before an in-place change do not see it
    evaluated = ml.eval()
    ml.append(pax.Linear(2, 2))
    assert len(evaluated) == 3 and len(ml) == 4 and not evaluated.training


def test_module_list_guards_and_copies():
    fc = pax.Linear(1, 1)
    ml = pax.ModuleList([fc])
    with pytest.raises(ValueError, match="appears twice"):
        ml.append(fc)
    assert len(ml) == 1
    for clone in (copy.deepcopy(ml), copy.copy(ml)):
        assert isinstance(clone, pax.ModuleList) and len(clone) == 1
        np.testing.assert_array_equal(clone[0].weight, fc.weight)
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        ml.other = 1


# -- Function ----------------------------------------------------------------------------


def test_function_seed_example():
    m = pax.Linear(2, 3)

    def f1(x, y):
        return ((m(x) - y) ** 2).mean()

    m1 = pax.Function(f1, m.vars())

    @pax.Function.with_vars(m.vars())
    def f2(x, y):
        return ((m(x) - y) ** 2).mean()

    x = jnp.arange(10).reshape((5, 2))
    y = jnp.arange(15).reshape((5, 3))
    assert type(m1) is pax.Function and type(f2) is pax.Function
    assert float(f1(x, y)) == float(m1(x, y)) == float(f2(x, y))
    assert f2.__name__ == "f2" and list(m1.vars("s").keys())[0] == "s(Linear).weight"
    assert m1.vars()["(Linear).weight"] is m.vars()["(Linear).weight"]
    with pytest.raises(TypeError, match="expects a function or a module"):
        pax.Function(3, m.vars())


class Trainer(pax.Module):
    """Objax code keeps transforms as attributes."""

    def __init__(self):
        super().__init__()
        self.model = pax.Linear(2, 1)
        self.predict = pax.Jit(self.model)
        self.gv = pax.GradValues(self.loss, self.model.vars())

    def loss(self, x):
        return self.model(x).sum()


def test_transforms_stored_in_modules():
    t = Trainer()
    assert list(t.vars().keys()) == [
        "(Trainer).model(Linear).weight",
        "(Trainer).model(Linear).bias",
        "(Trainer).predict(Linear).weight",
        "(Trainer).predict(Linear).bias",
        "(Trainer).gv(Linear).weight",
        "(Trainer).gv(Linear).bias",
    ]
    assert len(list(t.vars())) == 2
    # opaque pytree nodes: no extra leaves, no sharing error, survive copies
    assert len(jax.tree_util.tree_leaves(t)) == 2
    t2 = jax.tree_util.tree_map(lambda x: x, t)
    assert t2.predict is t.predict
    g, (value,) = t.gv(jnp.ones((3, 2)))
    np.testing.assert_allclose(g[0], jnp.full((2, 1), 3.0))


# -- ForceArgs --------------------------------------------------------------------------


class BN(pax.Module):
    """An Objax-style batch norm: its statistics are StateVars, `training` a kwarg."""

    def __init__(self, n):
        super().__init__()
        self.mean = pax.StateVar(jnp.zeros(n))

    def __call__(self, x, training):
        if training:
            self.mean.value = 0.9 * self.mean.value + 0.1 * x.mean(0)
            return x - x.mean(0)
        return x - self.mean.value


class Block(pax.Module):
    def __init__(self, n):
        super().__init__()
        # a random bias, so the batch mean after fc is not zero
        self.fc = pax.Linear(n, n, b_init=jax.nn.initializers.normal(1.0))
        self.bn = BN(n)

    def __call__(self, x, training):
        return self.bn(self.fc(x), training=training)


class Net(pax.Module):
    def __init__(self, n):
        super().__init__()
        self.blocks = pax.ModuleList([Block(n), Block(n), Block(n)])

    def __call__(self, x, training):
        for block in self.blocks:
            x = block(x, training=training)
        return x


def test_force_args_batchnorm_example():
    model = Net(2)
    names = list(model.vars().keys())
    model.blocks[1] = pax.ForceArgs(model.blocks[1], training=False)
    assert list(model.vars().keys()) == names  # transparent for vars()
    x = jnp.arange(8.0).reshape(4, 2)
    model(x, training=True)
    assert float(jnp.abs(model.blocks[0].bn.mean.value).sum()) > 0
    assert float(jnp.abs(model.blocks[1].__wrapped__.bn.mean.value).sum()) == 0  # forced eval
    assert float(jnp.abs(model.blocks[2].bn.mean.value).sum()) > 0

    pax.ForceArgs.undo(model, training=True)  # not the forced value: kept
    assert model.blocks[1].forced_kwargs == {"training": False}
    pax.ForceArgs.undo(model, training=False)
    assert model.blocks[1].forced_kwargs == {}
    model(x, training=True)
    assert float(jnp.abs(model.blocks[1].__wrapped__.bn.mean.value).sum()) > 0


def test_force_args_undo_any_and_all():
    model = Net(2)
    model.blocks[0] = pax.ForceArgs(model.blocks[0], training=False, scale=2)
    model.blocks[2] = pax.ForceArgs(model.blocks[2], training=True)
    pax.ForceArgs.undo(model, training=pax.ForceArgs.ANY)
    assert model.blocks[0].forced_kwargs == {"scale": 2} and model.blocks[2].forced_kwargs == {}
    pax.ForceArgs.undo(model)
    assert model.blocks[0].forced_kwargs == {}
    assert "ForceArgs(Block" in repr(pax.ForceArgs(Block(1), training=False))


def test_force_args_is_a_module_with_the_wrapped_module_as_child():
    wrapped = pax.ForceArgs(pax.Linear(2, 2))
    assert len(jax.tree_util.tree_leaves(wrapped)) == 2
    assert (
        jax.tree_util.keystr(jax.tree_util.tree_flatten_with_path(wrapped)[0][0][0])
        == ".__wrapped__.weight"
    )
    grads = pax.grad(lambda m, x: m(x).sum())(wrapped, jnp.ones((1, 2)))
    assert grads.__wrapped__.weight.shape == (2, 2)


# -- constants and exports -------------------------------------------------------------------


def test_conv_padding():
    assert pax.ConvPadding.SAME == "SAME" and pax.ConvPadding.VALID.value == "VALID"
    assert pax.ConvPadding("SAME") is pax.ConvPadding.SAME and str(pax.ConvPadding.VALID) == "VALID"
    from pax._src.nn.padding import normalize_padding

    assert (
        normalize_padding("valid") == "VALID" and normalize_padding(pax.ConvPadding.SAME) == "SAME"
    )
    assert normalize_padding([(1, 1)]) == [(1, 1)]
    with pytest.raises(ValueError, match="Unknown padding 'full'"):
        normalize_padding("full")


def test_exports():
    names = [
        "BaseState", "BaseVar", "ConvPadding", "ForceArgs", "Function", "Grad", "GradValues",
        "Jit", "ModuleList", "Parallel", "RandomState", "StateVar", "TrainRef", "TrainVar",
        "VarCollection", "Vectorize", "random", "util",
    ]  # fmt: skip
    assert set(names) <= set(pax.__all__) and pax.__all__ == sorted(pax.__all__)
    assert all(hasattr(pax, n) for n in names)
    assert pax.util.Renamer is not None and pax.random.Generator is not None
    assert isinstance(pax.random.DEFAULT_GENERATOR, pax.random.Generator)
