"""examples/mixed_precision.py: its quick run trains in bfloat16 (and float16) with float32
weights and a dynamic loss scale to the float32 run's accuracy; the loss-scale steps are
checked on their own."""

import json

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import opax
import pytest
from helpers import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("mixed_precision")


@pytest.fixture(scope="module")
def quick_run(example, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("mixed_precision")
    args = example.parse_args(["--quick", "--out-dir", str(out_dir)])
    return args, example.run(args), out_dir


def test_quick_run_matches_float32_accuracy(example, quick_run):
    args, metrics, out_dir = quick_run
    assert args.quick and args.steps <= 500 and args.compute == ["bfloat16", "float16"]
    assert example.check(metrics, args) == []
    accuracy = metrics["accuracy"]
    assert accuracy["float32"] > 0.93
    for compute in args.compute:
        assert abs(accuracy[compute] - accuracy["float32"]) <= 0.03
        # a different run (half-precision rounding), but close to the float32 one
        assert 1e-4 < metrics["weight_distance_to_float32"][compute] < 0.3
    assert (out_dir / "curve.png").stat().st_size > 0
    assert (out_dir / "loss_scale.png").stat().st_size > 0
    saved = json.loads((out_dir / "metrics.json").read_text())
    assert saved["accuracy"] == accuracy


def test_quick_run_weights_stay_float32_while_compute_is_half(quick_run):
    args, metrics, _ = quick_run
    for compute in args.compute:
        d = metrics["dtypes"][compute]
        assert d["params"] == d["params_after_step"] == d["grads"] == ["float32"]
        assert metrics["final_param_dtypes"][compute] == ["float32"]
        assert d["features"] == compute and d["logits"] == "float32"
        # forward (3 layers) and backward (2 products per layer, none for the input)
        assert d["step_matmuls"] == {compute: 8}


def test_quick_run_loss_scale_history(quick_run):
    args, metrics, _ = quick_run
    initial = 2.0**args.initial_scale_log2
    for compute in args.compute:
        scale = metrics["loss_scale"][compute]
        history, skipped = scale["history"], scale["skipped_steps"]
        assert list(history[0]) == [1, initial] and scale["num_skipped"] == len(skipped)
        # (step, scale used from then on): every change doubles after `period` finite
        # steps in a row or halves after a skipped step
        changes = [tuple(h) for h in history] + [(args.steps + 1, scale["final"])]
        for (_, s0), (step, s1) in zip(changes, changes[1:]):
            if s1 == 2 * s0:
                assert not any(step - args.period <= k < step for k in skipped)
            else:
                assert (s1 == s0 / 2 and step - 1 in skipped) or (s1 == s0 and step > args.steps)
    # bfloat16 has float32's range: no overflow, the scale only grows
    assert metrics["loss_scale"]["bfloat16"]["num_skipped"] == 0
    assert metrics["loss_scale"]["bfloat16"]["final"] == initial * 2 ** (args.steps // args.period)
    # float16 overflows once the scale is too large: those steps are skipped
    f16 = metrics["loss_scale"]["float16"]
    assert 0 < f16["num_skipped"] < args.steps // 5
    assert f16["final"] < metrics["loss_scale"]["bfloat16"]["final"]


def test_non_finite_steps_are_skipped_and_halve_the_scale(example):
    x_train, y_train, _, _ = (jnp.asarray(a) for a in example.load_digits_split(360, 0))
    x_bad = x_train.at[0, 0].set(jnp.nan)  # one corrupted pixel gives NaN gradients
    model = example.with_policies(
        example.MLP([64, 32, 10], rng_key=jax.random.PRNGKey(1)), "bfloat16"
    )
    optimizer = opax.adam(1e-3)(model.parameters())
    steps, period, s0 = 12, 4, 2.0**10
    scale = jmp.DynamicLossScale(jnp.float32(s0), period=period)
    batches = np.random.default_rng(0).integers(1, len(x_train), (steps, 32))
    bad = batches.copy()
    bad[:, 0] = 0  # every step sees the corrupted image

    model2, optimizer2, scale2, (loss, scales, finite) = example.train_chunk(
        model, optimizer, scale, x_bad, y_train, jnp.asarray(bad)
    )
    assert not np.asarray(finite).any() and np.isnan(np.asarray(loss)).all()
    # each skipped step halves the scale, down to jmp's minimum of 1
    expected = np.maximum(s0 / 2.0 ** np.arange(steps + 1), 1.0)  # used at each step
    np.testing.assert_array_equal(np.asarray(scales), expected[:-1])
    assert float(scale2.loss_scale) == expected[-1]
    for a, b in zip(
        jax.tree_util.tree_leaves((model, optimizer)),
        jax.tree_util.tree_leaves((model2, optimizer2)),
    ):
        np.testing.assert_array_equal(a, b)  # nothing moved

    # clean batches afterwards train normally, and the scale grows again
    model3, _, scale3, (loss, scales, finite) = example.train_chunk(
        model2, optimizer2, scale2, x_bad, y_train, jnp.asarray(batches)
    )
    assert np.asarray(finite).all() and np.asarray(loss)[-1] < np.asarray(loss)[0]
    assert float(scale3.loss_scale) == 2.0 ** (steps // period)
    assert not np.array_equal(model3.layers[0].weight, model.layers[0].weight)
    assert model3.layers[0].weight.dtype == jnp.float32


def test_quick_mode_from_the_environment(example, monkeypatch):
    monkeypatch.setenv("PAX_EXAMPLES_QUICK", "1")
    assert example.parse_args([]).quick
    monkeypatch.delenv("PAX_EXAMPLES_QUICK")
    args = example.parse_args(["--compute", "float16"])
    assert not args.quick and args.steps == 1500 and args.compute == ["float16"]
