"""``pax.netket.ARNN`` and its presets: normalisation, the cached one-site conditional,
direct sampling, and equality with NetKet's own ARNNs (weights copied over)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

nk = pytest.importorskip("netket", reason="pax.netket needs netket: pip install pax3[netket]")

import pax  # noqa: E402
import pax.netket  # noqa: E402

# conftest.py forces 8 host CPU devices; NetKet would shard samples over them and warn
nk.config.netket_sharding = False

PRESETS = {
    "dense": ("ARNNDense", {}),
    "conv1d": ("ARNNConv1D", {"kernel_size": 3}),
    "conv1d_dilated": ("ARNNConv1D", {"kernel_size": 2, "kernel_dilation": 2}),
    "conv2d": ("ARNNConv2D", {"kernel_size": (2, 3)}),
}
DTYPES = [jnp.float64, jnp.complex128]


def _preset(name, hilbert, dtype=jnp.float64, machine_pow=2, seed=0, layers=2):
    cls, kwargs = PRESETS[name]
    return getattr(pax.netket, cls)(
        hilbert,
        layers=layers,
        features=3,
        param_dtype=dtype,
        machine_pow=machine_pow,
        rng_key=jax.random.PRNGKey(seed),
        **kwargs,
    )


@jax.jit
def _randomize(model, seed=1):
    """Non-zero biases too (they start at zero), so every weight matters."""
    skeleton, params, state = pax.split(model)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    leaves = [
        x + 0.3 * jax.random.normal(k, x.shape, x.dtype) if x.ndim == 1 or x.shape[-1] == 2 else x
        for x, k in zip(leaves, keys)
    ]
    return pax.merge(skeleton, jax.tree_util.tree_unflatten(treedef, leaves), state)


@pytest.mark.parametrize(
    "name, dtype, machine_pow",
    [(name, dtype, 2) for name in sorted(PRESETS) for dtype in DTYPES]
    + [("conv1d", jnp.complex128, 1), ("dense", jnp.float64, 1)],
)
def test_normalised(name, dtype, machine_pow):
    hi = nk.hilbert.Spin(0.5, 4)
    model = _randomize(_preset(name, hi, dtype, machine_pow))
    log_psi = jax.jit(lambda m, s: m(s))(model, hi.all_states())
    assert log_psi.shape == (hi.n_states,)
    assert jnp.iscomplexobj(log_psi) == jnp.iscomplexobj(jnp.zeros((), dtype))
    total = jnp.sum(jnp.exp(machine_pow * log_psi.real))
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)


def test_normalised_on_three_local_states():
    hi = nk.hilbert.Spin(1.0, 3)  # local states -1, 0, 1
    model = _randomize(_preset("conv1d", hi))
    np.testing.assert_allclose(jnp.sum(jnp.exp(2 * model(hi.all_states()).real)), 1.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "complex128"])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_cached_conditional_equals_conditionals(name, dtype):
    """The sampler's protocol through the adapter: init the cache, then one
    ``conditional`` per site with ``mutable=["cache"]``."""
    hi = nk.hilbert.Spin(0.5, 4)
    model = _randomize(_preset(name, hi, dtype))
    static, variables = pax.netket.PaxModel(pax.split(model)[0], type(model)), None
    variables = static.variables(model)
    sigma = hi.random_state(jax.random.PRNGKey(3), 5)
    full = static.apply(variables, sigma, method=static.conditionals)
    assert full.shape == (5, hi.size, 2)
    np.testing.assert_allclose(full.sum(-1), 1.0, rtol=1e-12)
    cache = static.init(jax.random.PRNGKey(0), sigma, 0, method=static.conditional)["cache"]

    @jax.jit
    def step(cache, index):
        return static.apply(
            {**variables, "cache": cache},
            sigma,
            index,
            method=static.conditional,
            mutable=["cache"],
        )

    for i in range(hi.size):
        p, mutated = step(cache, jnp.asarray(i))
        cache = mutated["cache"]
        np.testing.assert_allclose(p, full[:, i], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_direct_sampler_matches_born_distribution(name):
    hi = nk.hilbert.Spin(0.5, 4)
    model = _randomize(_preset(name, hi))
    vstate = nk.vqs.MCState(nk.sampler.ARDirectSampler(hi), model, n_samples=4096, seed=0)
    samples = np.asarray(vstate.sample()).reshape(-1, hi.size)
    counts = np.bincount(np.asarray(hi.states_to_numbers(samples)), minlength=hi.n_states)
    p = np.exp(2 * np.asarray(model(hi.all_states()).real))
    expected = p * len(samples)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    # 15 degrees of freedom: mean 15, P(chi2 > 50) < 1e-5
    assert chi2 < 50, (chi2, counts, expected)


class Product(pax.netket.ARNN):
    """A user's ARNN: independent sites, only ``log_conditionals`` written."""

    parameters = pax.parameters_method("logits")

    def __init__(self, hilbert):
        super().__init__(hilbert)
        self.logits = jnp.linspace(-1.0, 1.0, hilbert.size * 2).reshape(hilbert.size, 2)

    def log_conditionals(self, sigma):
        return jnp.broadcast_to(self.logits, (*sigma.shape, 2))


