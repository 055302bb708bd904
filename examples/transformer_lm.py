"""A character-level Transformer language model on Python's own documentation, sampled
with a key/value cache.

Run from the repository root (CPU is enough; a few minutes on 2 cores, ``--quick``
about 20 s):

    python examples/transformer_lm.py [--quick] [--steps 1500] [--out-dir runs/transformer_lm]

The text is the one ``examples/char_rnn.py`` uses (its loader): the documentation
topics of the standard library's ``pydoc_data``, every ``--holdout-every``-th topic
held out whole. The model is ``pax.Embed -> pax.nets.Transformer -> pax.Linear``, the
Transformer with rotary position embeddings (``rope_base``) and grouped-query
attention (``num_kv_heads``); training uses ``pax.build_update_fn`` + ``opax.adam``
under ``jax.jit`` on random windows of ``--seq-len`` characters, with dropout.

The held-out topics are cut into consecutive windows of ``--seq-len`` characters;
each window is predicted from its own characters only (the first from the character
before it), so the reported bits per character (bpc) is that of a model with at most
``--seq-len`` characters of context. Count baselines (unigram, bigram) are
``char_rnn``'s.

Sampling uses the incremental mode: ``pax.nn.init_cache(model, N, max_length=...)``
gives every attention layer a key/value cache and one ``jax.lax.scan`` of
``model.update_site`` reads the prompt and then draws one character per step, with a
temperature and top-k, under ``jax.jit``. By default the prompt and the sample fill
``--seq-len`` positions: the model was trained on windows that long, and its text
degrades at the positions it never saw. As a check, the sample's log-probability
accumulated step by step is compared with the full-sequence model's on the same text.

Writes ``curve.png`` and ``metrics.json`` to ``--out-dir``; exits with status 1 if
the held-out bpc is not below the unigram baseline by ``--min-gain`` bits or the
samples are malformed.
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
from char_rnn import LN2, Corpus, count_baselines, random_windows, report, token_nll
from char_rnn import check as char_rnn_check

import pax

# -- the model ------------------------------------------------------------------------------


class CharTransformer(pax.Module):
    """``Embed -> Transformer -> Linear``: the logits of the next character."""

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        num_heads: int,
        num_layers: int,
        dropout_rate: float,
        *,
        num_kv_heads: int,
        rng_key: jax.Array,
    ):
        super().__init__()
        k1, k2, k3 = jax.random.split(rng_key, 3)
        self.embed = pax.Embed(vocab_size, dim, w_init=jax.nn.initializers.normal(1.0), rng_key=k1)
        self.transformer = pax.nets.Transformer(
            dim,
            num_heads,
            num_layers,
            dropout_rate,
            num_kv_heads=num_kv_heads,
            rope_base=10000.0,
            rng_key=k2,
        )
        self.head = pax.Linear(dim, vocab_size, rng_key=k3)

    def __call__(self, ids: jax.Array) -> jax.Array:
        """``(N, T)`` ids -> ``(N, T, vocab)`` logits (position ``t`` sees ids ``<= t``)."""
        return self.head(self.transformer(self.embed(ids)))

    def update_site(self, ids: jax.Array) -> jax.Array:
        """One position per sequence, from the caches: ``(N,)`` ids -> ``(N, vocab)``."""
        return self.head(self.transformer.update_site(self.embed(ids)))


def loss_fn(model: CharTransformer, windows: jax.Array):
    """Mean NLL (nats per character) of each window's characters after the first."""
    model, logits = pax.purecall(model, windows[:, :-1])  # dropout advances its keys
    loss = jnp.mean(token_nll(logits, windows[:, 1:]))
    return loss, (loss, model)


