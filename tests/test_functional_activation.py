"""pax.functional activations against numpy formulas (objax.functional seed)."""

import inspect

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax.functional as F

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _x(seed=0, shape=(3, 5)):
    return np.random.default_rng(seed).normal(size=shape) * 3.0


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# (id, pax call, numpy reference), all elementwise on a (3, 5) input.
ELEMENTWISE = [
    ("celu", lambda x: F.celu(x), lambda x: np.where(x > 0, x, np.expm1(x))),
    (
        "celu_alpha",
        lambda x: F.celu(x, alpha=2.5),
        lambda x: np.where(x > 0, x, 2.5 * np.expm1(x / 2.5)),
    ),
    ("elu", lambda x: F.elu(x), lambda x: np.where(x > 0, x, np.expm1(x))),
    ("elu_alpha", lambda x: F.elu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("leaky_relu", lambda x: F.leaky_relu(x), lambda x: np.where(x >= 0, x, 0.01 * x)),
    ("leaky_relu_slope", lambda x: F.leaky_relu(x, 0.3), lambda x: np.where(x >= 0, x, 0.3 * x)),
    ("log_sigmoid", F.log_sigmoid, lambda x: -np.log1p(np.exp(-x))),
    ("relu", F.relu, lambda x: np.maximum(x, 0.0)),
    (
        "selu",
        F.selu,
        lambda x: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.exp(x) - SELU_ALPHA),
    ),
    ("sigmoid", F.sigmoid, lambda x: 1.0 / (1.0 + np.exp(-x))),
    ("softplus", F.softplus, lambda x: np.log1p(np.exp(x))),
    ("tanh", F.tanh, np.tanh),
]


@pytest.mark.parametrize("name, fn, ref", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_activation_matches_numpy(name, fn, ref):
    x = _x()
    y = fn(jnp.asarray(x, jnp.float32))
    assert y.shape == x.shape
    tree_allclose(y, ref(x).astype(np.float32), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, 0, (0, 1)])
def test_softmax_and_log_softmax_match_numpy(axis):
    x = _x(1, (2, 3, 4))
    xf = jnp.asarray(x, jnp.float32)
    ref = _softmax(x, axis)
    tree_allclose(F.softmax(xf, axis=axis), ref, rtol=1e-5, atol=1e-6)
    tree_allclose(F.log_softmax(xf, axis=axis), np.log(ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(F.softmax(xf, axis=axis)).sum(axis), 1.0, rtol=1e-5)


def test_softmax_where_excludes_elements():
    x = _x(2, (3, 5))
    where = np.random.default_rng(3).random((3, 5)) > 0.4
    where[:, 0] = True
    masked = np.where(where, x, -np.inf)
    ref = _softmax(masked, -1)
    out = F.softmax(jnp.asarray(x, jnp.float32), where=where, initial=-jnp.inf)
    tree_allclose(out, ref, rtol=1e-5, atol=1e-6)
    log_out = np.asarray(F.log_softmax(jnp.asarray(x, jnp.float32), where=where))
    np.testing.assert_allclose(log_out[where], np.log(ref[where]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": 1},
        {"axis": (0, 2)},
        {"axis": 0, "keepdims": True},
    ],
    ids=["all", "axis1", "axes02", "keepdims"],
)
def test_logsumexp_matches_numpy(kwargs):
    a = _x(4, (2, 3, 4))
    ref = np.log(np.sum(np.exp(a), axis=kwargs.get("axis"), keepdims=kwargs.get("keepdims", False)))
    out = F.logsumexp(jnp.asarray(a, jnp.float32), **kwargs)
    assert out.shape == ref.shape
    tree_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_logsumexp_scaling_and_sign():
    a = _x(5, (3, 4))
    b = np.random.default_rng(6).normal(size=(3, 4))
    total = np.sum(b * np.exp(a), axis=1)
    res, sign = F.logsumexp(jnp.asarray(a, jnp.float32), axis=1, b=b, return_sign=True)
    tree_allclose(res, np.log(np.abs(total)), rtol=1e-4, atol=1e-5)
    tree_allclose(sign, np.sign(total))
    plain = np.asarray(F.logsumexp(jnp.asarray(a, jnp.float32), axis=1, b=b))
    assert np.all(np.isnan(plain[total < 0]))


# The seed's signatures: parameter names and defaults.
SIGNATURES = {
    "celu": "(x, alpha=1.0)",
    "elu": "(x, alpha=1.0)",
    "leaky_relu": "(x, negative_slope=0.01)",
    "log_sigmoid": "(x)",
    "log_softmax": "(x, axis=-1, where=None, initial=None)",
    "logsumexp": "(a, axis=None, b=None, keepdims=False, return_sign=False)",
    "relu": "(x)",
    "selu": "(x)",
    "sigmoid": "(x)",
    "softmax": "(x, axis=-1, where=None, initial=None)",
    "softplus": "(x)",
    "tanh": "(x)",
}


def _plain_signature(fn):
    params = []
    for p in inspect.signature(fn).parameters.values():
        params.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return "(" + ", ".join(params) + ")"


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_matches_seed(name):
    assert _plain_signature(getattr(F, name)) == SIGNATURES[name]
