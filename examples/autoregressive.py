"""Fit an autoregressive stack of masked convolutions to a Markov chain, then sample it.

Run from the repository root (CPU is enough; about a minute, ``--quick`` a few seconds):

    python examples/autoregressive.py [--quick] [--steps 1500] [--out-dir runs/autoregressive]

The data are sequences of length ``--length`` over ``--alphabet`` symbols drawn from a
second-order Markov chain with random (peaked) transition probabilities, so the exact
entropy of a sequence, ``H = H(x0) + H(x1 | x0) + sum_t H(x_t | x_{t-2}, x_{t-1})``, is
computed exactly by propagating the pair marginals.

The model (``pax.nn`` masked layers, as in NetKet's ARNNConv1D) is
``MaskedConv1D(exclusive=True) -> gelu -> MaskedConv1D(dilation 2) -> gelu ->
MaskedConv1D(kernel 1)``, giving the logits of ``p(x_i | x_<i)``. It is trained with
``pax.build_update_fn`` + ``opax.adam`` on the negative log-likelihood (NLL); the script
prints the held-out NLL (nats per sequence) next to the exact entropy, the lower bound
it approaches.

Sampling then uses the incremental mode: ``init_cache`` and ``update_site`` inside one
jitted ``jax.lax.scan`` over positions, one position of every layer per step. The
script prints sample statistics against the true chain: the mean true log-likelihood
of the samples (about ``-H`` when the model is right), the symbol frequencies, and the
largest error of the estimated transition probabilities. It exits with status 1 if
the NLL gap to the entropy or the sample statistics are off by more than the
tolerances. ``--quick`` (or ``PAX_EXAMPLES_QUICK=1``) runs a reduced version. The
training curve (``curve.png``) and the metrics (``metrics.json``) go to ``--out-dir``.
"""

import argparse
import os
import sys
import time
from typing import Any

import _common  # the examples' shared helpers, next to this file
import jax
import jax.numpy as jnp
import numpy as np
import opax

import pax
from pax.nn import MaskedConv1D, init_cache

# -- the data: a second-order Markov chain --------------------------------------------


