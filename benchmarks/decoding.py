"""Decoding with caches vs re-running the model on the whole prefix, for a Transformer
and for a masked-convolution stack, at lengths 64 to 1024.

Run:  python benchmarks/decoding.py            (a few minutes on 2 CPU cores)
      python benchmarks/decoding.py --quick    (a few seconds; smoke test)

Two autoregressive models over ``--vocab`` tokens, each drawing a batch of
``--batch`` sequences of ``length`` tokens two ways, each one jitted
``jax.lax.scan`` over the positions with the same random keys:

- ``cached``: ``pax.nn.init_cache(model, batch, max_length=length)`` then
  ``update_site`` at every position: the Transformer writes one key/value per layer
  into its caches and attends once over them, each masked convolution shifts its
  register; one compiled step serves every position;
- ``re-run``: at every position the whole model runs on the sequence (padded to
  ``length``; the causal masks make the padding irrelevant) and the logits at that
  position are kept, as one samples a model without a cache.

The models: ``Embed -> pax.nets.Transformer(--dim, 4 heads, 2 layers, rotary
embeddings) -> Linear``, and ``Embed -> 4 x MaskedConv1D(--dim features, kernel 3,
dilations 1, 2, 4, 8) -> Linear``. Both samplers draw the same tokens (checked).
The table gives tokens per second (median of ``--repeats`` runs after a compile and a
warm-up, the two variants interleaved) and, per model, how the time of a whole
sample grows from the shortest length to the longest.
"""

import argparse
import functools
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _timing import time_runs  # noqa: E402

import pax  # noqa: E402


class TransformerLM(pax.Module):
    def __init__(self, vocab: int, dim: int, *, rng_key: jax.Array):
        super().__init__()
        k1, k2, k3 = jax.random.split(rng_key, 3)
        self.embed = pax.Embed(vocab, dim, rng_key=k1)
        self.body = pax.nets.Transformer(dim, 4, 2, 0.0, rope_base=10000.0, rng_key=k2)
        self.head = pax.Linear(dim, vocab, rng_key=k3)

    def __call__(self, ids: jax.Array) -> jax.Array:
        return self.head(self.body(self.embed(ids)))

    def update_site(self, ids: jax.Array) -> jax.Array:
        return self.head(self.body.update_site(self.embed(ids)))


class ConvLM(pax.Module):
    def __init__(self, vocab: int, dim: int, *, rng_key: jax.Array):
        super().__init__()
        keys = jax.random.split(rng_key, 6)
        self.embed = pax.Embed(vocab, dim, rng_key=keys[0])
        self.convs = [
            pax.MaskedConv1D(dim, 3, d, False, in_features=dim, rng_key=k)
            for d, k in zip([1, 2, 4, 8], keys[1:5])
        ]
        self.head = pax.Linear(dim, vocab, rng_key=keys[5])

    def _run(self, h: jax.Array, call: Callable[[Any, jax.Array], jax.Array]) -> jax.Array:
        for conv in self.convs:
            h = h + jax.nn.gelu(call(conv, h))
        return self.head(h)

    def __call__(self, ids: jax.Array) -> jax.Array:
        return self._run(self.embed(ids), lambda conv, h: conv(h))

    def update_site(self, ids: jax.Array) -> jax.Array:
        return self._run(self.embed(ids), lambda conv, h: conv.update_site(h))


def sample_cached(model: Any, key: jax.Array, batch: int, length: int) -> jax.Array:
    def step(carry, key):
        net, previous = carry
        net, logits = pax.module_and_value(net.update_site)(previous)
        token = jax.random.categorical(key, logits)
        return (net, token), token

    cached = pax.nn.init_cache(model, batch, max_length=length)
    start = (cached, jnp.zeros((batch,), jnp.int32))  # token 0 starts every sequence
    _, tokens = jax.lax.scan(step, start, jax.random.split(key, length))
    return tokens.T


def sample_rerun(model: Any, key: jax.Array, batch: int, length: int) -> jax.Array:
    def step(inputs, step_inputs):
        i, key = step_inputs
        logits = jax.lax.dynamic_index_in_dim(model(inputs), i, axis=1, keepdims=False)
        token = jax.random.categorical(key, logits)
        # the input at position i + 1 is the token drawn at i (the last one is dropped)
        inputs = jax.lax.dynamic_update_index_in_dim(
            inputs, token, jnp.minimum(i + 1, length - 1), axis=1
        )
        return inputs, token

    positions = jnp.arange(length)
    _, tokens = jax.lax.scan(
        step, jnp.zeros((batch, length), jnp.int32), (positions, jax.random.split(key, length))
    )
    return tokens.T


def benchmark(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    key = jax.random.PRNGKey(1)
    models = {
        "Transformer": TransformerLM(args.vocab, args.dim, rng_key=jax.random.PRNGKey(0)),
        "masked conv": ConvLM(args.vocab, args.dim, rng_key=jax.random.PRNGKey(0)),
    }
    cached_fn = jax.jit(sample_cached, static_argnums=(2, 3))
    rerun_fn = jax.jit(sample_rerun, static_argnums=(2, 3))
    results: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for name, model in models.items():
        for length in args.lengths:
            fns: dict[str, Callable[[], jax.Array]] = {
                "cached": functools.partial(cached_fn, model, key, args.batch, length),
                "rerun": functools.partial(rerun_fn, model, key, args.batch, length),
            }
            a, b = fns["cached"](), fns["rerun"]()  # compile
            agree = float(jnp.mean(jnp.all(a == b, axis=1)))
            if agree < 0.99:  # a near-tie of two logits may rarely flip one draw
                raise SystemExit(
                    f"{name}, length {length}: the samplers disagree on "
                    f"{100 * (1 - agree):.1f}% of the sequences; not like for like."
                )
            t = time_runs(fns, args.repeats)
            results[name].append({"length": length, **t})
            print(f"  measured {name} at length {length}", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (smoke test)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=32)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.batch, args.dim, args.lengths = 1, 2, 16, [16, 32]

    print(
        f"pax {pax.__version__}, jax {jax.__version__}, {jax.devices()[0].platform} "
        f"({jax.device_count()} device), Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"batch {args.batch}, vocabulary {args.vocab}, width {args.dim}; median of "
        f"{args.repeats} runs after a warm-up; tokens per second (batch x length / time "
        f"of one sample).\n"
    )
    results = benchmark(args)
    names = list(results)
    header = " | ".join(f"{n} cached | {n} re-run | {n} speed-up" for n in names)
    print(f"| length | {header} |")
    print("|---:|" + "---:|" * (3 * len(names)))
    for i, length in enumerate(args.lengths):
        cells = []
        for n in names:
            row = results[n][i]
            tokens = args.batch * length
            cells += [
                f"{tokens / row['cached']:,.0f}",
                f"{tokens / row['rerun']:,.0f}",
                f"{row['rerun'] / row['cached']:.1f}x",
            ]
        print(f"| {length} | " + " | ".join(cells) + " |")
    if len(args.lengths) > 1:
        grow = args.lengths[-1] / args.lengths[0]
        print(
            f"\ntime of one sample, length x{grow:.0f} (linear: x{grow:.0f}, quadratic: "
            f"x{grow**2:.0f}, cubic: x{grow**3:.0f}):"
        )
        for n in names:
            first, last = results[n][0], results[n][-1]
            print(
                f"  {n}: cached x{last['cached'] / first['cached']:.1f}, "
                f"re-run x{last['rerun'] / first['rerun']:.1f}"
            )
    print("the two samplers drew the same sequences (same keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
