"""End-to-end training: the four ways people use pax, each asserting a loss target.

1. a ``pax.pure`` training step under ``jax.jit`` with plain gradient descent;
2. ``pax.build_update_fn`` with ``opax.adam``, in a Python loop and as a
   ``pax.scan`` body (``scan_mode=True``), with identical results;
3. an LSTM trained through ``pax.scan(..., time_major=False)``;
4. ``jax.pmap`` over whole replicated models and optimizers; and a model with
   BatchNorm (state that changes in training) trained with ``build_update_fn``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest
from helpers import tree_allclose

import pax


def _key(i: int) -> jax.Array:
    return jax.random.PRNGKey(i)


def mlp(in_dim: int = 1, hidden: int = 32, out_dim: int = 1, seed: int = 0) -> pax.Sequential:
    k1, k2 = jax.random.split(_key(seed))
    return pax.Sequential(
        pax.Linear(in_dim, hidden, rng_key=k1), jnp.tanh, pax.Linear(hidden, out_dim, rng_key=k2)
    )


def sine_data(n: int = 128, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    x = jax.random.uniform(_key(seed), (n, 1), minval=-3.0, maxval=3.0)
    return x, jnp.sin(x)


def mse(model, x, y) -> jax.Array:
    return jnp.mean(jnp.square(model(x) - y))


# -- 1. a pure functional step under jit -----------------------------------------------


def test_pure_functional_step_under_jit():
    x, y = sine_data()
    lr = 0.05  # plain gradient descent diverges on this problem from about 0.08

    @jax.jit
    @pax.pure
    def train_step(model: pax.Sequential, x, y):
        params = model.parameters()
        loss, grads = jax.value_and_grad(lambda p: mse(model.update_parameters(p), x, y))(params)
        new_params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        return model.update_parameters(new_params), loss

    model = mlp()
    initial = model
    first_loss = float(mse(model, x, y))
    for _ in range(1500):
        model, loss = train_step(model, x, y)
    final_loss = float(mse(model, x, y))
    assert first_loss > 0.1
    assert final_loss < 0.01, final_loss
    assert float(loss) < 0.01
    # the original model was not touched, and the structure is unchanged
    assert float(mse(initial, x, y)) == first_loss
    pax.assert_structure_equal(model, initial)


def test_pax_grad_equals_jax_grad_on_parameters():
    x, y = sine_data()
    model = mlp()
    g_pax = pax.grad(mse)(model, x, y)
    g_jax = jax.grad(lambda p: mse(model.update_parameters(p), x, y))(model.parameters())
    tree_allclose(g_pax, g_jax, rtol=1e-6, atol=1e-7)
    value, g_vag = pax.value_and_grad(mse)(model, x, y)
    tree_allclose(g_vag, g_pax, rtol=1e-6, atol=1e-7)
    assert float(value) == pytest.approx(float(mse(model, x, y)), rel=1e-6)


# -- 2. build_update_fn with opax, in a loop and as a scan body ---------------------


def regression_loss(model, batch):
    x, y = batch
    model, y_hat = pax.purecall(model, x)
    loss = jnp.mean(jnp.square(y_hat - y))
    return loss, (loss, model)


def batches(num_steps: int, batch_size: int = 32, seed: int = 1):
    x, y = sine_data(num_steps * batch_size, seed=seed)
    return x.reshape(num_steps, batch_size, 1), y.reshape(num_steps, batch_size, 1)


def test_build_update_fn_adam_loop_and_scan_agree():
    num_steps = 300
    xs, ys = batches(num_steps)
    model = mlp()
    optimizer = opax.adam(1e-2)(model.parameters())

    update_fn = jax.jit(pax.build_update_fn(regression_loss))
    loop_model, loop_optimizer, loop_losses = model, optimizer, []
    for step in range(num_steps):
        loop_model, loop_optimizer, loss = update_fn(
            loop_model, loop_optimizer, (xs[step], ys[step])
        )
        loop_losses.append(loss)

    scan_update_fn = pax.build_update_fn(regression_loss, scan_mode=True)

    @jax.jit
    def train(model, optimizer, xs, ys):
        return pax.scan(scan_update_fn, (model, optimizer), (xs, ys))

    (scan_model, scan_optimizer), scan_losses = train(model, optimizer, xs, ys)

    assert scan_losses.shape == (num_steps,)
    tree_allclose(scan_losses, jnp.stack(loop_losses), rtol=1e-4, atol=1e-6)
    tree_allclose(scan_model, loop_model, rtol=1e-4, atol=1e-6)
    tree_allclose(scan_optimizer, loop_optimizer, rtol=1e-4, atol=1e-6)

    x_test, y_test = sine_data(256, seed=7)
    assert float(mse(mlp(), x_test, y_test)) > 0.1
    assert float(mse(scan_model, x_test, y_test)) < 0.02
    assert float(jnp.mean(scan_losses[-20:])) < 0.02
    # opax counted the steps
    counts = [x for x in jax.tree_util.tree_leaves(scan_optimizer) if x.dtype == jnp.int32]
    assert counts and all(int(c) == num_steps for c in counts)


def test_build_update_fn_rejects_a_bad_loss_fn():
    update_fn = pax.build_update_fn(lambda model, x: jnp.sum(model(x)))
    model = pax.Linear(1, 1)
    with pytest.raises(ValueError, match=r"must return `\(loss, \(aux, model\)\)`"):
        update_fn(model, opax.adam(1e-3)(model.parameters()), jnp.ones((2, 1)))


# -- 3. an LSTM trained through pax.scan(time_major=False) ------------------------------


class RunningSum(pax.Module):
    """LSTM over (N, T, 1) inputs; predicts the running sum at every step."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        k1, k2 = jax.random.split(_key(3))
        self.lstm = pax.LSTM(1, hidden, forget_gate_bias=1.0, rng_key=k1)
        self.head = pax.Linear(hidden, 1, rng_key=k2)

    def __call__(self, xs: jax.Array) -> jax.Array:
        state = self.lstm.initial_state(xs.shape[0])
        _, hs = pax.scan(self.lstm, state, xs, time_major=False)
        return self.head(hs)


