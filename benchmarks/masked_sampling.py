"""Autoregressive sampling with masked convolutions: incremental steps vs full re-runs.

Run:  python benchmarks/masked_sampling.py            (about a minute on 2 CPU cores)
      python benchmarks/masked_sampling.py --quick    (a few seconds; smoke test)

The model is a stack of four ``MaskedConv1D`` (the first exclusive, kernel sizes
5, 3, 3, 3 with dilations 1, 2, 4, 8, 32 features, gelu in between) giving the logits
of ``p(x_i | x_<i)`` over 4 classes. We draw a batch of 16 sequences two ways, each
one jitted ``jax.lax.scan`` over the positions, with the same random keys:

- ``incremental``: ``init_cache`` then ``update_site`` at every position, so each
  step costs one position of every layer (a shift register per layer);
- ``full re-run``: at every position the whole model runs on the sequence so far
  (padded to the full length) and the logits at that position are kept, as one
  samples a model without a cache; each step costs a full forward pass.

Both draw the same samples (checked). The timings (median over ``--repeats`` runs,
after a compile and a warm-up run, the two variants interleaved) are printed for
lengths 64, 128 and 256: the incremental cost grows linearly with the length, the
re-run cost quadratically, so the ratio grows with the length.
"""

import argparse
import functools
import os
import platform
import sys
from collections.abc import Callable

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _timing import time_runs  # noqa: E402

import pax  # noqa: E402
from pax._src.nn.masked import MaskedConv1D, init_cache  # noqa: E402


class ConvARNN(pax.Module):
    """Masked convolutions with gelu in between; the first layer is exclusive."""

    def __init__(self, classes: int, features: int, *, rng_key: jax.Array):
        super().__init__()
        self.classes = classes
        spec = [(5, 1), (3, 2), (3, 4), (3, 8)]  # (kernel_size, dilation)
        widths = [classes] + [features] * (len(spec) - 1) + [classes]
        keys = jax.random.split(rng_key, len(spec))
        self.layers = [
            MaskedConv1D(out, k, d, i == 0, in_features=inp, rng_key=key)
            for i, ((k, d), inp, out, key) in enumerate(zip(spec, widths[:-1], widths[1:], keys))
        ]

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(batch, length)`` classes -> ``(batch, length, classes)`` logits."""
        h = jax.nn.one_hot(x, self.classes)
        for layer in self.layers[:-1]:
            h = jax.nn.gelu(layer(h))
        return self.layers[-1](h)

    def update_site(self, x_prev: jax.Array) -> jax.Array:
        """The one-hot previous class -> the logits at the current position."""
        h = x_prev
        for layer in self.layers[:-1]:
            h = jax.nn.gelu(layer.update_site(h))
        return self.layers[-1].update_site(h)


def sample_incremental(model: ConvARNN, key: jax.Array, batch: int, length: int) -> jax.Array:
    def step(carry, key):
        net, x_prev = carry
        net, logits = pax.module_and_value(net.update_site)(x_prev)
        x = jax.random.categorical(key, logits)
        return (net, jax.nn.one_hot(x, model.classes)), x

    start = (init_cache(model, batch), jnp.zeros((batch, model.classes)))
    _, xs = jax.lax.scan(step, start, jax.random.split(key, length))
    return xs.T


def sample_full_rerun(model: ConvARNN, key: jax.Array, batch: int, length: int) -> jax.Array:
    def step(x, inputs):
        i, key = inputs
        # positions >= i still hold placeholders; the masks make them irrelevant
        logits = jax.lax.dynamic_index_in_dim(model(x), i, axis=1, keepdims=False)
        sample = jax.random.categorical(key, logits)
        return jax.lax.dynamic_update_index_in_dim(x, sample, i, axis=1), None

    positions = jnp.arange(length)
    x, _ = jax.lax.scan(
        step, jnp.zeros((batch, length), jnp.int32), (positions, jax.random.split(key, length))
    )
    return x


def benchmark(args) -> list[tuple[int, float, float, float]]:
    model = ConvARNN(args.classes, args.features, rng_key=jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    rows = []
    for length in args.lengths:
        incremental = jax.jit(sample_incremental, static_argnums=(2, 3))
        full = jax.jit(sample_full_rerun, static_argnums=(2, 3))
        fns: dict[str, Callable[[], jax.Array]] = {
            "incremental": functools.partial(incremental, model, key, args.batch, length),
            "full": functools.partial(full, model, key, args.batch, length),
        }
        a, b = fns["incremental"](), fns["full"]()  # compile
        agree = float(jnp.mean(jnp.all(a == b, axis=1)))
        if agree < 0.99:  # a near-tie of two logits may rarely flip one draw
            raise SystemExit(
                f"length {length}: the two samplers disagree on {100 * (1 - agree):.1f}% of "
                f"the sequences; the comparison is not like for like."
            )
        t = time_runs(fns, args.repeats)
        rows.append((length, t["incremental"], t["full"], agree))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (smoke test)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.batch, args.features, args.lengths = 1, 4, 8, [16, 32]

    print(
        f"pax {pax.__version__}, jax {jax.__version__}, {jax.devices()[0].platform} "
        f"({jax.device_count()} device), Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"batch {args.batch}, {args.classes} classes, 4 x MaskedConv1D ({args.features} "
        f"features, kernels 5/3/3/3, dilations 1/2/4/8); median of {args.repeats} runs "
        f"after a warm-up, milliseconds per sampled batch.\n"
    )
    rows = benchmark(args)
    print(
        "| length | incremental (ms) | full re-run (ms) | ratio | incremental (us/position) "
        "| full re-run (us/position) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for length, inc, full, _ in rows:
        print(
            f"| {length} | {1e3 * inc:.2f} | {1e3 * full:.2f} | {full / inc:.1f}x "
            f"| {1e6 * inc / length:.1f} | {1e6 * full / length:.1f} |"
        )
    if len(rows) > 1:
        (l0, i0, f0, _), (l1, i1, f1, _) = rows[0], rows[-1]
        print(
            f"\nlength x{l1 // l0}: incremental time x{i1 / i0:.1f} (linear would be "
            f"x{l1 // l0}), full re-run x{f1 / f0:.1f} (quadratic would be x{(l1 // l0) ** 2})"
        )
    print("the two samplers drew the same sequences (same keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
