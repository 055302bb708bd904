"""pax.Jit (SPEC §4) and an Objax-style training loop equal to the PAX-style one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax

X = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)


def test_jit_module_and_function():
    m = pax.Sequential(pax.Linear(3, 2), jax.nn.relu)
    jit_m = pax.Jit(m)
    np.testing.assert_allclose(jit_m(X), m(X), rtol=1e-6)
    assert list(jit_m.vars().keys()) == list(m.vars().keys())

    @pax.Function.with_vars(m.vars())
    def f(x):
        return m(x) + 1

    np.testing.assert_allclose(pax.Jit(f)(X), m(X) + 1, rtol=1e-6)
    with pytest.raises(
        ValueError, match=r"(?s)pax.Jit got a plain function and no `vc`.*with_vars"
    ):
        pax.Jit(lambda x: m(x))


def test_variables_outside_vc_are_constants():
    fc = pax.Linear(3, 2)
    scale = pax.StateVar(jnp.ones(()))
    f = pax.Jit(lambda x: fc(x) * scale.value, fc.vars())
    y1 = f(X)
    scale.value = jnp.array(2.0)  # not in vc: compiled in as a constant
    np.testing.assert_allclose(f(X), y1)
    fc.vars().assign([2 * t for t in fc.vars().tensors()])  # in vc: seen
    np.testing.assert_allclose(f(X), 2 * y1, rtol=1e-6)


def test_batchnorm_state_is_updated_in_place():
    bn = pax.BatchNorm1D(3)
    ref = bn.copy()
    jit_bn = pax.Jit(bn)
    for _ in range(2):
        y = jit_bn(X)
        ref, y_ref = pax.purecall(ref, X)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    tree_allclose(bn, ref)
    assert float(bn.ema_mean.debias) == pytest.approx(1 - 0.9**2)  # two updates
    assert not isinstance(bn.ema_mean.averages, jax.core.Tracer)
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        bn.ema_mean.debias = jnp.zeros(())


def test_state_outside_vc_raises_with_the_name():
    bn = pax.BatchNorm1D(3)
    with pytest.raises(
        ValueError,
        match=r"(?s)Cannot set attribute `averages`.*inside pax.Jit: .*vc=model.vars\(\)",
    ):
        pax.Jit(bn, bn.vars().subset(is_a=pax.TrainVar))(X)
    assert float(bn.ema_mean.debias) == 0.0  # nothing was written
    assert not isinstance(bn.ema_mean.averages, jax.core.Tracer)
    other = pax.Linear(1, 1)
    with pytest.raises(
        ValueError,
        match=r"(?s)Cannot set attribute `averages`.*inside pax.Jit: .*vc=model.vars\(\)",
    ):
        pax.Jit(lambda x: bn(x), other.vars())(X)


def test_an_error_inside_restores_the_modules():
    bn = pax.BatchNorm1D(3)

    def broken(x):
        bn(x)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pax.Jit(broken, bn.vars())(X)
    assert float(bn.ema_mean.debias) == 0.0
    assert not isinstance(bn.ema_mean.averages, jax.core.Tracer)
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        bn.ema_mean.debias = jnp.zeros(())
    pax.Jit(bn)(X)  # and it still works afterwards
    assert float(bn.ema_mean.debias) == pytest.approx(1 - 0.9)


def test_random_state_advances_and_default_generator_needs_vc():
    gen = pax.random.Generator(3)
    draw = pax.Jit(lambda x: x + pax.random.normal((2,), generator=gen), gen.vars())
    a, b = draw(jnp.zeros(2)), draw(jnp.zeros(2))
    assert not np.allclose(a, b)
    reference = pax.random.Generator(3)
    np.testing.assert_allclose(b, (reference(), pax.random.normal((2,), generator=reference))[1])
    np.testing.assert_array_equal(gen.key.value, reference.key.value)
    with pytest.raises(
        ValueError, match=r"(?s)into RandomState `pax.random.DEFAULT_GENERATOR.key`.*Fix:"
    ):
        pax.Jit(lambda x: x + pax.random.normal((2,)), pax.VarCollection())(jnp.zeros(2))


def test_static_arguments_and_keyword_arguments():
    calls = []

    class Net(pax.Module):
        def __init__(self):
            super().__init__()
            self.fc = pax.Linear(3, 2)

        def __call__(self, x, n, training=True, scale=1.0):
            calls.append(n)
            y = self.fc(x) * scale
            return y * n if training else y

    net = Net()
    f = pax.Jit(net, static_argnums=(1,))
    np.testing.assert_allclose(f(X, 3, training=True, scale=2.0), net.fc(X) * 6, rtol=1e-6)
    np.testing.assert_allclose(f(X, 3, training=False, scale=0.5), net.fc(X) * 0.5, rtol=1e-6)
    f(X, 3, training=True, scale=4.0)  # a traced float kwarg: no new compilation
    assert calls == [3, 3]


# -- an Objax-style training loop vs the PAX-style one ---------------------------------------


def make_model():
    return pax.Sequential(pax.Linear(3, 8), pax.BatchNorm1D(8), jax.nn.relu, pax.Linear(8, 1))


class ObjaxMomentum(pax.Module):
    """SGD with momentum, Objax style: TrainRefs to the variables it updates."""

    def __init__(self, vc, momentum=0.9):
        super().__init__()
        self.momentum = momentum
        self.refs = pax.ModuleList(pax.TrainRef(v) for v in vc.subset(is_a=pax.TrainVar))
        self.velocity = pax.ModuleList(pax.StateVar(jnp.zeros_like(r.value)) for r in self.refs)

    def __call__(self, lr, grads):
        for g, p, m in zip(grads, self.refs, self.velocity):
            m.value = self.momentum * m.value + g
            p.value -= lr * m.value


class PaxMomentum(pax.Module):
    """The same optimizer, PAX style (for `pax.build_update_fn`)."""

    def __init__(self, params, lr, momentum=0.9):
        super().__init__()
        self.lr = lr
        self.momentum = momentum
        self.velocity = jax.tree_util.tree_map(jnp.zeros_like, params)

    def __call__(self, grads, params):
        del params
        self.velocity = jax.tree_util.tree_map(
            lambda v, g: self.momentum * v + g, self.velocity, grads
        )
        return jax.tree_util.tree_map(lambda v: self.lr * v, self.velocity)


def data():
    x = pax.random.normal((32, 3), generator=pax.random.Generator(1))
    y = jnp.sin(x.sum(1, keepdims=True))
    return x, y


def test_objax_style_training_equals_pax_style_training():
    x, y = data()
    lr, steps = 0.05, 15
    model = make_model()
    pax_model = model.copy()  # same weights, other objects

    # Objax style: GradValues + TrainRef optimizer in a Function, compiled by Jit
    opt = ObjaxMomentum(model.vars())
    gv = pax.GradValues(lambda x, y: jnp.mean((model(x) - y) ** 2), model.vars())

    @pax.Function.with_vars(model.vars() + opt.vars())
    def train_op(x, y, lr):
        g, (loss,) = gv(x, y)
        opt(lr, g)
        return loss

    train_op = pax.Jit(train_op)
    losses = [float(train_op(x, y, lr)) for _ in range(steps)]
    assert losses[-1] < 0.5 * losses[0]

    # PAX style: pure functions, build_update_fn, the same optimizer
    def loss_fn(net, x, y):
        net, y_hat = pax.purecall(net, x)
        loss = jnp.mean((y_hat - y) ** 2)
        return loss, (loss, net)

    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    pax_opt = PaxMomentum(pax_model.parameters(), lr)
    pax_losses = []
    for _ in range(steps):
        pax_model, pax_opt, loss = update_fn(pax_model, pax_opt, x, y)
        pax_losses.append(float(loss))

    np.testing.assert_allclose(losses, pax_losses, rtol=1e-5, atol=1e-6)
    tree_allclose(model, pax_model, rtol=1e-5, atol=1e-5)
