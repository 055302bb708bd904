"""Objax's transforms are modules (the Objax seed: `Function` "turns a function into a
Module"), stored as attributes with an opaque pytree view."""

import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest
from helpers import tree_allclose

import pax


def make_model():
    return pax.Sequential(pax.Linear(2, 3), jax.nn.relu, pax.Linear(3, 2))


def loss_of(m):
    @pax.Function.with_vars(m.vars())
    def loss(x, y):
        return ((m(x) - y) ** 2).mean()

    return loss


TRANSFORMS = {
    "Function": lambda m: pax.Function(m, m.vars()),
    "Jit": lambda m: pax.Jit(m),
    "GradValues": lambda m: pax.GradValues(loss_of(m), m.vars()),
    "Grad": lambda m: pax.Grad(loss_of(m), m.vars()),
    "Vectorize": lambda m: pax.Vectorize(m),
    "Parallel": lambda m: pax.Parallel(m),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transforms_are_opaque_modules(name):
    m = make_model()
    t = TRANSFORMS[name](m)
    assert isinstance(t, pax.Module) and type(t).__name__ == name
    assert jax.tree_util.tree_leaves(t) == []  # never reaches into m's variables
    assert jax.tree_util.tree_structure(t) == jax.tree_util.tree_structure(t)
    assert t == t and t != TRANSFORMS[name](m)  # identity
    assert jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(t), []) is t
    with pytest.raises(ValueError, match="pax.pure"):
        t.vc = None


class Trainer(pax.Module):
    """The Objax pattern: a module that keeps its model and its compiled train op."""

    def __init__(self):
        super().__init__()
        self.model = make_model()
        self.opt = opax.sgd(0.1)(self.model.parameters())
        self.loss = loss_of(self.model)
        self.grad_values = pax.GradValues(self.loss, self.model.vars())
        self.predict = pax.Jit(self.model)


def test_a_module_keeps_transforms_as_attributes():
    trainer = Trainer()
    names = list(trainer.vars().keys())
    # the model's variables once under `model`, and again under each transform holding them
    assert "(Trainer).model(Sequential)[0](Linear).weight" in names
    assert "(Trainer).loss(Sequential)[0](Linear).weight" in names
    assert "(Trainer).grad_values(Sequential)[2](Linear).bias" in names
    assert "(Trainer).predict(Sequential)[0](Linear).bias" in names
    model_vars = list(trainer.model.vars(scope="(Trainer).model"))
    iterated = list(trainer.vars())  # deduplicated: each variable once
    assert [sum(v is w for w in iterated) for v in model_vars] == [1, 1, 1, 1]
    # flattening the trainer sees the model's arrays once, through `model`
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(trainer)[0]]
    assert all(p.startswith((".model", ".opt")) for p in paths)
    x, y = jnp.ones((4, 2)), jnp.zeros((4, 2))
    grads, (loss,) = trainer.grad_values(x, y)
    assert len(grads) == 4 and np.isfinite(float(loss))
    tree_allclose(trainer.predict(x), trainer.model(x))
    assert [type(s).__name__ for s in trainer.submodules()][:2] == ["Sequential", "Chain"]


def test_the_seed_function_example():
    m = pax.Linear(2, 3)

    def f1(x, y):
        return ((m(x) - y) ** 2).mean()

    m1 = pax.Function(f1, m.vars())
    x = jnp.arange(10.0).reshape((5, 2))
    y = jnp.arange(15.0).reshape((5, 3))
    assert isinstance(m1, pax.Module)
    np.testing.assert_allclose(m1(x, y), f1(x, y))
