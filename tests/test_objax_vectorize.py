"""pax.Vectorize (SPEC §4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax

X = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
Y = jnp.cos(jnp.arange(8.0)).reshape(4, 2)


def test_vectorize_module_equals_a_loop():
    m = pax.Sequential(pax.Linear(3, 2), jax.nn.relu)
    vec_m = pax.Vectorize(m)
    np.testing.assert_allclose(vec_m(X), jnp.stack([m(x) for x in X]), rtol=1e-6)
    assert list(vec_m.vars().keys()) == list(m.vars().keys())


@pytest.mark.parametrize(
    "batch_axis, args",
    [
        ((0, None), (X, jnp.array(2.0))),
        ((1, None), (X.T, jnp.array(2.0))),
        ((None, 0), (jnp.array(2.0), X)),
    ],
)
def test_batch_axis_with_broadcast_arguments(batch_axis, args):
    m = pax.Linear(3, 2)

    def f(a, b):
        x, s = (a, b) if batch_axis[0] is not None else (b, a)
        return m(x) * s

    out = pax.Vectorize(f, m.vars(), batch_axis=batch_axis)(*args)
    np.testing.assert_allclose(out, m(X) * 2.0, rtol=1e-6)


def test_bad_batch_axis():
    m = pax.Linear(3, 2)
    with pytest.raises(
        ValueError, match=r"batch_axis=\(0,\) \(one entry per argument\) but called with 2"
    ):
        pax.Vectorize(lambda x, s: m(x), m.vars())(X, 1.0)
    with pytest.raises(ValueError, match="vectorizes no argument"):
        pax.Vectorize(m, batch_axis=(None,))
    with pytest.raises(TypeError, match="ints or None"):
        pax.Vectorize(m, batch_axis=("0",))
    with pytest.raises(ValueError, match=r"(?s)pax.Vectorize got a plain function and no `vc`"):
        pax.Vectorize(lambda x: m(x))


def test_per_example_gradients():
    m = pax.Sequential(pax.Linear(3, 2), jnp.tanh)

    def loss(x, y):
        return jnp.sum((m(x) - y) ** 2)

    gv = pax.GradValues(loss, m.vars())
    per_example, (losses,) = pax.Vectorize(gv, batch_axis=(0, 0))(X, Y)
    assert [g.shape for g in per_example] == [(4, 3, 2), (4, 2)] and losses.shape == (4,)
    for i in range(4):
        g_i, (loss_i,) = gv(X[i], Y[i])
        for g, ref in zip(per_example, g_i):
            np.testing.assert_allclose(g[i], ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses[i], loss_i, rtol=1e-6)


def test_random_states_are_split_per_example():
    def run(seed):
        gen = pax.random.Generator(seed)
        noise = pax.Vectorize(lambda x: x + pax.random.normal((), generator=gen), gen.vars())
        return noise(jnp.zeros(4)), gen.key.value

    a, key_a = run(7)
    b, key_b = run(7)
    assert len(set(np.asarray(a).tolist())) == 4  # a different state per entry
    np.testing.assert_array_equal(a, b)  # and reproducible
    np.testing.assert_array_equal(key_a, key_b)
    assert not (key_a == pax.random.Generator(7).key.value).all()  # advanced


def test_state_changes_are_reduced():
    class Stats(pax.Module):
        def __init__(self):
            super().__init__()
            self.mean = pax.StateVar(jnp.zeros(3))
            self.count = pax.StateVar(jnp.zeros((), jnp.int32))
            self.total = pax.StateVar(jnp.zeros(()), reduce=lambda t: t.sum(0))

        def __call__(self, x):
            self.mean.value = x
            self.count.value += 1
            self.total.value += x.sum()
            return x

    s = Stats()
    x = X + 1.0
    pax.Vectorize(s)(x)
    np.testing.assert_allclose(s.mean.value, x.mean(0), rtol=1e-6)
    assert int(s.count.value) == 1 and s.count.value.dtype == jnp.int32
    np.testing.assert_allclose(s.total.value, x.sum(), rtol=1e-6)
