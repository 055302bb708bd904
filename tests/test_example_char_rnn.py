"""examples/char_rnn.py: its quick run beats the unigram baseline and samples well-formed
text; its pieces (held-out streams, incremental sampling) are checked on small inputs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("char_rnn")


@pytest.fixture(scope="module")
def quick_run(example, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("char_rnn")
    args = example.parse_args(["--quick", "--out-dir", str(out_dir)])
    return args, example.run(args), out_dir


def test_quick_run_beats_the_unigram_baseline(example, quick_run):
    args, metrics, out_dir = quick_run
    assert args.quick and args.steps <= 500
    assert example.check(metrics, args) == []
    # the baselines are what they should be for English text, the model far below both
    assert 4.0 < metrics["unigram_bpc"] < 5.5
    assert metrics["bigram_bpc"] < metrics["unigram_bpc"] - 0.8
    assert metrics["heldout_bpc"] < metrics["unigram_bpc"] - 1.5
    assert metrics["heldout_bpc"] < metrics["bigram_bpc"] - 0.5
    assert metrics["heldout_bpc"] > 1.0  # sanity: no leak of the held-out text
    curve = metrics["heldout_curve"]
    assert curve[-1][1] < curve[0][1]
    assert (out_dir / "curve.png").stat().st_size > 0
    assert json.loads((out_dir / "metrics.json").read_text())["heldout_bpc"] == pytest.approx(
        metrics["heldout_bpc"]
    )


def test_quick_run_samples_have_the_right_length_and_vocabulary(quick_run):
    args, metrics, _ = quick_run
    vocab = set(metrics["vocab"])
    assert set(metrics["samples"]) == {str(t) for t in args.temperatures}
    for texts in metrics["samples"].values():
        assert len(texts) == args.num_samples
        assert all(len(text) == args.sample_len and set(text) <= vocab for text in texts)
    # the step-by-step log-probabilities are the full-sequence model's
    assert metrics["incremental_mismatch_nats_per_char"] < 1e-4
    # a cooler temperature gives likelier text
    bpc = metrics["sample_bpc"]
    assert bpc["0.5"] < bpc["1.0"]


def test_check_reports_a_model_no_better_than_the_unigram(example, quick_run):
    args, metrics, _ = quick_run
    bad = dict(metrics, heldout_bpc=metrics["unigram_bpc"] - 0.1)
    bad["samples"] = {"1.0": ["x" * (args.sample_len - 1)] * args.num_samples}
    problems = example.check(bad, args)
    assert any("below the unigram" in p for p in problems)
    assert any("wrong length" in p for p in problems)


def test_corpus_holds_out_whole_topics(example):
    from pydoc_data.topics import topics

    corpus = example.Corpus(holdout_every=10)
    held = corpus.decode(corpus.heldout)
    for name in corpus.heldout_topics:
        assert topics[name] in held
    assert corpus.decode(corpus.train).count(topics[corpus.heldout_topics[0]]) == 0
    assert corpus.decode(corpus.encode("The int")) == "The int"


def test_contiguous_rows_predict_every_id_once(example):
    ids = np.arange(10, 33, dtype=np.int32)  # 23 ids in 4 rows of 6
    inputs, targets, mask = example.contiguous_rows(ids, start_id=7, rows=4)
    assert inputs.shape == targets.shape == mask.shape == (4, 6)
    np.testing.assert_array_equal(targets[mask > 0], ids)
    np.testing.assert_array_equal(inputs[mask > 0], np.concatenate([[7], ids[:-1]]))


def test_step_by_step_equals_the_full_sequence_and_greedy_sampling(example):
    model = example.CharLSTM(11, 8, 16, rng_key=jax.random.PRNGKey(1))
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 11, (3, 7)), jnp.int32)
    prompt = jnp.array([3, 4])

    @jax.jit  # one compilation for everything (eager calls are slow on a busy CPU)
    def compute(model, ids):
        _, logits = model(model.initial_state(3), ids)
        _, step_logits = jax.lax.scan(model.step, model.initial_state(3), ids.T)
        # a near-zero temperature samples the argmax, which the full model confirms
        sample, log_p = example.sample(model, jax.random.PRNGKey(0), prompt, 2, 5, 1e-4)
        text = jnp.concatenate([jnp.broadcast_to(prompt, (2, 2)), sample], axis=1)
        _, sample_logits = model(model.initial_state(2), text[:, :-1])
        full_log_p = example.sequence_log_prob(model, prompt, sample)
        return logits, step_logits.swapaxes(0, 1), sample, log_p, sample_logits, full_log_p

    logits, step_logits, sample, log_p, sample_logits, full_log_p = compute(model, ids)
    np.testing.assert_allclose(step_logits, logits, rtol=1e-5, atol=1e-5)
    assert sample.shape == (2, 5) and log_p.shape == (2,)
    np.testing.assert_array_equal(jnp.argmax(sample_logits[:, 1:], axis=-1), sample)
    np.testing.assert_allclose(full_log_p, log_p, rtol=1e-5, atol=1e-5)


def test_quick_mode_from_the_environment(example, monkeypatch):
    monkeypatch.setenv("PAX_EXAMPLES_QUICK", "1")
    assert example.parse_args([]).quick
    monkeypatch.setenv("PAX_EXAMPLES_QUICK", "0")
    args = example.parse_args([])
    assert not args.quick and args.steps == 1000