def running_sum_data(n: int, t: int, seed: int):
    xs = jax.random.uniform(_key(seed), (n, t, 1), minval=-1.0, maxval=1.0)
    return xs, jnp.cumsum(xs, axis=1) / 2.0


def test_lstm_scan_training_batch_major():
    xs, ys = running_sum_data(64, 10, seed=0)
    model = RunningSum()
    assert model(xs).shape == (64, 10, 1)
    optimizer = opax.adam(1e-2)(model.parameters())

    def loss_fn(model, xs, ys):
        loss = jnp.mean(jnp.square(model(xs) - ys))
        return loss, (loss, model)

    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    x_test, y_test = running_sum_data(128, 10, seed=1)
    initial_loss = float(mse(model, x_test, y_test))
    num_steps = 250
    train_xs, train_ys = running_sum_data(64 * num_steps, 10, seed=2)
    for step in range(num_steps):
        batch = slice(64 * step, 64 * (step + 1))
        model, optimizer, loss = update_fn(model, optimizer, train_xs[batch], train_ys[batch])
    test_loss = float(mse(model, x_test, y_test))
    assert initial_loss > 0.3
    assert test_loss < 0.01, test_loss


# -- 4. pmap over whole models --------------------------------------------------------


def test_pmap_data_parallel_matches_single_device():
    n = jax.local_device_count()
    assert n == 8, "tests/conftest.py forces 8 host devices"
    num_steps, per_device = 25, 8
    x, y = sine_data(n * per_device, seed=2)
    model = mlp(hidden=16)
    optimizer = opax.adam(1e-2)(model.parameters())

    def step(model, optimizer, x, y, axis_name=None):
        loss, grads = pax.value_and_grad(mse)(model, x, y)
        if axis_name is not None:
            grads = jax.lax.pmean(grads, axis_name)
            loss = jax.lax.pmean(loss, axis_name)
        model, optimizer = opax.apply_gradients(model, optimizer, grads)
        return model, optimizer, loss

    p_step = jax.pmap(lambda m, o, x, y: step(m, o, x, y, "batch"), axis_name="batch")
    r_model = pax.utils.replicate(model)
    r_optimizer = pax.utils.replicate(optimizer)
    assert r_model[0].weight.shape == (n, 1, 16)
    x_sharded = x.reshape(n, per_device, 1)
    y_sharded = y.reshape(n, per_device, 1)

    single_step = jax.jit(step)
    s_model, s_optimizer = model, optimizer
    for _ in range(num_steps):
        r_model, r_optimizer, r_loss = p_step(r_model, r_optimizer, x_sharded, y_sharded)
        s_model, s_optimizer, s_loss = single_step(s_model, s_optimizer, x, y)

    # every device holds the same model and optimizer
    for leaf in jax.tree_util.tree_leaves((r_model, r_optimizer, r_loss)):
        leaf = np.asarray(leaf)
        for i in range(1, n):
            np.testing.assert_array_equal(leaf[i], leaf[0])
    # and they equal a single-device run on the same global batch
    tree_allclose(pax.utils.unreplicate(r_model), s_model, rtol=1e-4, atol=1e-5)
    tree_allclose(pax.utils.unreplicate(r_optimizer), s_optimizer, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r_loss[0], s_loss, rtol=1e-4)
    assert float(s_loss) < float(mse(model, x, y))
    pax.assert_structure_equal(pax.utils.unreplicate(r_model), model)


def test_batch_norm_model_trains_with_build_update_fn():
    x, y = sine_data(256, seed=4)
    k1, k2 = jax.random.split(_key(5))
    model = pax.Sequential(
        pax.Linear(1, 32, rng_key=k1),
        pax.BatchNorm1D(32, decay_rate=0.9),
        jax.nn.relu,
        pax.Linear(32, 1, rng_key=k2),
    )
    optimizer = opax.adam(1e-2)(model.parameters())

    def loss_fn(model, x, y):
        model, y_hat = pax.purecall(model, x)
        loss = jnp.mean(jnp.square(y_hat - y))
        return loss, (loss, model)

    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    num_steps = 400
    rng = np.random.default_rng(0)
    for _ in range(num_steps):
        idx = rng.choice(256, 64, replace=False)
        model, optimizer, loss = update_fn(model, optimizer, x[idx], y[idx])

    bn = model[1]
    assert float(bn.ema_mean.debias) == pytest.approx(1 - 0.9**num_steps)
    assert float(jnp.max(jnp.abs(bn.ema_mean.averages))) > 0.0
    # BatchNorm state is not trained: it is absent from the parameters and the optimizer
    assert len(jax.tree_util.tree_leaves(bn.parameters())) == 2
    assert float(loss) < 0.02, float(loss)
    eval_loss = float(mse(model.eval(), x, y))
    assert eval_loss < 0.03, eval_loss
