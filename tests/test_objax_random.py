"""pax.random: Generator, DEFAULT_GENERATOR and the sampling functions (SPEC §4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax


def test_generators_with_one_seed_give_the_same_numbers():
    g1 = pax.random.Generator(seed=1337)
    g2 = pax.random.Generator(seed=1337)
    a1, a2 = pax.random.normal((2,), generator=g1), pax.random.normal((2,), generator=g1)
    b1, b2 = pax.random.normal((2,), generator=g2), pax.random.normal((2,), generator=g2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.allclose(a1, a2)


@pytest.mark.parametrize("global_partitionable", [True, False])
def test_guide_numbers(global_partitionable):
    # The guide's printout, whatever JAX's global threefry setting is.
    with jax.threefry_partitionable(global_partitionable):
        default = pax.random.Generator(0)  # what DEFAULT_GENERATOR starts as
        np.testing.assert_allclose(
            pax.random.normal((2,), generator=default), [0.19307713, -0.52678305], atol=1e-6
        )
        np.testing.assert_allclose(
            pax.random.normal((2,), generator=default), [0.00870693, -0.04888531], atol=1e-6
        )
        g1 = pax.random.Generator(seed=1337)
        np.testing.assert_allclose(
            pax.random.normal((2,), generator=g1), [-0.3361883, -0.9903351], atol=1e-6
        )
        np.testing.assert_allclose(
            pax.random.normal((2,), generator=g1), [0.5825488, -1.4342074], atol=1e-6
        )


def test_generator_follows_its_random_state():
    g = pax.random.Generator(5)
    state = pax.RandomState(5)
    np.testing.assert_array_equal(g(), state.split(1)[0])
    np.testing.assert_array_equal(g.key.value, state.value)
    g.seed(5)
    np.testing.assert_array_equal(g.key.value, jax.random.PRNGKey(5))
    assert isinstance(g.vars()["(Generator)._key"], pax.RandomState)


def test_default_generator_advances():
    before = pax.random.DEFAULT_GENERATOR.key.value
    a, b = pax.random.normal((3,)), pax.random.normal((3,))
    assert not np.allclose(a, b)
    assert not (pax.random.DEFAULT_GENERATOR.key.value == before).all()
    assert pax.random.DEFAULT_GENERATOR is pax.random.DEFAULT_GENERATOR


def test_distributions():
    g = pax.random.Generator(0)
    x = pax.random.normal((20000,), mean=3.0, stddev=2.0, generator=g)
    assert abs(float(x.mean()) - 3.0) < 0.05 and abs(float(x.std()) - 2.0) < 0.05
    u = pax.random.uniform((1000,), generator=g)
    assert u.dtype == jnp.float32 and 0.0 <= float(u.min()) and float(u.max()) < 1.0
    r = pax.random.randint((1000,), 2, 5, generator=g)
    assert jnp.issubdtype(r.dtype, jnp.integer) and set(np.asarray(r).tolist()) == {2, 3, 4}
    t = pax.random.truncated_normal((20000,), stddev=0.5, generator=g)
    assert abs(float(t.std()) - 0.5) < 0.01
    assert float(jnp.abs(t).max()) <= 2 * 0.5 / 0.8796 + 1e-6
    with pytest.raises(ValueError, match="lower < upper"):
        pax.random.truncated_normal((2,), lower=1.0, upper=-1.0, generator=g)


def test_generator_inside_a_module_and_pytree():
    class Noisy(pax.Module):
        def __init__(self):
            super().__init__()
            self.keygen = pax.random.Generator(0)

        def __call__(self, x):
            return x + pax.random.normal(x.shape, generator=self.keygen)

    net = Noisy()
    assert list(net.vars().keys()) == ["(Noisy).keygen(Generator)._key"]
    assert isinstance(net.parameters().keygen.key, pax.EmptyNode)
    jit_net = pax.Jit(net)
    assert not np.allclose(jit_net(jnp.zeros(2)), jit_net(jnp.zeros(2)))
    # PAX style: the generator state is a pytree leaf, updated by pax.purecall
    net2, y = pax.purecall(net, jnp.zeros(2))
    assert not (net2.keygen.key.value == net.keygen.key.value).all()
