"""pax.functional.parallel under jax.pmap over the 8 host devices (tests/conftest.py)."""

import inspect

import jax
import numpy as np
import pytest
from helpers import tree_allclose

import pax.functional as F
from pax.functional import parallel

NUMPY_REDUCTIONS = {"pmax": np.max, "pmean": np.mean, "pmin": np.min, "psum": np.sum}


def _per_device(seed, shape=(3, 2)):
    n = jax.device_count()
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype(np.float32)


def test_eight_devices():
    assert jax.device_count() == 8


@pytest.mark.parametrize("name", sorted(NUMPY_REDUCTIONS))
def test_reduction_over_devices_matches_numpy(name):
    x = _per_device(0)
    out = jax.pmap(getattr(parallel, name), axis_name="device")(x)
    ref = NUMPY_REDUCTIONS[name](x.astype(np.float64), axis=0)
    tree_allclose(out, np.broadcast_to(ref, x.shape), rtol=1e-5, atol=1e-6)


def test_custom_axis_name_and_pytrees():
    tree = {"a": _per_device(1), "b": (_per_device(2, (4,)),)}
    out = jax.pmap(lambda t: parallel.psum(t, axis_name="batch"), axis_name="batch")(tree)
    ref = jax.tree_util.tree_map(lambda v: np.broadcast_to(v.sum(0), v.shape), tree)
    tree_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_mean_gradient_across_devices():
    # The data-parallel pattern: per-device gradients averaged with pmean.
    w = np.float32(1.5)
    x = _per_device(3, (5,))

    def step(xs):
        g = jax.grad(lambda v: ((v * xs) ** 2).mean())(w)
        return parallel.pmean(g)

    out = jax.pmap(step, axis_name="device")(x)
    ref = np.mean([np.mean(2 * w * xi.astype(np.float64) ** 2) for xi in x])
    tree_allclose(out, np.full(8, ref), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(NUMPY_REDUCTIONS))
def test_signature_default_axis_name_is_device(name):
    params = inspect.signature(getattr(parallel, name)).parameters
    assert list(params) == ["x", "axis_name"] and params["axis_name"].default == "device"
    assert getattr(F.parallel, name) is getattr(parallel, name)
    assert name in parallel.__all__
