"""BatchNorm against dm-haiku with equal weights, and its state."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from layer_registry import key as _key
from layer_registry import normal

import pax


@pytest.mark.parametrize(
    "cls, create_scale, create_offset, decay_rate, shape",
    [
        (pax.BatchNorm1D, True, True, 0.9, (8, 3)),
        (pax.BatchNorm1D, False, True, 0.5, (8, 3)),
        (pax.BatchNorm1D, True, False, 0.99, (4, 5, 3)),
        (pax.BatchNorm1D, False, False, 0.9, (8, 3)),
        (pax.BatchNorm2D, True, True, 0.9, (2, 4, 4, 3)),
    ],
)
def test_batch_norm_matches_haiku(cls, create_scale, create_offset, decay_rate, shape):
    bn = cls(3, create_scale, create_offset, decay_rate)
    stats_shape = (1,) * (len(shape) - 1) + (3,)
    params = {}
    if create_scale:
        bn = bn.replace(scale=1.0 + normal(1, (3,), 0.3))
        params["scale"] = bn.scale.reshape(stats_shape)
    if create_offset:
        bn = bn.replace(offset=normal(2, (3,), 0.3))
        params["offset"] = bn.offset.reshape(stats_shape)

    f = hk.without_apply_rng(
        hk.transform_with_state(
            lambda x, is_training: hk.BatchNorm(create_scale, create_offset, decay_rate, eps=1e-5)(
                x, is_training
            )
        )
    )
    xs = [normal(10 + i, shape, 2.0) + i for i in range(4)]
    hk_params, hk_state = f.init(_key(0), xs[0], True)
    assert jax.tree_util.tree_map(jnp.shape, hk_params) == (
        {"batch_norm": jax.tree_util.tree_map(jnp.shape, params)} if params else {}
    )
    hk_params = {"batch_norm": params} if params else {}

    step = jax.jit(pax.purecall)
    hk_apply = jax.jit(f.apply, static_argnums=3)
    for x in xs:  # training: batch statistics, and the moving averages move
        bn, y = step(bn, x)
        y_hk, hk_state = hk_apply(hk_params, hk_state, x, True)
        tree_allclose(y, y_hk, rtol=1e-5, atol=1e-5)
        for name, ema in (("mean_ema", bn.ema_mean), ("var_ema", bn.ema_var)):
            hk_ema = hk_state[f"batch_norm/~/{name}"]
            assert int(hk_ema["counter"]) == int(bn.ema_count)
            tree_allclose(ema, hk_ema["hidden"].reshape(3), rtol=1e-5, atol=1e-5)
        mean, var = bn.moving_statistics()
        tree_allclose(mean, hk_state["batch_norm/~/mean_ema"]["average"].reshape(3), rtol=1e-5)
        tree_allclose(var, hk_state["batch_norm/~/var_ema"]["average"].reshape(3), rtol=1e-5)

    x = normal(99, shape, 3.0)
    evaluated, y = step(bn.eval(), x)  # evaluation: the moving averages, no update
    y_hk, hk_state_after = hk_apply(hk_params, hk_state, x, False)
    tree_allclose(y, y_hk, rtol=1e-5, atol=1e-5)
    tree_allclose(hk_state_after, hk_state)
    tree_allclose(evaluated, bn.eval())  # no update in evaluation mode


def test_batch_norm_eval_before_training_is_identity():
    bn = pax.BatchNorm1D(3).eval()
    x = normal(0, (4, 3))
    np.testing.assert_allclose(bn(x), x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_batch_norm_training_needs_pure():
    bn = pax.BatchNorm1D(3)
    with pytest.raises(ValueError, match="pax.pure"):
        bn(normal(0, (4, 3)))


def test_batch_norm_parameters_exclude_state():
    bn = pax.BatchNorm1D(3)
    params = jax.tree_util.tree_leaves(bn.parameters())
    assert len(params) == 2
    assert all(p.shape == (3,) for p in params)
    assert len(jax.tree_util.tree_leaves(pax.BatchNorm1D(3, False, False).parameters())) == 0
