"""Stacked layers: compile time and step time of ``pax.nn.Stack`` against the unrolled
``pax.Sequential`` of the same blocks.

Run:  python benchmarks/stacked_layers.py            (several minutes on 2 CPU cores)
      python benchmarks/stacked_layers.py --quick    (seconds; smoke test for CI)

Two models, each built once as a ``Stack`` and converted with ``Stack.to_sequential()``
(the same blocks, the same weights):

- MLP: ``N`` blocks ``Linear(width, width) -> tanh`` (N = 10, 50, 100, 200);
- Transformer: 12 pre-norm decoder blocks, each ``h + attention(norm(h))`` then
  ``h + mlp(norm(h))``, made of pax.nets' transformer parts (causal self attention,
  dense block) and ``pax.LayerNorm``.

The timed program is a training step: forward, MSE loss, backward and ``opax.adam``
through ``pax.build_update_fn``, under ``jax.jit``.

- Compile time: ``jax.jit(step).lower(...).compile()`` (tracing, lowering and XLA
  compilation; in-memory caches cleared before each), the cost of the first call;
  the fastest of ``--compile-repeats`` compilations (the least disturbed by other
  load), after one warm-up compilation (the first in a process pays for set-up).
- Step time: the compiled steps run interleaved (stacked, unrolled, alternating order,
  round after round) after a warm-up; medians over all timed steps. Both loops start
  from the same weights and must end at the same loss.

Targets: the stacked compile time at most 0.2x the unrolled one and nearly flat in N
(at most 2x from the smallest to the largest N); the stacked step time within 1.1x.

For the MLP the run also times the same step written in plain JAX, one ``jax.lax.scan``
over stacked weights with Adam by hand: what a Stack costs over the scan it is built on
(the last column; ideally 1.0x).

On CPU, two effects weigh on the stacked step time of the narrow MLP (not on the
Transformer, whose blocks do more work per step of the loop):

- XLA:CPU runs a scan as a while loop, one block after the other, slicing each block's
  weights and storing its residuals for the backward pass; the unrolled program has
  neither cost and can run independent operations of different layers at once. A
  plain-JAX ``jax.lax.scan`` of the same MLP shows the same gap (about 1.2x).
- XLA:CPU allocates its buffers with ``malloc``; glibc serves blocks over 32 MiB with
  fresh ``mmap`` pages, so a model whose stacked leaves (or their gradients and Adam
  moments) exceed 32 MiB pays page faults on every step. Run with
  ``MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=8000000000`` to see the
  step time without them (both: the first alone makes it worse; the header says which
  setting a run used).
"""

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import opax  # noqa: E402
import overhead  # noqa: E402  (its plain-JAX Adam; this folder is on sys.path)

import pax  # noqa: E402
from pax import Stack  # noqa: E402
from pax._src.nets.transformer import CausalSelfAttention, DenseBlock  # noqa: E402

COMPILE_TARGET = 0.2
FLAT_TARGET = 2.0
STEP_TARGET = 1.1


# -- models ----------------------------------------------------------------------------------


def mlp_block(width: int) -> Callable[[jax.Array], pax.Module]:
    def make(key: jax.Array) -> pax.Module:
        return pax.Sequential(pax.Linear(width, width, rng_key=key), jnp.tanh)

    return make


