"""pax.Grad and pax.GradValues (SPEC §4): finite differences, state, missing variables."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax

X = jnp.linspace(-1.0, 1.0, 8).reshape(4, 2)
Y = jnp.cos(jnp.arange(8.0)).reshape(4, 2)


def make_mlp():
    return pax.Sequential(pax.Linear(2, 3), jnp.tanh, pax.Linear(3, 2))


def finite_differences(loss, var, eps=1e-2):
    """Central differences of ``loss()`` w.r.t. every entry of the variable ``var``."""
    base = np.asarray(var.value)
    grad = np.zeros(base.shape)
    for idx in np.ndindex(base.shape):
        step = np.zeros(base.shape, np.float32)
        step[idx] = eps
        var.assign(jnp.asarray(base + step))
        plus = float(loss())
        var.assign(jnp.asarray(base - step))
        minus = float(loss())
        grad[idx] = (plus - minus) / (2 * eps)
    var.assign(jnp.asarray(base))
    return grad


def test_grad_values_matches_finite_differences():
    m = make_mlp()

    @pax.Function.with_vars(m.vars())
    def loss(x, y):
        return ((m(x) - y) ** 2).mean()

    grads, values = pax.GradValues(loss, m.vars())(X, Y)
    assert len(values) == 1 and float(values[0]) == pytest.approx(float(loss(X, Y)))
    assert [g.shape for g in grads] == [(2, 3), (3,), (3, 2), (2,)]
    for g, var in zip(grads, m.vars()):
        np.testing.assert_allclose(g, finite_differences(lambda: loss(X, Y), var), atol=2e-3)
    # and exactly PAX's gradients
    pax_grads = pax.grad(lambda net, x, y: ((net(x) - y) ** 2).mean())(m, X, Y)
    for g, ref in zip(
        grads, [pax_grads[0].weight, pax_grads[0].bias, pax_grads[2].weight, pax_grads[2].bias]
    ):
        np.testing.assert_allclose(g, ref, rtol=1e-6)


def test_input_gradients_come_first():
    m = make_mlp()

    def loss(x, y):
        return ((m(x) - y) ** 2).mean()

    grads = pax.Grad(loss, m.vars(), input_argnums=(0,))(X, Y)
    assert [g.shape for g in grads] == [(4, 2), (2, 3), (3,), (3, 2), (2,)]
    x_var = pax.StateVar(X)
    np.testing.assert_allclose(
        grads[0], finite_differences(lambda: loss(x_var.value, Y), x_var), atol=2e-3
    )
    with pytest.raises(ValueError, match=r"argument 2, but the call has 2 positional"):
        pax.Grad(loss, m.vars(), input_argnums=2)(X, Y)


def test_multiple_outputs_and_repr():
    m = make_mlp()

    def loss(x):
        y = m(x)
        return (y**2).mean(), y

    grads, (value, y) = pax.GradValues(loss, m.vars())(X)
    assert y.shape == (4, 2) and len(grads) == 4
    np.testing.assert_allclose(value, (m(X) ** 2).mean(), rtol=1e-6)
    assert repr(pax.Grad(loss, m.vars())).startswith("Grad(")


class ObjaxModel(pax.Module):
    """Objax-style: TrainVars, a StateVar counter and a RandomState."""

    def __init__(self):
        super().__init__()
        self.w = pax.TrainVar(jnp.array([[0.5, -1.0], [2.0, 0.1]]))
        self.calls = pax.StateVar(jnp.zeros((), jnp.int32))
        self.gen = pax.random.Generator(0)

    def __call__(self, x):
        self.calls.value += 1
        noise = pax.random.normal(x.shape, stddev=0.0, generator=self.gen)
        return jnp.sin(x @ self.w.value) + noise


def test_state_variables_are_updated_not_differentiated():
    m = ObjaxModel()
    key = m.gen.key.value
    gv = pax.GradValues(lambda x: m(x).sum(), m.vars())
    grads, _ = gv(X)
    assert len(grads) == 1  # only the TrainVar
    np.testing.assert_allclose(
        grads[0], finite_differences(lambda: jnp.sin(X @ m.w.value).sum(), m.w), atol=2e-3
    )
    assert int(m.calls.value) == 1  # the state change came back out
    assert not (m.gen.key.value == key).all()


def test_batchnorm_statistics_are_updated_like_pax_purecall():
    m = pax.Sequential(pax.Linear(2, 3), pax.BatchNorm1D(3), pax.Linear(3, 1))
    new_m, _ = pax.purecall(m, X)

    def loss(x):
        return m(x).sum()

    grads, _ = pax.GradValues(loss, m.vars())(X)
    np.testing.assert_allclose(m[1].ema_mean.averages, new_m[1].ema_mean.averages, rtol=1e-6)
    np.testing.assert_allclose(m[1].ema_var.averages, new_m[1].ema_var.averages, rtol=1e-6)
    assert float(m[1].ema_mean.debias) == pytest.approx(1 - 0.9)  # one update
    pax_grads = pax.grad(pax.pure(lambda net, x: net(x).sum()))(m.replace(), X)
    np.testing.assert_allclose(grads[0], pax_grads[0].weight, rtol=1e-5)


def test_function_declaring_fewer_variables_still_gets_every_gradient():
    m = make_mlp()
    # the Function declares only the head; Grad is asked for all variables
    loss = pax.Function(lambda x, y: ((m(x) - y) ** 2).mean(), m[2:].vars())
    grads = pax.Grad(loss, m.vars())(X, Y)
    assert all(float(jnp.abs(g).sum()) > 0 for g in grads)
    np.testing.assert_allclose(
        grads[0], finite_differences(lambda: loss(X, Y), m[0].vars()["(Linear).weight"]), atol=2e-3
    )


def test_variables_missing_from_variables_are_constants():
    m = make_mlp()
    loss = lambda x, y: ((m(x) - y) ** 2).mean()  # noqa: E731
    weight0 = m[0].weight
    head = pax.Grad(loss, m[2:].vars())(X, Y)  # the seed's `m[:1]`-style subset
    assert [g.shape for g in head] == [(3, 2), (2,)]
    for g, var in zip(head, m[2:].vars()):
        np.testing.assert_allclose(g, finite_differences(lambda: loss(X, Y), var), atol=2e-3)
    assert m[0].weight is weight0  # untouched


class StatefulBN(pax.Module):
    def __init__(self):
        super().__init__()
        self.scale = pax.TrainVar(jnp.ones(2))
        self.mean = pax.StateVar(jnp.zeros(2))

    def __call__(self, x):
        y = x * self.scale.value
        self.mean.value = 0.9 * self.mean.value + 0.1 * y.mean(0)
        return y - self.mean.value


def test_writing_a_variable_outside_variables_raises():
    bn = StatefulBN()
    bn.vars()
    with pytest.raises(
        ValueError,
        match=r"(?s)Cannot write a traced value into StateVar `\(StatefulBN\).mean`.*Fix:",
    ):
        pax.Grad(lambda x: bn(x).sum(), bn.vars().subset(is_a=pax.TrainVar))(X)
    assert float(jnp.abs(bn.mean.value).sum()) == 0.0


class Tracker(pax.Module):
    """PAX style: a trainable raw array and a raw-array record of the last output."""

    parameters = pax.parameters_method("w")

    def __init__(self):
        super().__init__()
        self.w = jnp.ones(2)
        self.last = jnp.zeros(2)

    def __call__(self, x):
        y = x * self.w
        self.last = y.mean(0)
        return y


def test_raw_array_state_outside_variables_raises_and_restores():
    t = Tracker()
    with pytest.raises(
        ValueError, match=r"(?s)pax.Grad left a traced value in `\(Tracker\).last`.*restored"
    ):
        pax.Grad(lambda x: t(x).sum(), t.vars().subset(is_a=pax.TrainVar))(X)
    assert float(jnp.abs(t.last).sum()) == 0.0 and not isinstance(t.last, jax.core.Tracer)
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        t.last = jnp.ones(2)  # the module is immutable again
    grads = pax.Grad(lambda x: t(x).sum(), t.vars())(X)  # with its state: fine
    np.testing.assert_allclose(grads[0], X.sum(0))
    np.testing.assert_allclose(t.last, X.mean(0))


def test_eager_grad_keeps_concrete_writes():
    # BatchNorm statistics go through stop_gradient: eagerly they are concrete
    # values, not tracers, so even outside `variables` they are simply kept. The
    # statistics live in EMA submodules, which may change themselves only when they
    # own a variable of `variables` (here their averages; `debias` stays outside).
    bn = pax.BatchNorm1D(2)
    with pytest.raises(
        ValueError,
        match=r"(?s)Cannot set attribute `averages`.*inside pax.Grad: .*vc=model.vars\(\)",
    ):
        pax.Grad(lambda x: bn(x).sum(), bn.vars().subset(is_a=pax.TrainVar))(X)
    assert float(bn.ema_mean.debias) == 0.0  # restored
    vc = bn.vars()
    variables = vc.subset(is_a=pax.TrainVar) + pax.VarCollection(
        (k, v) for k, v in vc.items() if k.endswith(".averages")
    )
    assert not any(k.endswith(".debias") for k in variables.keys())
    pax.Grad(lambda x: bn(x).sum(), variables)(X)
    assert float(bn.ema_mean.debias) == pytest.approx(1 - 0.9)  # one update
    assert float(bn.ema_var.debias) == pytest.approx(1 - 0.9)
    assert not isinstance(bn.ema_mean.debias, jax.core.Tracer)
    assert not isinstance(bn.ema_mean.averages, jax.core.Tracer)


def test_inner_transform_must_cover_what_it_writes():
    bn = StatefulBN()
    bn.vars()
    inner = pax.GradValues(lambda x: bn(x).sum(), bn.vars().subset(is_a=pax.TrainVar))
    outer = pax.Jit(lambda x: inner(x)[0], bn.vars())
    with pytest.raises(
        ValueError, match=r"(?s)swapped by an enclosing pax.Jit but not by pax.GradValues"
    ):
        outer(X)
    fixed = pax.Jit(pax.GradValues(lambda x: bn(x).sum(), bn.vars()), bn.vars())
    grads, _ = fixed(X)
    assert len(grads) == 1 and float(jnp.abs(bn.mean.value).sum()) > 0