def heldout_windows(ids: np.ndarray, start_id: int, length: int) -> tuple[np.ndarray, ...]:
    """Consecutive windows ``(inputs, targets, mask)``, each ``(rows, length)``: every id
    is a target once, its input the id before it (``start_id`` before the first)."""
    n = len(ids)
    rows = -(-n // length)
    stream = np.concatenate([[start_id], ids, np.zeros(rows * length - n, np.int32)])
    pos = np.arange(rows)[:, None] * length + np.arange(length)
    return stream[pos], stream[pos + 1], (pos < n).astype(np.float32)


@jax.jit
def window_nll(model: CharTransformer, inputs: jax.Array, targets: jax.Array, mask: jax.Array):
    """Summed NLL (nats) of the masked targets of a batch of windows."""
    return jnp.sum(token_nll(model(inputs), targets) * mask)


def heldout_bpc(model: CharTransformer, data: tuple[np.ndarray, ...], batch: int) -> float:
    inputs, targets, mask = data
    model = model.eval()
    total = 0.0
    for i in range(0, len(inputs), batch):
        chunk = [jnp.asarray(a[i : i + batch]) for a in (inputs, targets, mask)]
        if chunk[0].shape[0] < batch:  # pad the last batch: one compiled shape
            pad = batch - chunk[0].shape[0]
            chunk = [jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)]) for a in chunk]
        total += float(window_nll(model, *chunk))
    return total / float(mask.sum()) / LN2


# -- sampling with the key/value cache -------------------------------------------------------


