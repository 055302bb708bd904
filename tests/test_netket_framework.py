"""``import pax.netket``: pax models in NetKet's variational states and drivers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax

nk = pytest.importorskip("netket", reason="pax.netket needs netket: pip install pax3[netket]")

import pax.netket  # noqa: E402

# conftest.py forces 8 host CPU devices; NetKet would shard samples over them and warn
nk.config.netket_sharding = False

N = 4


class LogLinear(pax.Module):
    """log psi = a . sigma + log cosh(W sigma + b) summed (a small RBM), plus a call counter
    that counts traces (the body runs only while JAX traces it)."""

    traces = 0

    def __init__(self, n, hidden=3, dtype=jnp.float64):
        super().__init__()
        self.visible = pax.Linear(n, 1, rng_key=jax.random.PRNGKey(0))
        self.hidden = pax.Linear(n, hidden, rng_key=jax.random.PRNGKey(1))

    def __call__(self, sigma):
        type(self).traces += 1
        h = jnp.log(jnp.cosh(self.hidden(sigma))).sum(-1)
        return self.visible(sigma)[..., 0] + h


def _ising():
    hi = nk.hilbert.Spin(0.5, N)
    return hi, nk.operator.Ising(hi, nk.graph.Chain(N), h=1.0)


def test_register_is_idempotent():
    from netket.utils.model_frameworks import base

    entry = pax.netket.register()
    assert pax.netket.register() is entry
    assert sum(getattr(f, "name", None) == "pax" for f in base.registered_frameworks) == 1
    model = LogLinear(N)
    assert base.identify_framework(model) is entry
    assert not entry.is_my_module(object())


def test_mcstate_parameters_are_the_split_params_and_model_has_current_weights():
    hi, _ = _ising()
    model = LogLinear(N)
    vstate = nk.vqs.MCState(nk.sampler.MetropolisLocal(hi), model, n_samples=64, seed=0)
    tree_allclose(vstate.parameters, pax.split(model)[1], rtol=0, atol=0)
    assert vstate.model_state == {}
    assert vstate.model == model
    vstate.parameters = jax.tree_util.tree_map(lambda x: x + 1.0, vstate.parameters)
    assert isinstance(vstate.model, LogLinear)
    np.testing.assert_allclose(vstate.model.visible.weight, model.visible.weight + 1.0)
    sigma = hi.all_states()
    np.testing.assert_allclose(vstate.log_value(sigma), vstate.model(sigma), rtol=1e-12)


def test_full_sum_energy_equals_exact_expectation():
    hi, ham = _ising()
    model = LogLinear(N)
    vstate = nk.vqs.FullSumState(hi, model)
    psi = np.exp(np.asarray(model(hi.all_states())))
    exact = psi.conj() @ ham.to_dense() @ psi / (psi.conj() @ psi)
    np.testing.assert_allclose(vstate.expect(ham).mean, exact, rtol=1e-8)  # float32 weights


class Normalized(pax.Module):
    """A model with state: BatchNorm statistics (eval mode) in NetKet's model_state."""

    def __init__(self):
        super().__init__()
        self.fc = pax.Linear(N, 2, rng_key=jax.random.PRNGKey(0))
        self.norm = pax.BatchNorm1D(2)

    def __call__(self, sigma):
        return self.norm(self.fc(sigma)).sum(-1)


def test_non_trainable_arrays_are_model_state():
    hi, _ = _ising()
    model = Normalized().eval()
    vstate = nk.vqs.FullSumState(hi, model)
    _, params, state = pax.split(model)
    tree_allclose(vstate.parameters, params, rtol=0, atol=0)
    tree_allclose(vstate.model_state, {"state": state}, rtol=0, atol=0)
    assert vstate.model == model
    np.testing.assert_allclose(vstate.log_value(hi.all_states()), model(hi.all_states()))


def test_apply_with_mutable_returns_the_updated_state():
    hi, _ = _ising()
    model = Normalized()  # training mode: the call updates the statistics
    entry = pax.netket.register()
    variables, static = entry.wrap(model)
    sigma = hi.all_states()
    out, updated = static.apply(variables, sigma, mutable=["state"])
    new_model, expected = pax.purecall(model, sigma)
    np.testing.assert_allclose(out, expected)
    tree_allclose(updated, {"state": pax.split(new_model)[2]})
    np.testing.assert_allclose(static.apply(variables, sigma), expected)  # mutable=False


def test_vmc_step_does_not_retrace():
    hi, ham = _ising()
    vstate = nk.vqs.MCState(nk.sampler.MetropolisLocal(hi), LogLinear(N), n_samples=64, seed=0)
    driver = nk.driver.VMC(
        ham, nk.optimizer.Sgd(0.05), variational_state=vstate, preconditioner=nk.optimizer.SR()
    )
    driver.run(1, out=None, show_progress=False)
    after_first = LogLinear.traces
    driver.run(4, out=None, show_progress=False)
    assert LogLinear.traces == after_first
    # a separately built model of the same structure is the same static model
    other = nk.vqs.MCState(nk.sampler.MetropolisLocal(hi), LogLinear(N), n_samples=64, seed=1)
    assert other._model == vstate._model and hash(other._model) == hash(vstate._model)


def test_vmc_lowers_the_energy():
    hi, ham = _ising()
    vstate = nk.vqs.MCState(nk.sampler.MetropolisLocal(hi), LogLinear(N), n_samples=256, seed=0)
    before = vstate.expect(ham).mean.real
    driver = nk.driver.VMC(
        ham, nk.optimizer.Sgd(0.05), variational_state=vstate, preconditioner=nk.optimizer.SR()
    )
    driver.run(30, out=None, show_progress=False)
    exact = nk.exact.lanczos_ed(ham)[0]
    after = nk.vqs.FullSumState(hi, vstate.model).expect(ham).mean.real
    assert after < before and abs(after - exact) < abs(before - exact) / 2


def test_unknown_method_and_missing_cache_raise():
    static = pax.netket.register().wrap(LogLinear(N))[1]
    with pytest.raises(AttributeError, match="LogLinear has no method 'conditional'"):
        static.conditional  # noqa: B018
    with pytest.raises(ValueError, match=r"no `init_cache\(batch_size\)` method.*pax.netket.ARNN"):
        static.init(jax.random.PRNGKey(0), jnp.ones((2, N)), 0, method="conditional")


def test_reinitialising_a_pax_model_says_what_to_do():
    hi, _ = _ising()
    vstate = nk.vqs.MCState(nk.sampler.MetropolisLocal(hi), LogLinear(N), n_samples=64, seed=0)
    with pytest.raises(ValueError, match=r"cannot initialise LogLinear again.*Build a new model"):
        vstate.init(seed=1)
