"""A character-level LSTM language model on Python's own documentation, then sampled.

Run from the repository root (CPU is enough; about 3 minutes on 2 cores, ``--quick``
about 15 s):

    python examples/char_rnn.py [--quick] [--steps 1000] [--out-dir runs/char_rnn]

The text is real English that ships with every CPython: the documentation topics of
the standard library's ``pydoc_data`` (``from pydoc_data.topics import topics``, the
pages ``help()`` shows; about 465,000 characters in Python 3.11). The topics are sorted
by name and every ``--holdout-every``-th one is held out, whole, for evaluation; the
vocabulary is every character of the corpus.

The model is ``pax.Embed -> pax.LSTM -> pax.Linear``; the LSTM runs over batch-major
``(batch, time)`` windows with ``pax.scan(..., time_major=False)``. Training uses
``pax.build_update_fn`` + ``opax.adam`` under ``jax.jit`` on random windows of the
training text, each started from the zero state. The script
reports bits per character (bpc) on the held-out topics, read as ``--eval-rows`` long
contiguous streams, each from the zero state with the recurrent state carried along,
next to two count baselines fitted on the training text: a unigram and a bigram
model (add-one smoothing). A full run reaches about 1.95 bpc (unigram 4.71, bigram
3.46); the training windows reach about 1.5, the held-out topics being other pages.

It then samples text at a few temperatures, one character at a time: the LSTM cell is
called on the previous character with the recurrent state in a ``jax.lax.scan``,
keys come from a ``pax.RngSeq``. As a check of that incremental mode, the sample's
log-probability accumulated step by step is compared with the full-sequence model's
on the same text.

Writes ``curve.png`` (training and held-out bpc) and ``metrics.json`` to ``--out-dir``;
exits with status 1 if the held-out bpc is not below the unigram baseline by
``--min-gain`` bits or the samples are malformed.
"""

import argparse
import math
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

LN2 = math.log(2.0)

# -- the data -----------------------------------------------------------------------------


class Corpus:
    """The pydoc topics as integer ids: ``train`` and ``heldout`` (whole topics)."""

    def __init__(self, holdout_every: int, holdout_offset: int = 3):
        from pydoc_data.topics import topics

        names = sorted(topics)
        held = set(names[holdout_offset::holdout_every])
        self.heldout_topics = [n for n in names if n in held]
        # topics are joined by a blank line, as the model sees them in training
        train_text = "\n\n".join(topics[n] for n in names if n not in held)
        heldout_text = "\n\n".join(topics[n] for n in self.heldout_topics)
        self.chars = sorted(set(train_text) | set(heldout_text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.train = self.encode(train_text)
        self.heldout = self.encode(heldout_text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index[c] for c in text], np.int32)

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())


def count_baselines(corpus: Corpus) -> tuple[float, float]:
    """Held-out bpc of a unigram and a bigram model counted on the training text."""
    v = corpus.vocab_size
    unigram = np.bincount(corpus.train, minlength=v) + 1.0
    unigram /= unigram.sum()
    pairs = np.zeros((v, v))
    np.add.at(pairs, (corpus.train[:-1], corpus.train[1:]), 1.0)
    bigram = (pairs + 1.0) / (pairs + 1.0).sum(axis=1, keepdims=True)
    # the first held-out character follows the blank line that separates topics
    previous = np.concatenate([corpus.encode("\n"), corpus.heldout[:-1]])
    unigram_bpc = -np.mean(np.log2(unigram[corpus.heldout]))
    bigram_bpc = -np.mean(np.log2(bigram[previous, corpus.heldout]))
    return float(unigram_bpc), float(bigram_bpc)


def random_windows(data: np.ndarray, rng: np.random.Generator, batch: int, length: int):
    """``batch`` windows of ``length + 1`` characters at random offsets: (batch, length + 1)."""
    starts = rng.integers(0, len(data) - length - 1, batch)
    return data[starts[:, None] + np.arange(length + 1)]