def test_user_subclass_without_cache_samples_and_normalises():
    hi = nk.hilbert.Spin(0.5, 3)
    model = Product(hi)
    np.testing.assert_allclose(jnp.sum(jnp.exp(2 * model(hi.all_states()))), 1.0, rtol=1e-12)
    vstate = nk.vqs.MCState(nk.sampler.ARDirectSampler(hi), model, n_samples=4096, seed=1)
    samples = np.asarray(vstate.sample()).reshape(-1, hi.size)
    # site i takes hilbert.local_states[1] with probability softmax(2 * logits[i])[1]
    p_second = jax.nn.softmax(2 * model.logits, axis=-1)[:, 1]
    frequency = (samples == hi.local_states[1]).mean(0)
    np.testing.assert_allclose(frequency, p_second, atol=0.03)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_equal_to_netket_with_copied_weights(name):
    hi = nk.hilbert.Spin(0.5, 4)
    cls, kwargs = PRESETS[name]
    model = _randomize(_preset(name, hi, jnp.complex128))
    theirs = getattr(nk.models, cls)(
        hilbert=hi, layers=2, features=3, param_dtype=jnp.complex128, **kwargs
    )
    params = {f"_layers_{i}": dict(p) for i, p in pax.split(model)[1]["layers"].items()}
    sigma = hi.all_states()
    expected = theirs.apply({"params": params}, sigma)
    np.testing.assert_allclose(model(sigma), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        model.conditionals(sigma),
        theirs.apply({"params": params}, sigma, method=theirs.conditionals),
        rtol=1e-12,
        atol=1e-14,
    )


def test_feature_list_errors():
    hi = nk.hilbert.Spin(0.5, 4)
    with pytest.raises(ValueError, match="features has 3 entries for 2 layers"):
        pax.netket.ARNNConv1D(hi, layers=2, features=(3, 3, 2), kernel_size=2)
    with pytest.raises(ValueError, match="last layer must have hilbert.local_size = 2"):
        pax.netket.ARNNConv1D(hi, layers=2, features=(3, 4), kernel_size=2)


def test_hilbert_and_argument_errors():
    with pytest.raises(ValueError, match="unconstrained homogeneous Hilbert space"):
        pax.netket.ARNNDense(nk.hilbert.Spin(0.5, 4, total_sz=0), layers=1, features=2)
    with pytest.raises(ValueError, match="unconstrained homogeneous Hilbert space"):
        pax.netket.ARNNDense("not a hilbert space", layers=1, features=2)
    with pytest.raises(ValueError, match="machine_pow must be a positive int"):
        pax.netket.ARNNDense(nk.hilbert.Spin(0.5, 4), layers=1, features=2, machine_pow=0)
    with pytest.raises(ValueError, match="hilbert.size = 6 is not a perfect square"):
        pax.netket.ARNNConv2D(nk.hilbert.Spin(0.5, 6), layers=1, features=2, kernel_size=(2, 2))


def test_base_class_says_what_to_write():
    model = pax.netket.ARNN(nk.hilbert.Spin(0.5, 2))
    with pytest.raises(NotImplementedError, match="must define log_conditionals"):
        model(jnp.ones((1, 2)))
