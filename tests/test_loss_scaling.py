"""Half-precision training with jmp's dynamic loss scale: non-finite steps are skipped."""

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import opax
import pytest
from helpers import tree_allclose
from layer_registry import key, normal

import pax

F16 = jmp.get_policy("params=float32,compute=float16,output=float32")


def make_net(mixed_precision: bool = True) -> pax.Sequential:
    net = pax.Sequential(
        pax.Linear(4, 8, rng_key=key(0)), jnp.tanh, pax.Linear(8, 1, rng_key=key(1))
    )
    return net.apply(pax.default_mp_policy) if mixed_precision else net


def without_policy(net: pax.Sequential) -> pax.Sequential:
    return pax.Sequential(*(pax.unwrap_mp_policy(m) if i != 1 else m for i, m in enumerate(net)))


def assert_same(a, b):
    tree_allclose(a, b, rtol=0, atol=0)


def loss_fn(net, x, y):
    net, y_hat = pax.purecall(net, x)
    return jnp.mean(jnp.square(y_hat - y)), net


@jax.jit
def train_step(net, optimizer, loss_scale, x, y):
    """One SGD step on the scaled loss; skipped (and the scale lowered) on overflow."""

    def scaled_loss(net):
        loss, net = loss_fn(net, x, y)
        return loss_scale.scale(loss), (loss, net)

    grads, (loss, net) = pax.grad(scaled_loss, has_aux=True)(net)
    grads = loss_scale.unscale(grads)
    finite = jmp.all_finite(grads)
    loss_scale = loss_scale.adjust(finite)
    new_optimizer, updates = pax.purecall(optimizer, grads, params=net.parameters())
    new_net = net.update_parameters(jax.tree_util.tree_map(jnp.subtract, net.parameters(), updates))
    net, optimizer = jmp.select_tree(finite, (new_net, new_optimizer), (net, optimizer))
    return net, optimizer, loss_scale, loss, finite


@pytest.fixture
def data():
    x = normal(0, (16, 4))
    return x, jnp.sin(x.sum(-1, keepdims=True))


def test_finite_steps_follow_the_float32_gradient(data):
    x, y = data
    net = make_net()
    optimizer = opax.sgd(0.1)(net.parameters())
    loss_scale = jmp.DynamicLossScale(jnp.float32(2.0**10), period=2)
    net2, _, loss_scale2, loss, finite = train_step(net, optimizer, loss_scale, x, y)
    assert bool(finite) and np.isfinite(float(loss))
    # the unscaled float16 gradient step lands near the float32 one
    f32 = make_net(mixed_precision=False)
    grads = pax.grad(lambda n: loss_fn(n, x, y)[0])(f32)
    expected = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, f32.parameters(), grads)
    tree_allclose(without_policy(net2).parameters(), expected, rtol=2e-2, atol=2e-3)
    for leaf in jax.tree_util.tree_leaves(net2):
        assert leaf.dtype == jnp.float32  # weights stay in float32
    # after `period` finite steps the scale doubles
    _, _, loss_scale3, _, _ = train_step(net2, optimizer, loss_scale2, x, y)
    assert float(loss_scale3.loss_scale) == 2.0**11


def test_overflow_skips_the_update_and_lowers_the_scale(data):
    x, y = data
    net = make_net()
    optimizer = opax.adam(1e-2)(net.parameters())
    loss_scale = jmp.DynamicLossScale(jnp.float32(2.0**15))
    # float16 tops out at 65504: the scaled loss of these targets overflows
    net2, optimizer2, loss_scale2, _, finite = train_step(net, optimizer, loss_scale, x, y + 300)
    assert not bool(finite)
    assert_same((net2, optimizer2), (net, optimizer))  # nothing changed
    assert float(loss_scale2.loss_scale) == 2.0**14
    # a finite batch afterwards trains normally
    net3, _, _, _, finite = train_step(
        net2, optimizer2, jmp.DynamicLossScale(jnp.float32(1.0)), x, y
    )
    assert bool(finite)
    assert not np.allclose(net3[0].weight, net[0].weight)


def test_regression_a_dynamic_scale_stops_below_the_flush_to_zero_limit():
    # jmp unscales with grads * (1 / scale); 1 / 2**127 is flushed to zero on CPU, which
    # froze training silently once a bf16 run's scale (which never overflows) got there.
    net = pax.Linear(2, 2, rng_key=jax.random.PRNGKey(0))
    opt = opax.sgd(0.1)(net.parameters())
    x = jnp.ones((4, 2))
    scale = jmp.DynamicLossScale(jnp.float32(2.0**126), period=1)
    for _ in range(3):
        grads = pax.grad(lambda m, s: s.scale(jnp.mean(m(x) ** 2)))(net, scale)
        assert bool(jmp.all_finite(grads))
        new, opt, scale = pax.experimental.apply_scaled_gradients(net, opt, scale, grads)
        assert bool((new.weight != net.weight).any()), "the step changed nothing"
        net = new
        assert float(scale.loss_scale) == 2.0**126
        assert scale.loss_scale.dtype == jnp.float32