def contiguous_rows(ids: np.ndarray, start_id: int, rows: int):
    """Cut ``ids`` into ``rows`` contiguous streams: ``(inputs, targets, mask)``, each
    ``(rows, L)``; every id is a target once, its input the id before it (``start_id``
    before the first)."""
    n = len(ids)
    length = -(-n // rows)
    stream = np.concatenate([[start_id], ids, np.zeros(rows * length - n, np.int32)])
    pos = np.arange(rows)[:, None] * length + np.arange(length)
    return stream[pos], stream[pos + 1], (pos < n).astype(np.float32)


# -- the model ------------------------------------------------------------------------------


class CharLSTM(pax.Module):
    """``Embed -> LSTM -> Linear``: the logits of the next character at every position."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, *, rng_key: jax.Array):
        super().__init__()
        k1, k2, k3 = jax.random.split(rng_key, 3)
        self.embed = pax.Embed(
            vocab_size, embed_dim, w_init=jax.nn.initializers.normal(1.0), rng_key=k1
        )
        self.lstm = pax.LSTM(embed_dim, hidden_dim, forget_gate_bias=1.0, rng_key=k2)
        self.head = pax.Linear(hidden_dim, vocab_size, rng_key=k3)

    def initial_state(self, batch_size: int) -> pax.LSTMState:
        return self.lstm.initial_state(batch_size)

    def __call__(self, state: pax.LSTMState, ids: jax.Array) -> tuple[pax.LSTMState, jax.Array]:
        """``(N, T)`` ids -> the state after them and ``(N, T, vocab)`` logits."""
        state, hidden = pax.scan(self.lstm, state, self.embed(ids), time_major=False)
        return state, self.head(hidden)

    def step(self, state: pax.LSTMState, ids: jax.Array) -> tuple[pax.LSTMState, jax.Array]:
        """One character per sequence: ``(N,)`` ids -> the next state and ``(N, vocab)`` logits."""
        state, hidden = self.lstm(state, self.embed(ids))
        return state, self.head(hidden)


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """The negative log-likelihood (nats) of each target under the logits."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]


def loss_fn(model: CharLSTM, windows: jax.Array):
    """Mean NLL (nats per character) of each window's characters after the first."""
    inputs, targets = windows[:, :-1], windows[:, 1:]
    _, logits = model(model.initial_state(inputs.shape[0]), inputs)
    loss = jnp.mean(token_nll(logits, targets))
    return loss, (loss, model)


@jax.jit
def heldout_bpc(model: CharLSTM, inputs: jax.Array, targets: jax.Array, mask: jax.Array):
    """Bits per character over contiguous streams, the state carried along each row."""
    _, logits = model(model.initial_state(inputs.shape[0]), inputs)
    return jnp.sum(token_nll(logits, targets) * mask) / jnp.sum(mask) / LN2


@jax.jit
def sequence_log_prob(model: CharLSTM, prompt: jax.Array, sample: jax.Array) -> jax.Array:
    """The full-sequence model's log-probability (nats) of ``sample`` after ``prompt``;
    ``prompt`` (P,), ``sample`` (N, L)."""
    n = sample.shape[0]
    text = jnp.concatenate([jnp.broadcast_to(prompt, (n, prompt.shape[0])), sample], axis=1)
    _, logits = model(model.initial_state(n), text[:, :-1])
    return -jnp.sum(token_nll(logits[:, prompt.shape[0] - 1 :], sample), axis=1)


def sample(
    model: CharLSTM, key: jax.Array, prompt: jax.Array, num: int, length: int, temperature: Any
) -> tuple[jax.Array, jax.Array]:
    """``num`` continuations of ``length`` characters after ``prompt`` (P,), one step at a
    time with the recurrent state; returns the ids (num, length) and their
    log-probabilities (nats) under the model at temperature 1."""
    # read the prompt (all but its last character) in one go, then step
    context = jnp.broadcast_to(prompt[:-1], (num, prompt.shape[0] - 1))
    state, _ = model(model.initial_state(num), context)

    def step(carry, key):
        state, previous = carry
        state, logits = model.step(state, previous)
        ids = jax.random.categorical(key, logits / temperature)
        log_p = -token_nll(logits, ids)
        return (state, ids), (ids, log_p)

    start = (state, jnp.full((num,), prompt[-1]))
    _, (ids, log_p) = jax.lax.scan(step, start, jax.random.split(key, length))
    return ids.T, jnp.sum(log_p, axis=0)


sample_jit = jax.jit(sample, static_argnums=(3, 4))  # the temperature is traced


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (about 15 s)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--holdout-every", type=int, default=10, help="hold out every k-th topic")
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--eval-rows", type=int, default=32, help="parallel held-out streams")
    parser.add_argument("--eval-chars", type=int, default=0, help="0: all held-out characters")
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--sample-len", type=int, default=300)
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--min-gain", type=float, default=1.5, help="bits below the unigram")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "char_rnn"))
    args = parser.parse_args(argv)
    if args.quick or _common.quick_mode(argv):
        args.quick = True
        args.steps, args.batch_size, args.seq_len, args.hidden_dim = 300, 32, 64, 128
        args.eval_every, args.eval_chars, args.sample_len, args.min_gain = 100, 16384, 120, 1.0
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate on the held-out topics and sample; return the metrics."""
    start = time.perf_counter()
    corpus = Corpus(args.holdout_every)
    unigram_bpc, bigram_bpc = count_baselines(corpus)
    heldout = corpus.heldout[: args.eval_chars] if args.eval_chars else corpus.heldout
    eval_data = [
        jnp.asarray(a) for a in contiguous_rows(heldout, corpus.index["\n"], args.eval_rows)
    ]
    print(
        f"pydoc_data topics: {len(corpus.train):,} training characters, "
        f"{len(corpus.heldout):,} held out ({len(corpus.heldout_topics)} topics, e.g. "
        f"{', '.join(corpus.heldout_topics[:3])}), vocabulary of {corpus.vocab_size}"
    )
    print(f"held-out baselines: unigram {unigram_bpc:.3f} bpc, bigram {bigram_bpc:.3f} bpc")

    model_key, sample_seed = jax.random.split(jax.random.PRNGKey(args.seed))
    model = CharLSTM(corpus.vocab_size, args.embed_dim, args.hidden_dim, rng_key=model_key)
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    print(model.summary())

    rng = np.random.default_rng(args.seed)
    bar = _common.progress(range(1, args.steps + 1), desc="char_rnn")
    train_bpc: list[float] = []
    heldout_curve: list[tuple[int, float]] = []
    for step in bar:
        windows = jnp.asarray(random_windows(corpus.train, rng, args.batch_size, args.seq_len))
        model, optimizer, loss = update_fn(model, optimizer, windows)
        train_bpc.append(float(loss) / LN2)
        if step % args.eval_every == 0 or step == args.steps:
            heldout_curve.append((step, float(heldout_bpc(model, *eval_data))))
        last_heldout = heldout_curve[-1][1] if heldout_curve else math.nan
        bar.update_loss(train_bpc[-1], heldout_bpc=last_heldout)
    bar.close()
    train_seconds = time.perf_counter() - start
    final_bpc = heldout_curve[-1][1]
    print(
        f"held-out {final_bpc:.3f} bpc (unigram {unigram_bpc:.3f}, bigram {bigram_bpc:.3f}) "
        f"on {len(heldout):,} characters after {args.steps} steps ({train_seconds:.1f} s)"
    )

    rng_seq = pax.RngSeq(rng_key=sample_seed)
    prompt = jnp.asarray(corpus.encode(args.prompt))
    samples: dict[str, list[str]] = {}
    sample_bpc: dict[str, float] = {}
    mismatch = 0.0
    for temperature in args.temperatures:
        rng_seq, key = pax.module_and_value(rng_seq.next_rng_key)()
        ids, log_p = sample_jit(
            model, key, prompt, args.num_samples, args.sample_len, float(temperature)
        )
        full_log_p = sequence_log_prob(model, prompt, ids)
        mismatch = max(mismatch, float(jnp.max(jnp.abs(full_log_p - log_p) / args.sample_len)))
        samples[str(temperature)] = [corpus.decode(row) for row in np.asarray(ids)]
        sample_bpc[str(temperature)] = float(-jnp.mean(log_p) / args.sample_len / LN2)
        print(
            f"\n--- temperature {temperature} ({sample_bpc[str(temperature)]:.2f} bits/char "
            f"under the model) ---\n{args.prompt}{samples[str(temperature)][0]}"
        )
    elapsed = time.perf_counter() - start
    print(f"\n({elapsed:.1f} s)")

    return report(
        args,
        "char LSTM",
        corpus,
        train_bpc,
        heldout_curve,
        (unigram_bpc, bigram_bpc),
        {
            "heldout_chars": int(len(heldout)),
            "samples": samples,
            "sample_bpc": sample_bpc,
            "sample_len": args.sample_len,
            "incremental_mismatch_nats_per_char": mismatch,
            "train_seconds": train_seconds,
            "seconds": elapsed,
        },
    )


def report(
    args: argparse.Namespace,
    model_name: str,
    corpus: Corpus,
    train_bpc: list[float],
    heldout_curve: list[tuple[int, float]],
    baselines: tuple[float, float],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The metrics of a character model (held-out and training bpc, the unigram and
    bigram baselines, ``extra``) and its training curve, written to ``args.out_dir``."""
    unigram_bpc, bigram_bpc = baselines
    final_bpc = heldout_curve[-1][1]
    steps_of_eval = dict(heldout_curve)
    filled, current = [], float("nan")
    for step in range(1, args.steps + 1):
        current = steps_of_eval.get(step, current)
        filled.append(current)
    metrics = {
        "heldout_bpc": final_bpc,
        "unigram_bpc": unigram_bpc,
        "bigram_bpc": bigram_bpc,
        "train_bpc_last100": float(np.mean(train_bpc[-100:])),
        "heldout_curve": heldout_curve,
        "train_chars": int(len(corpus.train)),
        "vocab": corpus.chars,
        "steps": args.steps,
        **extra,
    }
    metrics["curve"] = _common.save_curve(
        os.path.join(args.out_dir, "curve.png"),
        {
            "train (random windows)": train_bpc,
            "held-out (at each evaluation)": filled,
            "unigram baseline (held-out)": [unigram_bpc] * args.steps,
            "bigram baseline (held-out)": [bigram_bpc] * args.steps,
        },
        title=f"{model_name} on pydoc_data: bits per character (final {final_bpc:.3f})",
        ylabel="bits per character",
    )
    _common.write_metrics(os.path.join(args.out_dir, "metrics.json"), metrics)
    return metrics


def check(metrics: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """What is off: the held-out bpc against the unigram baseline, the samples' form."""
    problems = []
    gain = metrics["unigram_bpc"] - metrics["heldout_bpc"]
    if not gain > args.min_gain:
        problems.append(
            f"held-out {metrics['heldout_bpc']:.3f} bpc is not {args.min_gain} bits below the "
            f"unigram baseline {metrics['unigram_bpc']:.3f}"
        )
    vocab = set(metrics["vocab"])
    for temperature, texts in metrics["samples"].items():
        if len(texts) != args.num_samples or any(len(t) != args.sample_len for t in texts):
            problems.append(f"samples at temperature {temperature} have the wrong length")
        if any(set(t) - vocab for t in texts):
            problems.append(f"samples at temperature {temperature} leave the vocabulary")
    if not metrics["incremental_mismatch_nats_per_char"] < 1e-3:
        problems.append(
            "step-by-step sampling disagrees with the full-sequence model by "
            f"{metrics['incremental_mismatch_nats_per_char']:.2e} nats per character"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    sys.exit(main())
