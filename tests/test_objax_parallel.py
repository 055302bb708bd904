"""pax.Parallel and VarCollection.replicate on 8 host devices (SPEC §4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from test_objax_jit import ObjaxMomentum

import pax

N = jax.local_device_count()
X = jnp.linspace(-1.0, 1.0, 3 * 4 * N).reshape(4 * N, 3)


def test_eight_devices():
    assert N == 8  # tests/conftest.py forces 8 host devices


def test_parallel_module_equals_single_device():
    m = pax.Sequential(pax.Linear(3, 2), jax.nn.relu)
    para_m = pax.Parallel(m)
    with m.vars().replicate():
        y = para_m(X)
    np.testing.assert_allclose(y, m(X), rtol=1e-6)
    assert m[0].weight.shape == (3, 2)


def test_parallel_needs_replicated_variables_and_divisible_batches():
    m = pax.Linear(3, 2)
    para_m = pax.Parallel(m)
    with pytest.raises(
        ValueError, match=r"(?s)TrainVarView `\(Linear\).weight` is not.*replicate\(\)"
    ):
        para_m(X)
    with m.vars().replicate():
        with pytest.raises(
            ValueError, match=r"got an array of shape \(3, 3\); use a batch size divisible by 8"
        ):
            para_m(X[:3])


def test_per_device_random_states_differ():
    gen = pax.random.Generator(0)
    noise = pax.Parallel(lambda x: x + pax.random.normal((1,), generator=gen), gen.vars())
    with gen.vars().replicate():
        out = noise(jnp.zeros(N))
    assert len(set(np.asarray(out).tolist())) == N
    assert gen.key.value.shape == (2,)


def test_batchnorm_statistics_are_averaged_over_devices():
    bn = pax.BatchNorm1D(3)
    ref, _ = pax.purecall(bn, X)
    para_bn = pax.Parallel(bn)
    with bn.vars().replicate():
        y = para_bn(X)
        assert bn.ema_mean.averages.shape == (N, 1, 1, 3)
    assert y.shape == X.shape
    np.testing.assert_allclose(bn.ema_mean.averages, ref.ema_mean.averages, rtol=1e-5, atol=1e-7)
    assert bn.ema_mean.debias.shape == ()
    assert bn.ema_mean.debias.dtype == jnp.float32
    assert float(bn.ema_mean.debias) == pytest.approx(1 - 0.9)


def test_data_parallel_training_equals_single_device_training():
    x = X
    y = jnp.sin(x.sum(1, keepdims=True))
    lr, steps = 0.1, 5
    model = pax.Sequential(pax.Linear(3, 8), jnp.tanh, pax.Linear(8, 1))
    single = model.copy()

    def make_train_op(net, axis_name=None):
        opt = ObjaxMomentum(net.vars())
        gv = pax.GradValues(lambda x, y: jnp.mean((net(x) - y) ** 2), net.vars())

        @pax.Function.with_vars(net.vars() + opt.vars())
        def train_op(x, y, lr):
            g, (loss,) = gv(x, y)
            if axis_name:
                g = [jax.lax.pmean(t, axis_name) for t in g]
                loss = jax.lax.pmean(loss, axis_name)
            opt(lr, g)
            return loss

        return train_op

    train_op = make_train_op(model, "device")
    para_train = pax.Parallel(train_op, reduce=lambda t: t[0], static_argnums=(2,))
    with train_op.vars().replicate():
        para_losses = [float(para_train(x, y, lr)) for _ in range(steps)]

    single_train = pax.Jit(make_train_op(single))
    single_losses = [float(single_train(x, y, lr)) for _ in range(steps)]

    assert para_losses[-1] < para_losses[0]
    np.testing.assert_allclose(para_losses, single_losses, rtol=1e-5)
    tree_allclose(model, single, rtol=1e-5, atol=1e-6)