def top_k_logits(logits: jax.Array, k: int) -> jax.Array:
    """``logits`` with all but the ``k`` largest of each row at ``-inf`` (``k <= 0``: all)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = jax.lax.top_k(logits, k)[0][..., -1:]
    return jnp.where(logits < kth, -jnp.inf, logits)


def sample(
    model: CharTransformer,
    key: jax.Array,
    prompt: jax.Array,
    num: int,
    length: int,
    temperature: Any,
    top_k: int,
) -> tuple[jax.Array, jax.Array]:
    """``num`` continuations of ``length`` characters after ``prompt`` (P,), one position
    per step from the caches; returns the ids ``(num, length)`` and their
    log-probabilities (nats) under the model at temperature 1 without top-k."""
    model = model.eval()
    cached = pax.nn.init_cache(model, num, max_length=prompt.shape[0] + length)

    def read(model, ids):  # the prompt, all but its last character
        model, _ = pax.module_and_value(model.update_site)(ids)
        return model, None

    context = jnp.broadcast_to(prompt[:-1, None], (prompt.shape[0] - 1, num))
    cached, _ = jax.lax.scan(read, cached, context)

    def step(carry, key):
        model, previous = carry
        model, logits = pax.module_and_value(model.update_site)(previous)
        ids = jax.random.categorical(key, top_k_logits(logits / temperature, top_k))
        return (model, ids), (ids, -token_nll(logits, ids))

    start = (cached, jnp.full((num,), prompt[-1]))
    _, (ids, log_p) = jax.lax.scan(step, start, jax.random.split(key, length))
    return ids.T, jnp.sum(log_p, axis=0)


sample_jit = jax.jit(sample, static_argnums=(3, 4, 6))  # the temperature is traced


@jax.jit
def sequence_log_prob(model: CharTransformer, prompt: jax.Array, sample: jax.Array) -> jax.Array:
    """The full-sequence model's log-probability (nats) of ``sample`` after ``prompt``."""
    n = sample.shape[0]
    text = jnp.concatenate([jnp.broadcast_to(prompt, (n, prompt.shape[0])), sample], axis=1)
    logits = model.eval()(text[:, :-1])
    return -jnp.sum(token_nll(logits[:, prompt.shape[0] - 1 :], sample), axis=1)


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (about 20 s)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=96)
    parser.add_argument("--dim", type=int, default=96)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--num-kv-heads", type=int, default=2)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--holdout-every", type=int, default=10, help="hold out every k-th topic")
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--eval-chars", type=int, default=0, help="0: all held-out characters")
    parser.add_argument("--prompt", default="The ")
    parser.add_argument(
        "--sample-len", type=int, default=0, help="0: fill the training context (seq-len)"
    )
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--top-k", type=int, default=20, help="0: no top-k")
    parser.add_argument("--min-gain", type=float, default=1.5, help="bits below the unigram")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "transformer_lm"))
    args = parser.parse_args(argv)
    if args.quick or _common.quick_mode(argv):
        args.quick = True
        args.steps, args.batch_size, args.seq_len, args.dim, args.num_layers = 120, 16, 64, 64, 1
        args.eval_every, args.eval_chars, args.min_gain = 60, 4096, 1.0
        args.learning_rate = 6e-3
    if args.sample_len <= 0:  # the model has seen positions < seq_len only
        args.sample_len = max(1, args.seq_len - len(args.prompt))
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate on the held-out topics and sample; return the metrics."""
    start = time.perf_counter()
    corpus = Corpus(args.holdout_every)
    unigram_bpc, bigram_bpc = count_baselines(corpus)
    heldout = corpus.heldout[: args.eval_chars] if args.eval_chars else corpus.heldout
    eval_data = heldout_windows(heldout, corpus.index["\n"], args.seq_len)
    print(
        f"pydoc_data topics: {len(corpus.train):,} training characters, "
        f"{len(corpus.heldout):,} held out ({len(corpus.heldout_topics)} topics), "
        f"vocabulary of {corpus.vocab_size}"
    )
    print(f"held-out baselines: unigram {unigram_bpc:.3f} bpc, bigram {bigram_bpc:.3f} bpc")

    model_key, sample_seed = jax.random.split(jax.random.PRNGKey(args.seed))
    model = CharTransformer(
        corpus.vocab_size,
        args.dim,
        args.num_heads,
        args.num_layers,
        args.dropout,
        num_kv_heads=args.num_kv_heads,
        rng_key=model_key,
    )
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    print(model.summary())

    rng = np.random.default_rng(args.seed)
    bar = _common.progress(range(1, args.steps + 1), desc="transformer_lm")
    train_bpc: list[float] = []
    heldout_curve: list[tuple[int, float]] = []
    for step in bar:
        windows = jnp.asarray(random_windows(corpus.train, rng, args.batch_size, args.seq_len))
        model, optimizer, loss = update_fn(model, optimizer, windows)
        train_bpc.append(float(loss) / LN2)
        if step % args.eval_every == 0 or step == args.steps:
            heldout_curve.append((step, heldout_bpc(model, eval_data, args.eval_batch)))
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
    mismatch, chars_per_second = 0.0, 0.0
    for temperature in args.temperatures:
        rng_seq, key = pax.module_and_value(rng_seq.next_rng_key)()
        call = (model, key, prompt, args.num_samples, args.sample_len, float(temperature))
        jax.block_until_ready(sample_jit(*call, args.top_k))  # compile (once) and run
        began = time.perf_counter()
        ids, log_p = jax.block_until_ready(sample_jit(*call, args.top_k))
        chars_per_second = args.num_samples * args.sample_len / (time.perf_counter() - began)
        full_log_p = sequence_log_prob(model, prompt, ids)
        mismatch = max(mismatch, float(jnp.max(jnp.abs(full_log_p - log_p) / args.sample_len)))
        samples[str(temperature)] = [corpus.decode(row) for row in np.asarray(ids)]
        sample_bpc[str(temperature)] = float(-jnp.mean(log_p) / args.sample_len / LN2)
        print(
            f"\n--- temperature {temperature}, top-k {args.top_k} "
            f"({sample_bpc[str(temperature)]:.2f} bits/char under the model) ---\n"
            f"{args.prompt}{samples[str(temperature)][0]}"
        )
    elapsed = time.perf_counter() - start
    print(f"\n(sampling {chars_per_second:,.0f} characters/s with the cache; {elapsed:.1f} s)")

    return report(
        args,
        "char Transformer",
        corpus,
        train_bpc,
        heldout_curve,
        (unigram_bpc, bigram_bpc),
        {
            "heldout_chars": int(len(heldout)),
            "samples": samples,
            "sample_bpc": sample_bpc,
            "sample_len": args.sample_len,
            "top_k": args.top_k,
            "sampling_chars_per_second": chars_per_second,
            "incremental_mismatch_nats_per_char": mismatch,
            "train_seconds": train_seconds,
            "seconds": elapsed,
        },
    )


# the same checks as char_rnn's: held-out bpc against the unigram baseline, the samples'
# form, the cached steps against the full-sequence model
check = char_rnn_check


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    sys.exit(main())
