"""PAX 0.5's module API and ``pax.experimental`` (SPEC §6b)."""

import gc
import weakref

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import opax
import pytest
from helpers import tree_allclose

import pax
from pax.experimental import (
    Flattener,
    LazyModule,
    apply_scaled_gradients,
    load_weights_from_dict,
    mutable,
    save_weights_to_dict,
)


def test_pytree_attributes_lists_the_children_in_order():
    class Att(pax.Module):
        def __init__(self):
            self.hidden = pax.EmptyNode()  # no super().__init__(): allowed, as in PAX
            self.size = 3

    assert Att().pytree_attributes == ("hidden",)
    assert pax.Linear(2, 2).pytree_attributes == ("weight", "bias")
    assert pax.Linear(2, 2, with_bias=False).pytree_attributes == ("weight",)  # bias None
    assert pax.Sequential(pax.Linear(1, 1)).pytree_attributes == ("modules",)


def test_replace_method():
    fc = pax.Linear(2, 2, rng_key=jax.random.PRNGKey(0))
    x = jnp.ones((3, 2))

    def negated(self, x):
        return -(x @ self.weight + self.bias)

    neg = fc.replace_method(__call__=negated)
    tree_allclose(neg(x), -fc(x))
    tree_allclose(fc(x), x @ fc.weight + fc.bias)  # the original keeps its method
    assert isinstance(neg, pax.Linear) and neg.summary() == fc.summary()
    # made once: equal treedefs, so jit does not retrace
    assert jax.tree_util.tree_structure(fc.replace_method(__call__=negated)) == (
        jax.tree_util.tree_structure(neg)
    )
    tree_allclose(jax.jit(lambda m: m(x))(neg), -fc(x))
    with pytest.raises(TypeError, match="`__call__` must be callable"):
        fc.replace_method(__call__=3)


def test_mutable_context_manager():
    net = pax.Sequential(pax.Linear(1, 2), pax.Linear(2, 1))
    with mutable(net) as new:
        new[0].bias = jnp.ones(2)
        new.extra = [pax.Linear(1, 1)]
    np.testing.assert_array_equal(new[0].bias, jnp.ones(2))
    assert len(jax.tree_util.tree_leaves(new)) == 6
    np.testing.assert_array_equal(net[0].bias, jnp.zeros(2))  # the original is unchanged
    assert not hasattr(net, "extra")
    with pytest.raises(ValueError, match="pax.pure"):  # frozen after the block
        new.extra = None
    with pytest.raises(ValueError, match="appears twice"):
        with mutable(net) as bad:
            bad.again = bad[0]


def test_lazy_module():
    class MLP(LazyModule):
        def __call__(self, x):
            fc = self.get_or_create("fc", lambda: pax.Linear(x.shape[-1], 2))
            return jax.nn.relu(fc(x))

    mlp, y = pax.purecall(MLP(), jnp.ones((4, 3)))
    assert y.shape == (4, 2) and mlp.pytree_attributes == ("fc",)
    mlp2, y2 = pax.purecall(mlp, jnp.ones((4, 3)))  # found, not created again
    tree_allclose(mlp2, mlp)
    tree_allclose(y2, y)
    with pytest.raises(ValueError, match="pax.pure"):
        MLP()(jnp.ones((1, 3)))


def test_flattener_round_trips_and_jits():
    net = pax.Sequential(pax.Linear(3, 4), jax.nn.relu, pax.Linear(4, 1))
    opt = opax.adam(1e-3)(net.parameters())
    flat = Flattener(model=net, optimizer=opt)
    assert len(jax.tree_util.tree_leaves(flat)) == len(jax.tree_util.tree_leaves((net, opt)))
    flat2 = jax.jit(lambda f: f)(flat)
    tree_allclose(flat2.model, net)
    tree_allclose(flat2.optimizer, opt)
    bigger = flat.update(model=pax.Linear(2, 2))
    assert isinstance(bigger.model, pax.Linear) and isinstance(flat.model, pax.Sequential)
    with pytest.raises(AttributeError, match="holds no `nothing`"):
        _ = flat.nothing
    with pytest.raises(ValueError, match="Rebuild the module first"):
        flat.parameters()


def test_save_and_load_weights_from_dict():
    a = pax.Sequential(pax.Linear(1, 2), jax.nn.relu, pax.Linear(2, 3))
    b = pax.Sequential(pax.Linear(1, 2), jax.nn.relu, pax.Linear(2, 3))
    weights = save_weights_to_dict(a)
    tree_allclose(weights, a.state_dict(), rtol=0, atol=0)
    assert weights["modules"][1] == {}
    b = load_weights_from_dict(b, weights)
    tree_allclose(b, a)
    with pytest.raises(ValueError, match="shape"):
        load_weights_from_dict(
            pax.Sequential(pax.Linear(1, 3)), {"modules": (weights["modules"][0],)}
        )


@pytest.mark.parametrize("finite", [True, False])
def test_apply_scaled_gradients(finite):
    net = pax.Linear(2, 2, rng_key=jax.random.PRNGKey(0))
    opt = opax.sgd(0.5)(net.parameters())
    scale = jmp.DynamicLossScale(jnp.float32(4.0), period=1)
    grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, 4.0), net.parameters())
    if not finite:
        grads = grads.replace(bias=jnp.array([jnp.inf, 0.0]))
    new_net, new_opt, new_scale = jax.jit(apply_scaled_gradients)(net, opt, scale, grads)
    if finite:  # unscaled gradient 1.0, learning rate 0.5
        tree_allclose(new_net.weight, net.weight - 0.5)
        assert float(new_scale.loss_scale) == 8.0
    else:
        tree_allclose((new_net, new_opt), (net, opt), rtol=0, atol=0)
        assert float(new_scale.loss_scale) == 2.0
    # a static loss scale always applies the update
    static_net, _, _ = apply_scaled_gradients(net, opt, jmp.StaticLossScale(4.0), grads)
    assert not np.allclose(static_net.weight, net.weight)


def test_experimental_default_mp_policy_is_pax_default():
    assert pax.experimental.default_mp_policy is pax.default_mp_policy


def test_replace_method_in_a_loop_creates_no_class_and_keeps_no_function():
    fc = pax.Linear(2, 2)
    first = type(fc.replace_method(__call__=lambda self, x: x))
    refs = []
    for scale in range(20):

        def scaled(self, x, scale=scale):
            return scale * x

        refs.append(weakref.ref(scaled))
        replaced = fc.replace_method(__call__=scaled)
        assert type(replaced) is first
        assert replaced(1.0) == scale
    del scaled, replaced
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert len(first.__subclasses__()) == 0


def test_replace_method_replaces_named_methods_and_keeps_the_others():
    fc = pax.Linear(2, 2, rng_key=jax.random.PRNGKey(1))
    x = jnp.ones((1, 2))
    both = fc.replace_method(__call__=lambda self, x: -x).replace_method(
        summary=lambda self, return_list=False: "replaced"
    )
    tree_allclose(both(x), -x)
    assert both.summary() == "replaced"
    assert both.parameters().weight is fc.weight
    tree_allclose(both.weight, fc.weight)
