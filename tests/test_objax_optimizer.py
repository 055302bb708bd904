"""``pax.optimizer``: Objax's SGD, Momentum, Adam, LARS and moving averages (issue 17)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax

SHAPES = [(3, 2), (2,)]
STEPS = 3
LR = 0.05


def _grads(step: int):
    rng = np.random.default_rng(step)
    return [rng.normal(size=s).astype(np.float32) for s in SHAPES]


def _initial():
    rng = np.random.default_rng(100)
    return [rng.normal(size=s).astype(np.float32) for s in SHAPES]


# -- numpy references of the update rules (float64), written from the formulas -------


def sgd_reference(params, grads, state, lr):
    return [p - lr * g for p, g in zip(params, grads)], state


def momentum_reference(mu, nesterov):
    def step(params, grads, state, lr):
        m = state or [np.zeros_like(p) for p in params]
        m = [g + mu * mi for g, mi in zip(grads, m)]
        direction = [g + mu * mi for g, mi in zip(grads, m)] if nesterov else m
        return [p - lr * d for p, d in zip(params, direction)], m

    return step


def adam_reference(b1, b2, eps):
    def step(params, grads, state, lr):
        t, m, v = state or (
            0,
            [np.zeros_like(p) for p in params],
            [np.zeros_like(p) for p in params],
        )
        t += 1
        m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
        v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
        m_hat = [mi / (1 - b1**t) for mi in m]
        v_hat = [vi / (1 - b2**t) for vi in v]
        # Objax's eps sits inside the square root, before the bias correction
        new = [
            p - lr * mh / np.sqrt(vh + eps / (1 - b2**t)) for p, mh, vh in zip(params, m_hat, v_hat)
        ]
        return new, (t, m, v)

    return step


def lars_reference(mu, wd, tc, eps):
    def step(params, grads, state, lr):
        m = state or [np.zeros_like(p) for p in params]
        new_m, new_p = [], []
        for p, g, mi in zip(params, grads, m):
            p_norm, g_norm = np.linalg.norm(p), np.linalg.norm(g)
            trust = tc * p_norm / (g_norm + wd * p_norm + eps)
            if p_norm == 0 or g_norm == 0:
                trust = max(1.0, trust)
            mi = mu * mi + lr * trust * (g + wd * p)
            new_m.append(mi)
            new_p.append(p - mi)
        return new_p, new_m

    return step


OPTIMIZERS = {
    "sgd": (lambda vc: pax.optimizer.SGD(vc), sgd_reference),
    "momentum": (
        lambda vc: pax.optimizer.Momentum(vc, momentum=0.8),
        momentum_reference(0.8, False),
    ),
    "nesterov": (
        lambda vc: pax.optimizer.Momentum(vc, momentum=0.7, nesterov=True),
        momentum_reference(0.7, True),
    ),
    "adam": (lambda vc: pax.optimizer.Adam(vc), adam_reference(0.9, 0.999, 1e-8)),
    "adam_betas": (
        lambda vc: pax.optimizer.Adam(vc, beta1=0.5, beta2=0.9, eps=1e-3),
        adam_reference(0.5, 0.9, 1e-3),
    ),
    "lars": (lambda vc: pax.optimizer.LARS(vc), lars_reference(0.9, 1e-4, 1e-3, 1e-5)),
    "lars_weight_decay": (
        lambda vc: pax.optimizer.LARS(vc, momentum=0.5, weight_decay=0.1, tc=0.5),
        lars_reference(0.5, 0.1, 0.5, 1e-5),
    ),
}


def _variables():
    vs = [pax.TrainVar(jnp.asarray(x)) for x in _initial()]
    state = pax.StateVar(jnp.ones(4))
    vc = pax.VarCollection({"a": vs[0], "b": vs[1], "shared": vs[0], "s": state})
    return vs, state, vc


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_update_rule_matches_numpy_reference(name):
    make, reference = OPTIMIZERS[name]
    vs, state, vc = _variables()
    opt = make(vc)
    assert len(opt.train_vars) == 2  # each TrainVar once, the StateVar left out
    params, ref_state = [x.astype(np.float64) for x in _initial()], None
    for step in range(STEPS):
        opt(LR, _grads(step))
        params, ref_state = reference(
            params, [g.astype(np.float64) for g in _grads(step)], ref_state, LR
        )
        for v, p in zip(vs, params):
            np.testing.assert_allclose(v.value, p, rtol=2e-5, atol=2e-6)
            assert v.value.dtype == jnp.float32
    np.testing.assert_array_equal(state.value, np.ones(4))


class Regressor(pax.Module):
    """An Objax-style model: a TrainVar, a PAX-style Linear and a counter StateVar."""

    def __init__(self):
        super().__init__()
        self.scale = pax.TrainVar(jnp.ones(1))
        self.fc = pax.Linear(3, 1, rng_key=jax.random.PRNGKey(0))
        self.calls = pax.StateVar(jnp.array(0))

    def __call__(self, x):
        self.calls.value += 1
        return self.scale * self.fc(x)


def _train(name, jit, steps=3):
    make, _ = OPTIMIZERS[name]
    model = Regressor()
    opt = make(model.vars())
    gv = pax.GradValues(lambda x, y: jnp.mean((model(x) - y) ** 2), model.vars())

    def train_op(x, y, lr):
        grads, (loss,) = gv(x, y)
        opt(lr, grads)
        return loss

    if jit:
        train_op = pax.Jit(train_op, model.vars() + opt.vars())
    x = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
    y = jnp.arange(4.0).reshape(4, 1)
    losses = [float(train_op(x, y, jnp.float32(0.1))) for _ in range(steps)]
    return losses, model.vars().tensors() + opt.vars().tensors()


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adam", "lars"])
def test_jit_equals_eager_with_grad_values(name):
    eager_losses, eager_tensors = _train(name, jit=False)
    jit_losses, jit_tensors = _train(name, jit=True)
    np.testing.assert_allclose(jit_losses, eager_losses, rtol=1e-5)
    for a, b in zip(jit_tensors, eager_tensors):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert eager_losses[-1] < eager_losses[0]
    assert int(jit_tensors[3]) == 3  # the model's counter came back out of pax.Jit


def test_bfloat16_variables_keep_their_dtype():
    w = pax.TrainVar(jnp.ones(3, jnp.bfloat16))
    opt = pax.optimizer.Adam(pax.VarCollection({"w": w}))
    opt(jnp.float32(0.1), [jnp.ones(3, jnp.bfloat16)])
    assert w.value.dtype == jnp.bfloat16 and opt.m[0].value.dtype == jnp.bfloat16
    np.testing.assert_allclose(w.value.astype(np.float32), 0.9, rtol=1e-2)


def test_call_time_overrides_follow_objax():
    make_vars = lambda: pax.VarCollection({"w": pax.TrainVar(jnp.zeros(2))})  # noqa: E731
    vc_a, vc_b = make_vars(), make_vars()
    pax.optimizer.Momentum(vc_a, momentum=0.9)(1.0, [jnp.ones(2)], momentum=0.5)
    pax.optimizer.Momentum(vc_b, momentum=0.5)(1.0, [jnp.ones(2)])
    np.testing.assert_array_equal(vc_a["w"].value, vc_b["w"].value)
    vc_a, vc_b = make_vars(), make_vars()
    pax.optimizer.Adam(vc_a)(0.1, [jnp.ones(2)], beta1=0.5, beta2=0.9)
    pax.optimizer.Adam(vc_b, beta1=0.5, beta2=0.9)(0.1, [jnp.ones(2)])
    np.testing.assert_array_equal(vc_a["w"].value, vc_b["w"].value)


# -- error paths: a clear message, and nothing changed -----------------------------------


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_wrong_number_of_gradients(name):
    vs, _, vc = _variables()
    opt = OPTIMIZERS[name][0](vc)
    before = [v.value for v in vs] + opt.vars().tensors()
    with pytest.raises(ValueError, match=r"trains 2 variables but got 1 gradients; nothing"):
        opt(LR, _grads(0)[:1])
    for a, b in zip(before, [v.value for v in vs] + opt.vars().tensors()):
        assert a is b


def test_wrong_gradient_shape_names_the_variable():
    w = pax.TrainVar(jnp.zeros((2, 2)))
    opt = pax.optimizer.SGD(pax.VarCollection({"w": w}))
    with pytest.raises(
        ValueError, match=r"gradient 0 has the shape \(2,\) .* `w`, has the shape \(2, 2\)"
    ):
        opt(0.1, [jnp.ones(2)])
    np.testing.assert_array_equal(w.value, np.zeros((2, 2)))


def test_swapped_arguments_and_bad_inputs():
    vc = pax.VarCollection({"w": pax.TrainVar(jnp.zeros(2))})
    opt = pax.optimizer.Adam(vc)
    with pytest.raises(TypeError, match=r"`opt\(lr, grads\)`, learning rate first"):
        opt([jnp.ones(2)], 0.1)
    with pytest.raises(TypeError, match="one gradient per trained variable"):
        opt(0.1, jnp.ones(2))
    with pytest.raises(TypeError, match=r"pax.optimizer.SGD\(model.vars\(\)\)"):
        pax.optimizer.SGD([pax.TrainVar(jnp.zeros(2))])
    assert int(opt.step.value) == 0


# -- moving averages -------------------------------------------------------------------


@pytest.mark.parametrize("debias", [False, True])
def test_exponential_moving_average_matches_numpy(debias):
    w = pax.TrainVar(jnp.zeros(3))
    s = pax.StateVar(jnp.ones(2))
    counter = pax.StateVar(jnp.array(0))
    rng_state = pax.RandomState(0)
    vc = pax.VarCollection({"w": w, "ref": pax.TrainRef(w), "s": s, "n": counter, "r": rng_state})
    momentum, eps = 0.8, 1e-6
    ema = pax.optimizer.ExponentialMovingAverage(vc, momentum=momentum, debias=debias, eps=eps)
    # w once (also through its TrainRef), s; not the integer counter or the random state
    assert [r.ref for r in ema.refs] == [s, w]
    avg_w, avg_s = np.zeros(3), np.zeros(2)
    for step in range(1, 5):
        w.assign(jnp.full(3, float(step)))
        s.value = jnp.full(2, -float(step))
        ema()
        avg_w = momentum * avg_w + (1 - momentum) * step
        avg_s = momentum * avg_s + (1 - momentum) * -step
    factor = 1 / (1 - (1 - eps) * momentum**4) if debias else 1.0
    refs, values = ema.refs_and_values()
    assert list(refs) == list(ema.refs)
    np.testing.assert_allclose(values[0], avg_s * factor, rtol=1e-6)
    np.testing.assert_allclose(values[1], avg_w * factor, rtol=1e-6)
    seen = ema.replace_vars(lambda: (np.asarray(w), np.asarray(s)))()
    np.testing.assert_allclose(seen[0], avg_w * factor, rtol=1e-6)
    np.testing.assert_allclose(seen[1], avg_s * factor, rtol=1e-6)
    # restored afterwards
    np.testing.assert_array_equal(w.value, np.full(3, 4.0))
    np.testing.assert_array_equal(s.value, np.full(2, -4.0))


def test_replace_vars_restores_on_error():
    w = pax.TrainVar(jnp.ones(2))
    ema = pax.optimizer.ExponentialMovingAverage(pax.VarCollection({"w": w}))

    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ema.replace_vars(fails)()
    np.testing.assert_array_equal(w.value, np.ones(2))


def test_ema_module_trains_alongside_under_jit():
    model = Regressor()
    opt = pax.optimizer.SGD(model.vars())
    ema_model = pax.optimizer.ExponentialMovingAverageModule(model, momentum=0.5)
    gv = pax.GradValues(lambda x, y: jnp.mean((model(x) - y) ** 2), model.vars())

    @pax.Function.with_vars(model.vars() + opt.vars() + ema_model.vars())
    def train_op(x, y):
        grads, (loss,) = gv(x, y)
        opt(0.1, grads)
        ema_model.update_ema()
        return loss

    train_op = pax.Jit(train_op)
    x, y = jnp.ones((2, 3)), jnp.zeros((2, 1))
    weights = []
    for _ in range(3):
        train_op(x, y)
        weights.append(
            (np.asarray(model.scale), np.asarray(model.fc.weight), np.asarray(model.fc.bias))
        )
    expected = [np.zeros_like(w) for w in weights[0]]
    for step_weights in weights:
        expected = [0.5 * e + 0.5 * w for e, w in zip(expected, step_weights)]
    scale, weight, bias = expected
    with_averages = ema_model(x)
    np.testing.assert_allclose(with_averages, scale * (x @ weight + bias), rtol=1e-5)
    np.testing.assert_array_equal(model.fc.weight, weights[-1][1])  # restored
    assert int(ema_model.ema.step.value) == 3
