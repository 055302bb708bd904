"""examples/autoregressive.py in its reduced (``--quick``) mode: it trains, samples with
the incremental mode, and its metrics are sane."""

import json

import numpy as np
from helpers import load_example


def test_quick_run_approaches_the_exact_entropy(capsys, tmp_path):
    example = load_example("autoregressive")
    args = example.parse_args(["--quick", "--out-dir", str(tmp_path)])
    assert args.quick and args.steps < 1000
    metrics = example.run(args)
    assert example.check(metrics, args) == []
    entropy = metrics["entropy"]
    # far below the uniform model, and close to (not below) the exact entropy
    assert entropy < 0.7 * args.length * np.log(args.alphabet)
    assert entropy * 0.98 < metrics["nll"] < entropy * 1.06
    # the incremental sampler draws from the model: its samples look like the chain
    assert abs(metrics["sample_nll"] - entropy) < 0.1 * entropy
    assert 0 <= metrics["kl_model_true"] + 0.05 and metrics["kl_model_true"] < 0.3
    assert metrics["freq_error"] < 0.03
    out = capsys.readouterr().out
    assert "held-out NLL" in out and "samples by incremental steps" in out
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics


def test_the_exact_entropy_matches_a_monte_carlo_estimate():
    example = load_example("autoregressive")
    chain = example.MarkovChain(3, concentration=0.3, seed=1)
    x = chain.sample(20000, 8, np.random.default_rng(0))
    log_p = chain.log_prob(x)
    assert abs(-log_p.mean() - chain.entropy(8)) < 4 * log_p.std() / np.sqrt(len(x))
    np.testing.assert_allclose(
        np.bincount(x.ravel(), minlength=3) / x.size, chain.symbol_marginals(8), atol=0.01
    )
