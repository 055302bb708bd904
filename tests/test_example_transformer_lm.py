"""examples/transformer_lm.py: its quick run beats the unigram baseline and samples
well-formed text with the key/value cache; its pieces are checked on small inputs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import load_example

import pax


@pytest.fixture(scope="module")
def example():
    return load_example("transformer_lm")


@pytest.fixture(scope="module")
def quick_run(example, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("transformer_lm")
    args = example.parse_args(["--quick", "--out-dir", str(out_dir)])
    return args, example.run(args), out_dir


def test_quick_run_beats_the_unigram_baseline_and_samples(example, quick_run):
    args, metrics, out_dir = quick_run
    assert args.quick and args.steps <= 200
    assert example.check(metrics, args) == []
    assert metrics["heldout_bpc"] < metrics["unigram_bpc"] - 1.0
    assert metrics["heldout_bpc"] > 1.0  # sanity: no leak of the held-out text
    curve = metrics["heldout_curve"]
    assert curve[-1][1] < curve[0][1]
    vocab = set(metrics["vocab"])
    assert set(metrics["samples"]) == {str(t) for t in args.temperatures}
    for texts in metrics["samples"].values():
        assert len(texts) == args.num_samples
        assert all(len(text) == args.sample_len and set(text) <= vocab for text in texts)
    # the cached steps' log-probabilities are the full-sequence model's
    assert metrics["incremental_mismatch_nats_per_char"] < 1e-4
    assert (out_dir / "curve.png").stat().st_size > 0
    saved = json.loads((out_dir / "metrics.json").read_text())
    assert saved["heldout_bpc"] == pytest.approx(metrics["heldout_bpc"])


def test_check_reports_a_model_no_better_than_the_unigram(example, quick_run):
    args, metrics, _ = quick_run
    bad = dict(metrics, heldout_bpc=metrics["unigram_bpc"] - 0.1)
    bad["samples"] = {"1.0": ["x" * (args.sample_len - 1)] * args.num_samples}
    bad["incremental_mismatch_nats_per_char"] = 0.5
    problems = example.check(bad, args)
    assert any("below the unigram" in p for p in problems)
    assert any("wrong length" in p for p in problems)
    assert any("sampling disagrees with the full-sequence model" in p for p in problems)


def test_heldout_windows_predict_every_id_once(example):
    ids = np.arange(10, 33, dtype=np.int32)  # 23 ids in windows of 6
    inputs, targets, mask = example.heldout_windows(ids, start_id=7, length=6)
    assert inputs.shape == targets.shape == mask.shape == (4, 6)
    np.testing.assert_array_equal(targets[mask > 0], ids)
    np.testing.assert_array_equal(inputs[mask > 0], np.concatenate([[7], ids[:-1]]))


def test_top_k_keeps_the_k_largest_logits(example):
    logits = jnp.array([[0.5, 3.0, -1.0, 2.0], [1.0, 0.0, 4.0, 2.0]])
    kept = example.top_k_logits(logits, 2)
    np.testing.assert_array_equal(jnp.isfinite(kept), [[0, 1, 0, 1], [0, 0, 1, 1]])
    np.testing.assert_array_equal(kept[jnp.isfinite(kept)], [3.0, 2.0, 4.0, 2.0])
    assert example.top_k_logits(logits, 0) is logits


def test_cached_greedy_sampling_equals_the_full_model(example):
    model = example.CharTransformer(11, 8, 2, 1, 0.0, num_kv_heads=1, rng_key=jax.random.PRNGKey(1))
    prompt = jnp.array([3, 4, 5])

    @jax.jit  # one compilation for everything
    def compute(model):
        # a near-zero temperature samples the argmax, which the full model confirms
        sample, log_p = example.sample(model, jax.random.PRNGKey(0), prompt, 2, 6, 1e-4, 3)
        text = jnp.concatenate([jnp.broadcast_to(prompt, (2, 3)), sample], axis=1)
        logits = model.eval()(text[:, :-1])
        return sample, log_p, logits, example.sequence_log_prob(model, prompt, sample)

    sample, log_p, logits, full_log_p = compute(model)
    assert sample.shape == (2, 6)
    np.testing.assert_array_equal(jnp.argmax(logits[:, 2:], axis=-1), sample)
    np.testing.assert_allclose(full_log_p, log_p, rtol=1e-5, atol=1e-5)
    assert isinstance(model, pax.Module)
