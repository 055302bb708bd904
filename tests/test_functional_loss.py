"""pax.functional.loss and pax.functional.divergence against numpy formulas."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax.functional as F
from pax.functional import divergence, loss


def _x(seed, shape, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _probs(seed, shape):
    e = np.exp(_x(seed, shape, 2.0).astype(np.float64))
    return e / e.sum(-1, keepdims=True)


def _np_log_softmax(o):
    o = o.astype(np.float64)
    m = o.max(-1, keepdims=True)
    return o - m - np.log(np.exp(o - m).sum(-1, keepdims=True))


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
def test_cross_entropy_logits_matches_numpy(shape):
    logits = _x(0, shape, 3.0)
    labels = _probs(1, shape).astype(np.float32)
    ref = -(labels * _np_log_softmax(logits)).sum(-1)
    out = loss.cross_entropy_logits(logits, labels)
    assert out.shape == shape[:-1]
    tree_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (5,)])
def test_sparse_cross_entropy_equals_dense_with_one_hot(shape):
    logits = _x(2, shape, 3.0)
    labels = np.random.default_rng(3).integers(0, shape[-1], size=shape[:-1])
    one_hot = np.eye(shape[-1], dtype=np.float32)[labels]
    ref = -np.take_along_axis(_np_log_softmax(logits), labels[..., None], -1)[..., 0]
    out = loss.cross_entropy_logits_sparse(logits, labels)
    assert out.shape == shape[:-1]
    tree_allclose(out, ref, rtol=1e-5, atol=1e-5)
    tree_allclose(out, loss.cross_entropy_logits(logits, one_hot), rtol=1e-5, atol=1e-5)
    jitted = jax.jit(loss.cross_entropy_logits_sparse)(logits, jnp.asarray(labels, jnp.int32))
    tree_allclose(jitted, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("label", [3, np.int64(3), jnp.array(3)], ids=["int", "np_int", "0d"])
def test_sparse_cross_entropy_single_integer_label(label):
    logits = _x(4, (2, 3, 5), 3.0)
    ref = -_np_log_softmax(logits)[..., 3]
    tree_allclose(loss.cross_entropy_logits_sparse(logits, label), ref, rtol=1e-5, atol=1e-5)


def test_l2_matches_numpy():
    x = _x(5, (3, 4, 2))
    tree_allclose(loss.l2(x), 0.5 * np.sum(x.astype(np.float64) ** 2), rtol=1e-5)


def test_sigmoid_cross_entropy_matches_numpy():
    logits = _x(6, (3, 4), 4.0)
    labels = np.random.default_rng(7).random((3, 4)).astype(np.float32)
    o = logits.astype(np.float64)
    sig = 1 / (1 + np.exp(-o))
    ref = -labels * np.log(sig) - (1 - labels) * np.log(1 - sig)
    out = loss.sigmoid_cross_entropy_logits(logits, labels)
    assert out.shape == logits.shape
    tree_allclose(out, ref, rtol=1e-5, atol=1e-5)
    tree_allclose(loss.sigmoid_cross_entropy_logits(logits, 1), -np.log(sig), rtol=1e-5, atol=1e-5)


MEAN_LOSSES = [
    ("mean_absolute_error", lambda x, y: np.abs(x - y)),
    ("mean_squared_error", lambda x, y: (x - y) ** 2),
    ("mean_squared_log_error", lambda x, y: (np.log1p(x) - np.log1p(y)) ** 2),
]

# keep_axis -> the axes averaged over, for inputs of shape (2, 3, 4).
KEEP_AXIS = [
    ("default", (1, 2)),
    (None, (0, 1, 2)),
    ((), (0, 1, 2)),
    (1, (0, 2)),
    (-1, (0, 1)),
    ((0, 2), (1,)),
    ((2, 0), (1,)),
    ([1, 2], (0,)),
    ((0, 1, 2), ()),
]


@pytest.mark.parametrize("name, ref_fn", MEAN_LOSSES, ids=[n for n, _ in MEAN_LOSSES])
@pytest.mark.parametrize("keep_axis, reduced", KEEP_AXIS, ids=[str(k) for k, _ in KEEP_AXIS])
def test_mean_losses_keep_axis(name, ref_fn, keep_axis, reduced):
    x = np.abs(_x(8, (2, 3, 4)))
    y = np.abs(_x(9, (2, 3, 4)))
    fn = getattr(loss, name)
    out = fn(x, y) if keep_axis == "default" else fn(x, y, keep_axis=keep_axis)
    ref = ref_fn(x.astype(np.float64), y.astype(np.float64)).mean(axis=reduced)
    assert out.shape == np.shape(ref)
    tree_allclose(out, ref, rtol=1e-5, atol=1e-6)


def _np_kl(p, q, eps):
    return np.sum(p * np.log((p + eps) / (q + eps)), axis=-1)


@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_kl_matches_numpy(shape, eps):
    p = _probs(10, shape)
    p[..., 0] = 0.0  # zeros are what eps is for
    p /= p.sum(-1, keepdims=True)
    q = _probs(11, shape)
    kwargs = {} if eps is None else {"eps": eps}
    out = divergence.kl(p.astype(np.float32), q.astype(np.float32), **kwargs)
    assert out.shape == shape[:-1]
    tree_allclose(out, _np_kl(p, q, 2**-17 if eps is None else eps), rtol=1e-4, atol=1e-5)
    assert np.all(np.asarray(divergence.kl(p.astype(np.float32), p.astype(np.float32))) == 0)


ERRORS = [
    (
        lambda: loss.cross_entropy_logits_sparse(
            jnp.zeros((2, 3, 5)), jnp.zeros((2, 4), jnp.int32)
        ),
        ValueError,
        r"expects labels of shape \(2, 3\) .* got shape \(2, 4\)",
    ),
    (
        lambda: loss.cross_entropy_logits_sparse(jnp.zeros((2, 5)), jnp.zeros((2,))),
        TypeError,
        r"expects integer labels .* use cross_entropy_logits",
    ),
    (
        lambda: loss.mean_squared_error(jnp.zeros((2, 3)), jnp.zeros((2, 3)), keep_axis=2),
        ValueError,
        r"`keep_axis` 2 is out of range for inputs of rank 2",
    ),
    (
        lambda: loss.mean_absolute_error(jnp.zeros((2, 3)), jnp.zeros((2, 3)), keep_axis=(0.5,)),
        ValueError,
        r"`keep_axis` must be None, an int or a sequence of ints",
    ),
    (lambda: divergence.kl(jnp.array(0.5), jnp.array(0.5)), ValueError, r"kl expects p"),
]


@pytest.mark.parametrize("call, error, match", ERRORS, ids=[m for _, _, m in ERRORS])
def test_bad_arguments_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


SIGNATURES = {
    loss.cross_entropy_logits: "(logits, labels)",
    loss.cross_entropy_logits_sparse: "(logits, labels)",
    loss.l2: "(x)",
    loss.mean_absolute_error: "(x, y, keep_axis=(0,))",
    loss.mean_squared_error: "(x, y, keep_axis=(0,))",
    loss.mean_squared_log_error: "(y_true, y_pred, keep_axis=(0,))",
    loss.sigmoid_cross_entropy_logits: "(logits, labels)",
    divergence.kl: "(p, q, eps=7.62939453125e-06)",
}


@pytest.mark.parametrize("fn", list(SIGNATURES), ids=lambda f: f.__name__)
def test_signature_matches_seed(fn):
    params = inspect.signature(fn).parameters.values()
    shown = [p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params]
    assert "(" + ", ".join(shown) + ")" == SIGNATURES[fn]


def test_submodules_export_their_names():
    assert loss.__all__ == sorted(n for n in dir(loss) if not n.startswith("_"))
    assert divergence.__all__ == ["kl"]
    assert F.loss is loss and F.divergence is divergence