class MarkovChain:
    """``p(x0) p(x1 | x0) prod_t T[x_{t-2}, x_{t-1}, x_t]`` over ``alphabet`` symbols.

    The conditionals are peaked Dirichlet draws mixed with a little of the uniform
    distribution (``floor``), so that no probability is tiny.
    """

    def __init__(self, alphabet: int, concentration: float, seed: int, floor: float = 0.05):
        rng = np.random.default_rng(seed)
        a = alphabet

        def draw(size):
            return (1 - floor) * rng.dirichlet(np.full(a, concentration), size) + floor / a

        self.alphabet = a
        self.p0 = rng.dirichlet(np.ones(a))
        self.p1 = draw(a)  # (a, a)
        self.transition = draw((a, a))  # (a, a, a)

    def entropy(self, length: int) -> float:
        """The exact entropy (nats) of a sequence of ``length`` symbols."""

        def h(p: np.ndarray) -> np.ndarray:
            return -np.sum(p * np.log(p), axis=-1)

        total = h(self.p0) + self.p0 @ h(self.p1)
        pair = self.p0[:, None] * self.p1  # P(x_{t-2}, x_{t-1})
        for _ in range(2, length):
            total += np.sum(pair * h(self.transition))
            pair = np.einsum("ab,abc->bc", pair, self.transition)
        return float(total)

    def symbol_marginals(self, length: int) -> np.ndarray:
        """The exact ``P(x_t = s)`` averaged over positions ``t``."""
        marginals = [self.p0, self.p0 @ self.p1]
        pair = self.p0[:, None] * self.p1
        for _ in range(2, length):
            pair = np.einsum("ab,abc->bc", pair, self.transition)
            marginals.append(pair.sum(axis=0))
        return np.mean(marginals, axis=0)

    def sample(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        def draw(p: np.ndarray) -> np.ndarray:  # one draw per row of p (n, a)
            return (rng.random((len(p), 1)) < np.cumsum(p, axis=-1)).argmax(axis=-1)

        x = np.zeros((n, length), np.int32)
        x[:, 0] = draw(np.broadcast_to(self.p0, (n, self.alphabet)))
        x[:, 1] = draw(self.p1[x[:, 0]])
        for t in range(2, length):
            x[:, t] = draw(self.transition[x[:, t - 2], x[:, t - 1]])
        return x

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """The exact log-probability of each sequence ``x`` (n, length)."""
        lp = np.log(self.p0[x[:, 0]]) + np.log(self.p1[x[:, 0], x[:, 1]])
        lp += np.log(self.transition[x[:, :-2], x[:, 1:-1], x[:, 2:]]).sum(axis=1)
        return lp


# -- the model ---------------------------------------------------------------------------


class ConvARNN(pax.Module):
    """Masked convolutions; the first is exclusive, so logits ``i`` depend on ``x_<i``."""

    def __init__(self, alphabet: int, features: int, *, rng_key: jax.Array):
        super().__init__()
        k1, k2, k3 = jax.random.split(rng_key, 3)
        self.alphabet = alphabet
        self.layers = [
            MaskedConv1D(features, 3, 1, True, in_features=alphabet, rng_key=k1),
            MaskedConv1D(features, 3, 2, False, in_features=features, rng_key=k2),
            MaskedConv1D(alphabet, 1, 1, False, in_features=features, rng_key=k3),
        ]

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(batch, length)`` symbols -> ``(batch, length, alphabet)`` logits."""
        h = jax.nn.one_hot(x, self.alphabet)
        for layer in self.layers[:-1]:
            h = jax.nn.gelu(layer(h))
        return self.layers[-1](h)

    def update_site(self, x_prev: jax.Array) -> jax.Array:
        """One sampling step: the one-hot previous symbol -> the logits at this position."""
        h = x_prev
        for layer in self.layers[:-1]:
            h = jax.nn.gelu(layer.update_site(h))
        return self.layers[-1].update_site(h)


def nll_per_sequence(model: ConvARNN, x: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(model(x))
    return -jnp.take_along_axis(log_p, x[..., None], axis=-1)[..., 0].sum(axis=-1)


def loss_fn(model: ConvARNN, x: jax.Array):
    loss = jnp.mean(nll_per_sequence(model, x))
    return loss, (loss, model)


def sample(model: ConvARNN, key: jax.Array, n: int, length: int) -> jax.Array:
    """``n`` sequences, one position at a time with the layers' caches (jit-able)."""

    def step(carry, key):
        net, x_prev = carry
        net, logits = pax.module_and_value(net.update_site)(x_prev)
        x = jax.random.categorical(key, logits)
        return (net, jax.nn.one_hot(x, model.alphabet)), x

    start = (init_cache(model, n), jnp.zeros((n, model.alphabet)))  # no x_{-1}
    _, xs = jax.lax.scan(step, start, jax.random.split(key, length))
    return xs.T  # (n, length)


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (a few seconds)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--length", type=int, default=24)
    parser.add_argument("--alphabet", type=int, default=3)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--train-size", type=int, default=16384)
    parser.add_argument("--test-size", type=int, default=16384)
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("--max-gap", type=float, default=0.02, help="NLL / entropy - 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "autoregressive"))
    args = parser.parse_args(argv)
    if _common.quick_mode(argv if argv is not None else sys.argv[1:]):
        args.quick = True
        args.steps, args.log_every, args.length, args.learning_rate = 300, 100, 12, 1e-2
        args.train_size, args.test_size, args.max_gap = 2048, 2048, 0.06
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate and sample; return the metrics."""
    start = time.perf_counter()
    chain = MarkovChain(args.alphabet, concentration=0.3, seed=args.seed)
    entropy = chain.entropy(args.length)
    rng = np.random.default_rng(args.seed)
    train = chain.sample(args.train_size, args.length, rng)
    test = chain.sample(args.test_size, args.length, rng)

    model_key, sample_key = jax.random.split(jax.random.PRNGKey(args.seed))
    model = ConvARNN(args.alphabet, args.features, rng_key=model_key)
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    # a Python loop over jitted steps (on CPU, XLA runs convolutions inside a scan's
    # loop several times slower than in a jitted step)
    update_fn = jax.jit(pax.build_update_fn(loss_fn))

    print(model.summary())
    print(
        f"second-order Markov chain, {args.alphabet} symbols, length {args.length}: "
        f"exact entropy {entropy:.4f} nats per sequence (uniform: "
        f"{args.length * np.log(args.alphabet):.4f})"
    )
    batches = jnp.asarray(train[rng.integers(0, len(train), (args.steps, args.batch_size))])
    bar = _common.progress(range(1, args.steps + 1), desc="masked conv ARNN")
    for step in bar:
        model, optimizer, loss = update_fn(model, optimizer, batches[step - 1])
        bar.update_loss(loss)
        if step % args.log_every == 0 or step == 1:
            print(f"step {step:5d}  train NLL {float(loss):.4f} nats per sequence")
    bar.close()

    test_nll = np.asarray(jax.jit(nll_per_sequence)(model, jnp.asarray(test)))
    nll, nll_err = float(test_nll.mean()), float(test_nll.std() / np.sqrt(len(test_nll)))
    gap = nll / entropy - 1
    print(
        f"held-out NLL {nll:.4f} +- {nll_err:.4f} nats per sequence "
        f"({nll / np.log(2):.3f} bits), exact entropy {entropy:.4f} "
        f"({entropy / np.log(2):.3f} bits): gap {100 * gap:.2f}%"
    )

    # as many samples as held-out sequences: the NLL function is then compiled once
    samples = np.asarray(
        jax.jit(sample, static_argnums=(2, 3))(model, sample_key, args.test_size, args.length)
    )
    true_log_p = chain.log_prob(samples)
    sample_nll = float(-true_log_p.mean())
    sample_err = float(true_log_p.std() / np.sqrt(len(true_log_p)))
    # KL(q || p) = E_q[log q - log p], with log q from the full (not incremental) model
    log_ratio = -np.asarray(jax.jit(nll_per_sequence)(model, jnp.asarray(samples))) - true_log_p
    kl_qp, kl_qp_err = float(log_ratio.mean()), float(log_ratio.std() / np.sqrt(len(log_ratio)))
    freq = np.bincount(samples.ravel(), minlength=args.alphabet) / samples.size
    exact_freq = chain.symbol_marginals(args.length)
    # transition probabilities estimated from the samples, for contexts seen >= 1000 times
    # (sampling noise alone is then up to about 0.03)
    ctx = samples[:, :-2] * args.alphabet + samples[:, 1:-1]
    worst = 0.0
    for c in range(args.alphabet**2):
        nxt = samples[:, 2:][ctx == c]
        if len(nxt) >= 1000:
            est = np.bincount(nxt, minlength=args.alphabet) / len(nxt)
            true = chain.transition[c // args.alphabet, c % args.alphabet]
            worst = max(worst, float(np.abs(est - true).max()))
    print(f"\n{args.test_size} samples by incremental steps (one jitted scan):")
    print(
        f"  mean true NLL of the samples {sample_nll:.4f} +- {sample_err:.4f} "
        f"(exact entropy {entropy:.4f})"
    )
    print(
        f"  KL(model || true) {kl_qp:.4f} +- {kl_qp_err:.4f} nats "
        f"(KL(true || model) = NLL - entropy = {nll - entropy:.4f})"
    )
    print(f"  symbol frequencies {np.round(freq, 4).tolist()}")
    print(f"  exact              {np.round(exact_freq, 4).tolist()}")
    print(f"  largest transition-probability error {worst:.4f}")
    elapsed = time.perf_counter() - start
    print(f"({elapsed:.1f} s)")
    metrics = {
        "entropy": entropy,
        "nll": nll,
        "gap": gap,
        "sample_nll": sample_nll,
        "sample_err": sample_err,
        "kl_model_true": kl_qp,
        "freq_error": float(np.abs(freq - exact_freq).max()),
        "transition_error": worst,
        "seconds": elapsed,
    }
    curve = _common.save_curve(
        os.path.join(args.out_dir, "curve.png"),
        {"training NLL": bar.losses, "exact entropy": [entropy] * len(bar.losses)},
        title="masked-convolution ARNN on a second-order Markov chain",
        ylabel="nats per sequence",
    )
    _common.write_metrics(os.path.join(args.out_dir, "metrics.json"), metrics)
    print(f"wrote {curve} and {os.path.join(args.out_dir, 'metrics.json')}")
    return metrics


def check(metrics: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """What is off: the NLL gap, and sample statistics beyond noise plus model error."""
    problems = []
    if not -0.02 < metrics["gap"] < args.max_gap:
        problems.append(f"NLL gap {metrics['gap']:.4f} is not in (-0.02, {args.max_gap})")
    sample_gap = abs(metrics["sample_nll"] / metrics["entropy"] - 1)
    if not sample_gap < 2 * args.max_gap:
        problems.append(f"the samples' true NLL is {100 * sample_gap:.2f}% off the entropy")
    if not metrics["freq_error"] < 0.03:
        problems.append(f"symbol frequencies are off by {metrics['freq_error']:.4f}")
    if not metrics["transition_error"] < 0.1:
        problems.append(f"transition probabilities off by {metrics['transition_error']:.4f}")
    return problems


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    sys.exit(main())
