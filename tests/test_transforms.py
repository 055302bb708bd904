"""Transforms on whole models (SPEC §2): pax.grad, value_and_grad, scan, build_update_fn,
the opax optimizers, and pax.utils.

References: numpy finite differences in float64, jax.grad on a plain-JAX version of the
same computation, Python loops, and hand-written optimizer steps.
"""

import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest
from helpers import tree_allclose

import pax


def make_net(seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return pax.Sequential(pax.Linear(3, 4, rng_key=k1), jax.nn.tanh, pax.Linear(4, 2, rng_key=k2))


def make_data(seed=1, n=5):
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.normal(kx, (n, 3)), jax.random.normal(ky, (n, 2))


def plain_params(net):
    """The trainable weights of ``make_net`` as a plain dict."""
    return {"w1": net[0].weight, "b1": net[0].bias, "w2": net[2].weight, "b2": net[2].bias}


def plain_loss(p, x, y):
    """The same loss as ``mse`` below, written against the raw weights in plain JAX."""
    h = jnp.tanh(x @ p["w1"] + p["b1"])
    return jnp.mean((h @ p["w2"] + p["b2"] - y) ** 2)


def numpy_loss(p, x, y):
    h = np.tanh(x @ p["w1"] + p["b1"])
    return np.mean((h @ p["w2"] + p["b2"] - y) ** 2)


def mse(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


def numpy_grads(p, x, y):
    """The analytic gradient of ``numpy_loss`` (backpropagation written out in numpy)."""
    pre = x @ p["w1"] + p["b1"]
    h = np.tanh(pre)
    out = h @ p["w2"] + p["b2"]
    d_out = 2.0 * (out - y) / out.size
    d_pre = (d_out @ p["w2"].T) * (1.0 - h**2)
    return {
        "w1": x.T @ d_pre,
        "b1": d_pre.sum(0),
        "w2": h.T @ d_out,
        "b2": d_out.sum(0),
    }


def module_grads_as_dict(grads):
    return plain_params(grads)


def finite_differences(p, x, y, eps=1e-6):
    """Central differences of ``numpy_loss`` in float64."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    out = {}
    for name, value in p.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[idx] += eps
            minus[idx] -= eps
            g[idx] = (
                numpy_loss({**p, name: plus}, x, y) - numpy_loss({**p, name: minus}, x, y)
            ) / (2 * eps)
        out[name] = g
    return out


# -- grad / value_and_grad ----------------------------------------------------------------


def test_grad_matches_finite_differences():
    net, (x, y) = make_net(), make_data()
    grads = pax.grad(mse)(net, x, y)
    assert type(grads) is pax.Sequential
    fd = finite_differences(plain_params(net), x, y)
    tree_allclose(module_grads_as_dict(grads), fd, rtol=1e-4, atol=1e-5)
    # the numpy backpropagation used as the optimizer reference below agrees too
    p64 = {k: np.asarray(v, np.float64) for k, v in plain_params(net).items()}
    tree_allclose(
        numpy_grads(p64, np.asarray(x, np.float64), np.asarray(y, np.float64)),
        fd,
        rtol=1e-6,
        atol=1e-8,
    )


def test_grad_matches_jax_grad_on_plain_jax():
    net, (x, y) = make_net(), make_data()
    expected = jax.grad(plain_loss)(plain_params(net), x, y)
    tree_allclose(module_grads_as_dict(pax.grad(mse)(net, x, y)), expected)
    jitted = jax.jit(pax.grad(mse))(net, x, y)
    tree_allclose(module_grads_as_dict(jitted), expected)


def test_value_and_grad_matches_plain_jax():
    net, (x, y) = make_net(), make_data()
    value, grads = pax.value_and_grad(mse)(net, x, y)
    ref_value, ref_grads = jax.value_and_grad(plain_loss)(plain_params(net), x, y)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    np.testing.assert_allclose(
        value, numpy_loss(plain_params(net), np.asarray(x), np.asarray(y)), rtol=1e-5
    )
    tree_allclose(module_grads_as_dict(grads), ref_grads)


@pytest.mark.parametrize("with_value", [False, True], ids=["grad", "value_and_grad"])
def test_has_aux_returns_the_updated_model(with_value):
    bn = pax.Sequential(pax.Linear(3, 2), pax.BatchNorm1D(2))
    x, y = make_data()

    @pax.pure
    def loss_fn(model, x, y):
        model, out = pax.purecall(model, x)
        loss = jnp.mean((out - y) ** 2)
        return loss, (loss * 2, model)

    if with_value:
        (loss, (aux, new)), grads = pax.value_and_grad(loss_fn, has_aux=True)(bn, x, y)
        np.testing.assert_allclose(aux, 2 * loss, rtol=1e-6)
    else:
        grads, (aux, new) = pax.grad(loss_fn, has_aux=True)(bn, x, y)
    assert float(new[1].ema_mean.debias) == pytest.approx(1 - 0.9)  # one update
    assert float(bn[1].ema_mean.debias) == 0.0
    # state is not differentiated
    assert isinstance(grads[1].ema_mean.averages, pax.EmptyNode)
    assert isinstance(grads[1].ema_var.debias, pax.EmptyNode)
    assert grads[1].scale.shape == (1, 1, 2)

    def plain(p):
        h = x @ p["w"] + p["b"]
        mean, var = h.mean(0), h.var(0)
        out = (h - mean) * jax.lax.rsqrt(var + 1e-5) * p["scale"] + p["offset"]
        return jnp.mean((out - y) ** 2)

    p = {"w": bn[0].weight, "b": bn[0].bias, "scale": bn[1].scale, "offset": bn[1].offset}
    expected = jax.grad(plain)(p)
    got = {
        "w": grads[0].weight,
        "b": grads[0].bias,
        "scale": grads[1].scale,
        "offset": grads[1].offset,
    }
    tree_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_grad_without_aux_on_the_seed_example():
    @pax.pure
    def loss_fn(model, x, y):
        y_hat = model(x)
        loss = jnp.mean(jnp.square(y - y_hat))
        return loss, (loss, model)

    net = pax.Linear(1, 1)
    x = jnp.ones((3, 1))
    grads, (loss, net2) = pax.grad(loss_fn, has_aux=True)(net, x, x)
    err = (net.weight[0, 0] + net.bias[0]) - 1.0
    np.testing.assert_allclose(grads.weight, [[2 * err]], rtol=1e-5)
    np.testing.assert_allclose(grads.bias, [2 * err], rtol=1e-5)
    np.testing.assert_allclose(loss, err**2, rtol=1e-5)
    assert net2 == net


def test_per_example_grads_with_vmap():
    net, (x, y) = make_net(), make_data(n=4)
    per_example = jax.vmap(pax.grad(mse), in_axes=(None, 0, 0))(net, x[:, None], y[:, None])
    p64 = {k: np.asarray(v, np.float64) for k, v in plain_params(net).items()}
    x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
    for i in range(4):
        single = numpy_grads(p64, x64[i : i + 1], y64[i : i + 1])
        got = jax.tree_util.tree_map(lambda g, i=i: g[i], module_grads_as_dict(per_example))
        tree_allclose(got, single, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "transform", [pax.grad, pax.value_and_grad], ids=["grad", "value_and_grad"]
)
@pytest.mark.parametrize(
    "first", [jnp.ones(3), [pax.Linear(1, 1)], {"w": jnp.ones(1)}], ids=["array", "list", "dict"]
)
def test_non_module_first_argument_raises_type_error(transform, first):
    name = transform.__name__
    with pytest.raises(
        TypeError,
        match=rf"(?s)pax\.{name} differentiates with respect to the trainable parameters of "
        rf"its first argument, which must be a pax Module; got {type(first).__name__}.*jax\.grad",
    ):
        transform(lambda m: jnp.sum(m))(first)


# -- scan --------------------------------------------------------------------------------------


def step(carry, x):
    """A pytree carry, pytree inputs and pytree outputs."""
    total, count = carry
    total = total + x["a"] * 2.0 + x["b"][..., None]
    return (total, count + 1), {"sum": total, "pair": (x["b"] * 3.0, total.sum(-1))}


def python_scan(f, carry, xs, length):
    """The loop ``jax.lax.scan`` stands for, run in numpy (``step`` uses operators only)."""
    carry, xs = jax.tree_util.tree_map(np.asarray, (carry, xs))
    ys = []
    for t in range(length):
        carry, y = f(carry, jax.tree_util.tree_map(lambda v, t=t: v[t], xs))
        ys.append(y)
    return carry, jax.tree_util.tree_map(lambda *v: np.stack(v), *ys)


@pytest.mark.parametrize("unroll", [1, 3])
def test_scan_time_major_matches_a_python_loop(unroll):
    T, N = 5, 3
    xs = {
        "a": jax.random.normal(jax.random.PRNGKey(0), (T, N, 2)),
        "b": jnp.arange(T * N, dtype=jnp.float32).reshape(T, N),
    }
    init = (jnp.zeros((N, 2)), jnp.array(0))
    carry, ys = pax.scan(step, init, xs, unroll=unroll)
    ref_carry, ref_ys = python_scan(step, init, xs, T)
    tree_allclose((carry, ys), (ref_carry, ref_ys))
    assert ys["sum"].shape == (T, N, 2) and ys["pair"][1].shape == (T, N)


def test_scan_batch_major_matches_a_python_loop():
    T, N = 4, 3
    xs_bm = {
        "a": jax.random.normal(jax.random.PRNGKey(0), (N, T, 2)),
        "b": jnp.arange(N * T, dtype=jnp.float32).reshape(N, T),
    }
    init = (jnp.zeros((N, 2)), jnp.array(0))
    carry, ys = pax.scan(step, init, xs_bm, time_major=False)
    xs_tm = jax.tree_util.tree_map(lambda v: np.swapaxes(np.asarray(v), 0, 1), xs_bm)
    ref_carry, ref_ys = python_scan(step, init, xs_tm, T)
    ref_ys = jax.tree_util.tree_map(lambda v: np.swapaxes(np.asarray(v), 0, 1), ref_ys)
    tree_allclose((carry, ys), (ref_carry, ref_ys))
    assert ys["sum"].shape == (N, T, 2) and ys["pair"][0].shape == (N, T)


def test_scan_with_length_and_no_inputs():
    carry, ys = pax.scan(lambda c, _: (c * 2, c), jnp.array(1.0), None, length=4)
    np.testing.assert_allclose(carry, 16.0)
    np.testing.assert_allclose(ys, [1.0, 2.0, 4.0, 8.0])


def test_scan_batch_major_rejects_leaves_without_a_time_axis():
    with pytest.raises(
        ValueError,
        match=r"time_major=False\) needs every input leaf to have a batch and a time axis",
    ):
        pax.scan(lambda c, x: (c, x), 0.0, jnp.ones(3), time_major=False)


def test_scan_over_a_module_carry_matches_a_loop():
    class Accumulate(pax.Module):
        def __init__(self):
            super().__init__()
            self.fc = pax.Linear(2, 2)
            self.state = jnp.zeros((3, 2))

        def __call__(self, x):
            self.state = jnp.tanh(self.fc(x) + self.state)
            return self.state

    net = Accumulate()
    xs = jax.random.normal(jax.random.PRNGKey(2), (3, 6, 2))  # batch-major
    out_net, ys = pax.scan(lambda m, x: pax.purecall(m, x), net, xs, time_major=False)
    state = np.zeros((3, 2), np.float32)
    w, b = np.asarray(net.fc.weight), np.asarray(net.fc.bias)
    for t in range(6):
        state = np.tanh(np.asarray(xs[:, t]) @ w + b + state)
        np.testing.assert_allclose(ys[:, t], state, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_net.state, state, rtol=1e-5, atol=1e-6)


# -- build_update_fn with opax, against hand-written optimizers ---------------------------------


def adam_reference(lr_at, b1=0.9, b2=0.999, eps=1e-8, clip_norm=None):
    """A hand-written Adam step in numpy: ``(grads, state) -> (updates, state)``;
    ``lr_at(t)`` is the learning rate of step t = 1, 2, ..."""

    def init(params):
        zeros = {k: np.zeros_like(v) for k, v in params.items()}
        return {"mu": zeros, "nu": dict(zeros), "t": 0}

    def update(grads, state):
        if clip_norm is not None:
            norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
            grads = {k: g * min(clip_norm / norm, 1.0) for k, g in grads.items()}
        t = state["t"] + 1
        mu = {k: b1 * state["mu"][k] + (1 - b1) * g for k, g in grads.items()}
        nu = {k: b2 * state["nu"][k] + (1 - b2) * g * g for k, g in grads.items()}
        updates = {
            k: lr_at(t) * (mu[k] / (1 - b1**t)) / (np.sqrt(nu[k] / (1 - b2**t)) + eps)
            for k in grads
        }
        return updates, {"mu": mu, "nu": nu, "t": t}

    return init, update


def sgd_reference(lr, momentum):
    """SGD with momentum as opax defines it: ``trace = g + momentum * trace``."""

    def init(params):
        return {k: np.zeros_like(v) for k, v in params.items()}

    def update(grads, trace):
        trace = {k: g + momentum * trace[k] for k, g in grads.items()}
        return {k: lr * tr for k, tr in trace.items()}, trace

    return init, update


def decay(t):
    return 1e-2 * np.exp(-t * np.log(2.0) / 2.0)


OPTIMIZERS = [
    ("adam", lambda: opax.adam(1e-2), adam_reference(lambda t: 1e-2)),
    (
        "clip_adam",
        lambda: opax.chain(opax.clip_by_global_norm(0.1), opax.adam(1e-2)),
        adam_reference(lambda t: 1e-2, clip_norm=0.1),
    ),
    ("sgd", lambda: opax.sgd(1e-2, momentum=0.9), sgd_reference(1e-2, 0.9)),
    (
        "adam_scale_by_schedule",
        lambda: opax.chain(
            opax.scale_by_adam(),
            opax.scale_by_schedule(opax.schedule.exponential_decay(1e-2, 2, 2.0)),
        ),
        adam_reference(decay),
    ),
    (
        "adam_schedule_lr",
        lambda: opax.adam(opax.schedule.exponential_decay(1e-2, 2, 2.0)),
        adam_reference(decay),
    ),
]


def loss_with_model(model, x, y):
    loss = mse(model, x, y)
    return loss, (loss, model)


@pytest.mark.parametrize(
    "make_opt, reference", [o[1:] for o in OPTIMIZERS], ids=[o[0] for o in OPTIMIZERS]
)
def test_build_update_fn_matches_a_hand_written_optimizer(make_opt, reference):
    net, (x, y) = make_net(), make_data()
    update_fn = jax.jit(pax.build_update_fn(loss_with_model))
    optimizer = make_opt()(net.parameters())

    init, update = reference
    params = {k: np.asarray(v, np.float64) for k, v in plain_params(net).items()}
    state = init(params)
    x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
    for _ in range(4):
        net, optimizer, loss = update_fn(net, optimizer, x, y)
        ref_loss = numpy_loss(params, x64, y64)
        grads = numpy_grads(params, x64, y64)
        updates, state = update(grads, state)
        params = {k: p - updates[k] for k, p in params.items()}
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
        tree_allclose(plain_params(net), params, rtol=1e-5, atol=1e-5)
    assert isinstance(net, pax.Sequential)


def test_update_fn_jit_equals_eager_and_keeps_state():
    model = pax.Sequential(pax.BatchNorm1D(3), pax.Linear(3, 2))
    x, y = make_data()

    @pax.pure
    def loss_fn(m, x, y):
        m, out = pax.purecall(m, x)
        loss = jnp.mean((out - y) ** 2)
        return loss, (loss, m)

    update_fn = pax.build_update_fn(loss_fn)
    opt = opax.adam(1e-2)(model.parameters())
    eager = update_fn(model, opt, x, y)
    jitted = jax.jit(update_fn)(model, opt, x, y)
    tree_allclose(eager, jitted, rtol=1e-5, atol=1e-6)
    new_model = eager[0]
    # state updated by the loss function survives
    assert float(new_model[0].ema_mean.debias) == pytest.approx(1 - 0.9)
    assert not (np.asarray(new_model[1].weight) == np.asarray(model[1].weight)).any()


def test_scan_mode_inside_pax_scan_matches_a_loop():
    net = make_net()
    xs, ys = (
        jax.random.normal(jax.random.PRNGKey(3), (6, 5, 3)),
        jax.random.normal(jax.random.PRNGKey(4), (6, 5, 2)),
    )

    def loss_fn(model, batch):
        x, y = batch
        loss = mse(model, x, y)
        return loss, (loss, model)

    scan_update = pax.build_update_fn(loss_fn, scan_mode=True)
    opt = opax.adam(1e-2)(net.parameters())
    (net_s, opt_s), losses = jax.jit(lambda c, b: pax.scan(scan_update, c, b))((net, opt), (xs, ys))

    loop_update = jax.jit(pax.build_update_fn(loss_fn))
    net_l, opt_l, loop_losses = net, opt, []
    for t in range(6):
        net_l, opt_l, loss = loop_update(net_l, opt_l, (xs[t], ys[t]))
        loop_losses.append(loss)
    np.testing.assert_allclose(losses, loop_losses, rtol=1e-5, atol=1e-6)
    tree_allclose((net_s, opt_s), (net_l, opt_l), rtol=1e-5, atol=1e-6)


BAD_LOSS_FNS = [
    ("only_loss", lambda m, x, y: mse(m, x, y), "it returned"),
    (
        "no_pair",
        lambda m, x, y: (mse(m, x, y), 1.0),
        r"the second element is not a pair `\(aux, model\)`",
    ),
    (
        "none_model",
        lambda m, x, y: (mse(m, x, y), (1.0, None)),
        r"does not have the structure .*got NoneType",
    ),
    (
        "other_model",
        lambda m, x, y: (mse(m, x, y), (1.0, pax.Linear(3, 2))),
        r"does not have the structure .*got Linear",
    ),
]


@pytest.mark.parametrize(
    "loss_fn, match", [b[1:] for b in BAD_LOSS_FNS], ids=[b[0] for b in BAD_LOSS_FNS]
)
def test_loss_fn_that_does_not_return_the_model_raises(loss_fn, match):
    net, (x, y) = make_net(), make_data()
    update_fn = pax.build_update_fn(loss_fn)
    with pytest.raises(ValueError, match=r"must return `\(loss, \(aux, model\)\)`.*" + match):
        update_fn(net, opax.adam(1e-3)(net.parameters()), x, y)


def test_update_fn_argument_type_errors():
    net, (x, y) = make_net(), make_data()
    update_fn = pax.build_update_fn(loss_with_model)
    with pytest.raises(TypeError, match="expects a pax model first"):
        update_fn(plain_params(net), opax.adam(1e-3)(net.parameters()), x, y)
    with pytest.raises(TypeError, match="expects an optimizer module second"):
        update_fn(net, None, x, y)


def test_seed_example_of_build_update_fn():
    def mse_loss(model, x, y):
        y_hat = model(x)
        loss = jnp.mean(jnp.square(y - y_hat))
        return loss, (loss, model)

    update_fn = pax.utils.build_update_fn(mse_loss)
    net = pax.Linear(2, 2)
    optimizer = opax.adam(1e-4)(net.parameters())
    x, y = jnp.ones((32, 2)), jnp.zeros((32, 2))
    net2, optimizer, loss = update_fn(net, optimizer, x, y)
    np.testing.assert_allclose(
        loss,
        np.mean((np.ones((32, 2)) @ np.asarray(net.weight) + np.asarray(net.bias)) ** 2),
        rtol=1e-5,
    )
    assert isinstance(net2, pax.Linear) and net2 != net


# -- opax helpers on pax modules ----------------------------------------------------------------


def test_opax_apply_gradients_and_transform_gradients():
    net, (x, y) = make_net(), make_data()
    optimizer = opax.adam(1e-2)(net.parameters())
    grads = pax.grad(mse)(net, x, y)

    updates, opt_a = opax.transform_gradients(grads, optimizer, net.parameters())
    g = module_grads_as_dict(grads)
    expected_updates = jax.tree_util.tree_map(
        lambda g: 1e-2 * g / (jnp.abs(g) + 1e-8), g
    )  # first Adam step
    tree_allclose(module_grads_as_dict(updates), expected_updates, rtol=1e-5, atol=1e-7)
    assert int(opt_a[0].count) == 1 and int(optimizer[0].count) == 0

    new_net, opt_b = opax.apply_gradients(net, optimizer, grads)
    ref_net, ref_opt, _ = pax.build_update_fn(loss_with_model)(net, optimizer, x, y)
    tree_allclose((new_net, opt_b), (ref_net, ref_opt))
    tree_allclose(
        plain_params(new_net),
        jax.tree_util.tree_map(lambda p, u: p - u, plain_params(net), expected_updates),
        rtol=1e-5,
        atol=1e-6,
    )


# -- pax.utils, replicate, unreplicate ---------------------------------------------------------


@pytest.mark.parametrize("name", ["build_update_fn", "grad", "scan", "replicate", "unreplicate"])
def test_pax_utils_exposes(name):
    assert callable(getattr(pax.utils, name))
    if hasattr(pax, name):
        assert getattr(pax.utils, name) is getattr(pax, name)


def test_replicate_and_unreplicate_with_pmap():
    n = jax.local_device_count()
    assert n == 8  # tests/conftest.py forces 8 host devices
    net, (x, _) = make_net(), make_data()
    replicated = pax.utils.replicate(net)
    assert isinstance(replicated, pax.Sequential)
    assert replicated[0].weight.shape == (n, 3, 4)
    xs = jnp.stack([x + i for i in range(n)])
    out = jax.pmap(lambda m, x: m(x))(replicated, xs)
    for i in range(n):
        np.testing.assert_allclose(out[i], net(xs[i]), rtol=1e-5, atol=1e-6)
    back = pax.utils.unreplicate(replicated)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(net)
    tree_allclose(back, net, rtol=0, atol=0)


def test_update_fn_under_pmap_with_replicated_model_and_optimizer():
    net, (x, y) = make_net(), make_data()
    devices = jax.local_devices()[:2]
    optimizer = opax.adam(1e-2)(net.parameters())
    model_r, opt_r = pax.utils.replicate((net, optimizer), devices=devices)
    assert model_r[0].bias.shape == (2, 4)
    xs, ys = jnp.stack([x, 2 * x]), jnp.stack([y, -y])
    update_fn = pax.build_update_fn(loss_with_model)
    new_r, opt_r, losses = jax.pmap(update_fn, devices=devices)(model_r, opt_r, xs, ys)
    for i in range(2):
        ref_net, ref_opt, ref_loss = update_fn(net, optimizer, xs[i], ys[i])
        np.testing.assert_allclose(losses[i], ref_loss, rtol=1e-5)
        tree_allclose(
            jax.tree_util.tree_map(lambda v, i=i: v[i], (new_r, opt_r)),
            (ref_net, ref_opt),
            rtol=1e-5,
            atol=1e-6,
        )


@pytest.mark.parametrize("transform", [pax.grad, pax.value_and_grad])
def test_extra_keyword_arguments_go_to_the_jax_transform(transform):
    net = pax.Linear(2, 1)
    x = jnp.ones((1, 2))
    out = transform(lambda m, x: jnp.sum(m(x)), allow_int=True)(net, x)
    grads = out if transform is pax.grad else out[1]
    np.testing.assert_allclose(grads.weight, jnp.ones((2, 1)), rtol=1e-6)
    with pytest.raises(ValueError, match="`argnums` is not supported"):
        transform(lambda m, x: jnp.sum(m(x)), argnums=1)