class TransformerBlock(pax.Module):
    """One pre-norm decoder layer of ``pax.nets.Transformer`` (without dropout)."""

    def __init__(self, dim: int, num_heads: int, num_layers: int, *, rng_key: jax.Array):
        super().__init__()
        k1, k2, k3, k4 = jax.random.split(rng_key, 4)
        init_scale = 2.0 / num_layers
        self.attn_layer_norm = pax.LayerNorm(dim, -1, True, True, rng_key=k1)
        self.attention = CausalSelfAttention(num_heads, dim // num_heads, init_scale, rng_key=k2)
        self.dense_layer_norm = pax.LayerNorm(dim, -1, True, True, rng_key=k3)
        self.dense_block = DenseBlock(dim, init_scale, rng_key=k4)

    def __call__(self, h: jax.Array) -> jax.Array:
        h = h + self.attention(self.attn_layer_norm(h))
        return h + self.dense_block(self.dense_layer_norm(h))


def transformer_block(dim: int, heads: int, layers: int) -> Callable[[jax.Array], pax.Module]:
    def make(key: jax.Array) -> pax.Module:
        return TransformerBlock(dim, heads, layers, rng_key=key)

    return make


# -- the MLP in plain JAX: one jax.lax.scan over stacked weights, Adam by hand -----------------

LEARNING_RATE = overhead.LEARNING_RATE  # opax.adam(1e-3), as in the plain-JAX Adam


def plain_scan_mlp(stack: Stack) -> dict[str, jax.Array]:
    """The stacked MLP's weights as plain arrays (fresh buffers)."""
    linear = stack.blocks[0]
    return {"w": jnp.array(linear.weight), "b": jnp.array(linear.bias)}


def plain_scan_apply(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    def body(h: jax.Array, wb: tuple[jax.Array, jax.Array]):
        w, b = wb
        return jnp.tanh(h @ w + b), None

    return jax.lax.scan(body, x, (params["w"], params["b"]))[0]


# the same training step as the pax one: MSE, backward, Adam (opax's update rule)
plain_step = overhead.make_plain_step(plain_scan_apply)


def mse_loss(model: pax.Module, x: jax.Array, y: jax.Array):
    model, y_hat = pax.purecall(model, x)
    loss = jnp.mean(jnp.square(y_hat - y))
    return loss, (loss, model)


# -- timing ------------------------------------------------------------------------------------


def compile_step(
    model: Any, optimizer: Any, x: jax.Array, y: jax.Array, repeats: int, fn: Any = None
):
    """``(seconds, compiled step)``: tracing + lowering + compilation with the caches
    cleared, the fastest of ``repeats``. The step is pax's (``build_update_fn``) unless
    ``fn`` is given (the plain-JAX reference)."""
    best, compiled = float("inf"), None
    for _ in range(repeats):
        jax.clear_caches()
        step = jax.jit(pax.build_update_fn(mse_loss) if fn is None else fn)
        t0 = time.perf_counter()
        compiled = step.lower(model, optimizer, x, y).compile()
        best = min(best, time.perf_counter() - t0)
    return best, compiled


class Runner:
    """One training loop whose state lives between timed chunks."""

    def __init__(self, step: Callable, model: pax.Module, optimizer: Any, x, y):
        self.step, self.x, self.y = step, x, y
        # the optimizer the step was compiled for (each opax.adam(...) has its own class)
        self.state = (model, optimizer)
        self.times: list[float] = []
        self.loss: jax.Array | None = None

    def run(self, n: int, record: bool = True) -> None:
        (model, optimizer), x, y = self.state, self.x, self.y
        clock = time.perf_counter
        for _ in range(n):
            t0 = clock()
            model, optimizer, loss = self.step(model, optimizer, x, y)
            loss.block_until_ready()
            if record:
                self.times.append(clock() - t0)
        self.state, self.loss = (model, optimizer), loss


def interleave(runners: list[Runner], rounds: int, steps: int, warmup: int) -> None:
    for r in runners:
        r.run(warmup, record=False)
    for i in range(rounds):
        for r in runners if i % 2 == 0 else runners[::-1]:
            r.run(steps)


def compare(
    label: str, n: int, make_block: Callable, x: jax.Array, y: jax.Array, args, plain: bool
) -> dict[str, Any]:
    """Compile and step times of the Stack of ``n`` blocks, of its Sequential and, with
    ``plain``, of the same MLP step in plain JAX (``jax.lax.scan``, Adam by hand)."""
    stack = Stack(make_block, n, rng_key=jax.random.PRNGKey(0))
    variants: list[tuple[str, Any, Any, Any]] = []
    for kind, model in (("stacked", stack), ("unrolled", stack.to_sequential())):
        variants.append((kind, model, opax.adam(LEARNING_RATE)(model.parameters()), None))
    if plain:
        params = plain_scan_mlp(stack)
        variants.append(("plain_scan", params, overhead.adam_init(params), plain_step))
    row: dict[str, Any] = {"model": label, "n": n}
    runners = []
    for kind, model, optimizer, fn in variants:
        seconds, compiled = compile_step(model, optimizer, x, y, args.compile_repeats, fn)
        row[f"compile_{kind}"] = seconds
        runners.append(Runner(compiled, model, optimizer, x, y))
    interleave(runners, args.rounds, args.steps, args.warmup)
    losses = [float(r.loss) for r in runners]
    for (kind, *_), loss in zip(variants[1:], losses[1:]):
        if abs(losses[0] - loss) > 1e-3 * max(1.0, abs(loss)):
            raise SystemExit(
                f"{label} N={n}: the stacked and {kind} loops disagree (loss {losses[0]} vs "
                f"{loss}); the comparison is not like for like."
            )
    for (kind, *_), r in zip(variants, runners):
        row[f"step_{kind}"] = statistics.median(r.times) * 1e3
    line = (
        f"  {label} N={n}: compile {row['compile_stacked']:.2f}s vs "
        f"{row['compile_unrolled']:.2f}s, step {row['step_stacked']:.2f}ms vs "
        f"{row['step_unrolled']:.2f}ms"
    )
    if plain:
        line += (
            f"; plain-JAX scan: compile {row['compile_plain_scan']:.2f}s, "
            f"step {row['step_plain_scan']:.2f}ms"
        )
    print(line, flush=True)
    return row


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models, few steps (CI)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--width", type=int, default=256, help="MLP width")
    parser.add_argument("--batch", type=int, default=64, help="MLP batch size")
    parser.add_argument("--layers", type=int, default=12, help="transformer blocks")
    parser.add_argument("--dim", type=int, default=128, help="transformer width")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64, help="transformer sequence length")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.compile_repeats = 1
        args.sizes, args.width, args.batch = [2, 4], 8, 4
        args.layers, args.dim, args.heads, args.tokens = 2, 8, 2, 4
        args.rounds, args.steps, args.warmup = 2, 3, 1
    return args


def run(args) -> list[dict[str, Any]]:
    kx, ky = jax.random.split(jax.random.PRNGKey(1))
    rows = []
    x = jax.random.normal(kx, (args.batch, args.width))
    y = jax.random.normal(ky, (args.batch, args.width))
    warm = Stack(mlp_block(args.width), 2, rng_key=kx)  # the process's first compilation
    compile_step(warm, opax.adam(1e-3)(warm.parameters()), x, y, 1)
    for n in args.sizes:
        rows.append(compare("MLP", n, mlp_block(args.width), x, y, args, plain=True))
    shape = (8 if not args.quick else 2, args.tokens, args.dim)
    h, target = jax.random.normal(kx, shape), jax.random.normal(ky, shape)
    make = transformer_block(args.dim, args.heads, args.layers)
    rows.append(compare("Transformer", args.layers, make, h, target, args, plain=False))
    return rows


def plain_columns(row: dict[str, Any]) -> str:
    if "step_plain_scan" not in row:
        return "- | -"
    plain = row["step_plain_scan"]
    return f"{plain:.2f} | {row['step_stacked'] / plain:.2f}x"


def table(rows: list[dict[str, Any]]) -> tuple[str, bool]:
    lines = [
        "| model | N | compile stacked (s) | compile unrolled (s) | ratio | "
        "step stacked (ms) | step unrolled (ms) | ratio | step plain-JAX scan (ms) | "
        "stacked / plain scan |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ok = True
    for r in rows:
        c_ratio = r["compile_stacked"] / r["compile_unrolled"]
        s_ratio = r["step_stacked"] / r["step_unrolled"]
        c_ok, s_ok = c_ratio <= COMPILE_TARGET, s_ratio <= STEP_TARGET
        ok &= c_ok and s_ok
        lines.append(
            f"| {r['model']} | {r['n']} | {r['compile_stacked']:.2f} | "
            f"{r['compile_unrolled']:.2f} | {c_ratio:.2f}x{'' if c_ok else ' (missed)'} | "
            f"{r['step_stacked']:.2f} | {r['step_unrolled']:.2f} | "
            f"{s_ratio:.2f}x{'' if s_ok else ' (missed)'} | {plain_columns(r)} |"
        )
    mlp = [r for r in rows if r["model"] == "MLP"]
    growth = mlp[-1]["compile_stacked"] / mlp[0]["compile_stacked"]
    flat_ok = growth <= FLAT_TARGET
    ok &= flat_ok
    lines.append("")
    lines.append(
        f"Stacked MLP compile time from N={mlp[0]['n']} to N={mlp[-1]['n']}: {growth:.2f}x "
        f"(unrolled: {mlp[-1]['compile_unrolled'] / mlp[0]['compile_unrolled']:.2f}x); "
        f"target <= {FLAT_TARGET}x{'' if flat_ok else ' (missed)'}."
    )
    lines.append(
        f"Targets: compile ratio <= {COMPILE_TARGET}x, step ratio <= {STEP_TARGET}x: "
        + ("all met." if ok else "some MISSED.")
    )
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"pax {pax.__version__}, opax {getattr(opax, '__version__', '?')}, jax {jax.__version__}, "
        f"{jax.devices()[0].platform} ({jax.device_count()} device), "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        print(f"{var}={os.environ.get(var, '(glibc default)')}")
    print(
        f"MLP: width {args.width}, batch {args.batch}; Transformer: {args.layers} blocks, "
        f"dim {args.dim}, {args.heads} heads, {args.tokens} tokens. Training step with "
        f"opax.adam; {args.rounds} interleaved rounds x {args.steps} steps per variant "
        f"after {args.warmup} warm-up steps; medians.\n"
    )
    text, _ = table(run(args))
    print("\n" + text)
    if args.quick:
        print("(--quick: tiny models, a smoke test; the targets are for the full run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
