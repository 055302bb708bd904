"""How much does pax cost on top of plain JAX?

Run:  python benchmarks/overhead.py            (about a minute on 2 CPU cores)
      python benchmarks/overhead.py --quick    (a few seconds; smoke test)

Two models, each trained two ways with the same maths and the same initial weights:

- ``pax``:   a pax model, ``pax.build_update_fn`` and ``opax.adam``, under ``jax.jit``;
- ``jax``:   parameters as a list of ``{"w", "b"}`` dicts and a hand-written Adam
             (the update rule of ``opax.adam``), under ``jax.jit``.

Models: a 3-layer MLP (width 64, batch 32) and a stack of 100 ``pax.Linear(16, 16)``
(batch 8, where per-step overhead dominates the arithmetic). A training step is
forward, MSE loss, backward and Adam. Each timed step is one call of the jitted step
plus ``block_until_ready`` on its loss. The variants run interleaved (alternating
order, round after round) after a warm-up, and we report medians over all steps.

The second table times ``jax.tree_util.tree_flatten`` + ``tree_unflatten`` of the
100-layer model (and of model + optimizer state) against the list-of-dicts params.

Targets: a pax step within 1.2x of plain JAX; flatten + unflatten within 3x.
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

import pax  # noqa: E402

LEARNING_RATE = 1e-3
B1, B2, EPS = 0.9, 0.999, 1e-8

STEP_TARGET = 1.2
FLATTEN_TARGET = 3.0


# -- the pax side ------------------------------------------------------------------------


class MLP(pax.Module):
    """``Linear -> relu -> Linear -> relu -> Linear``."""

    def __init__(self, dims: list[int]):
        super().__init__()
        self.layers = [pax.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


class Stack(pax.Module):
    """``depth`` layers ``Linear(width, width)``, each followed by ``tanh``."""

    def __init__(self, width: int, depth: int):
        super().__init__()
        self.layers = [pax.Linear(width, width) for _ in range(depth)]

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return x


def pax_mse_loss(model: pax.Module, x: jax.Array, y: jax.Array):
    loss = jnp.mean(jnp.square(model(x) - y))
    return loss, (loss, model)


def make_pax_step() -> Callable:
    return jax.jit(pax.build_update_fn(pax_mse_loss))


# -- the plain-JAX side ------------------------------------------------------------------

Params = list[dict[str, jax.Array]]


def to_plain(model: pax.Module) -> Params:
    """The same weights as a list of dicts (fresh buffers, nothing shared)."""
    return [{"w": jnp.array(m.weight), "b": jnp.array(m.bias)} for m in model.layers]


def mlp_apply(params: Params, x: jax.Array) -> jax.Array:
    for p in params[:-1]:
        x = jax.nn.relu(x @ p["w"] + p["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def stack_apply(params: Params, x: jax.Array) -> jax.Array:
    for p in params:
        x = jnp.tanh(x @ p["w"] + p["b"])
    return x


def adam_init(params: Params) -> tuple[Params, Params, jax.Array]:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return zeros, jax.tree_util.tree_map(jnp.zeros_like, params), jnp.array(0, jnp.int32)


def make_plain_step(apply_fn: Callable) -> Callable:
    def loss_fn(params, x, y):
        return jnp.mean(jnp.square(apply_fn(params, x) - y))

    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        mu, nu, count = opt_state
        mu = jax.tree_util.tree_map(lambda g, m: (1 - B1) * g + B1 * m, grads, mu)
        nu = jax.tree_util.tree_map(lambda g, v: (1 - B2) * g**2 + B2 * v, grads, nu)
        count = count + 1
        c1 = (1 - B1**count).astype(jnp.float32)
        c2 = (1 - B2**count).astype(jnp.float32)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - LEARNING_RATE * ((m / c1) / (jnp.sqrt(v / c2) + EPS)),
            params,
            mu,
            nu,
        )
        return params, (mu, nu, count), loss

    return jax.jit(step)


# -- timing ----------------------------------------------------------------------------------


class Runner:
    """One training loop whose state lives between timed chunks."""

    def __init__(self, step: Callable, state: tuple[Any, Any], x: jax.Array, y: jax.Array):
        self.step, self.state, self.x, self.y = step, state, x, y
        self.times: list[float] = []
        self.loss = None

    def run(self, n: int, record: bool = True) -> None:
        step, (a, b), x, y = self.step, self.state, self.x, self.y
        clock = time.perf_counter
        times = self.times
        loss = None
        for _ in range(n):
            t0 = clock()
            a, b, loss = step(a, b, x, y)
            loss.block_until_ready()
            if record:
                times.append(clock() - t0)
        self.state, self.loss = (a, b), loss


def interleave(runners: list[Runner], rounds: int, steps: int, warmup: int) -> None:
    for r in runners:
        r.run(warmup, record=False)
    for i in range(rounds):
        order = runners if i % 2 == 0 else runners[::-1]
        for r in order:
            r.run(steps)


def median_us(times: list[float]) -> float:
    return statistics.median(times) * 1e6


def time_roundtrip(tree: Any, reps: int) -> list[float]:
    flatten, unflatten = jax.tree_util.tree_flatten, jax.tree_util.tree_unflatten
    clock = time.perf_counter
    out = []
    for _ in range(reps):
        t0 = clock()
        leaves, treedef = flatten(tree)
        unflatten(treedef, leaves)
        out.append(clock() - t0)
    return out


def interleave_roundtrips(trees: list[Any], rounds: int, reps: int) -> list[float]:
    times: list[list[float]] = [[] for _ in trees]
    for t in trees:
        time_roundtrip(t, reps)  # warm-up
    for i in range(rounds):
        order = list(range(len(trees)))
        if i % 2:
            order.reverse()
        for j in order:
            times[j].extend(time_roundtrip(trees[j], reps))
    return [median_us(t) for t in times]


# -- main --------------------------------------------------------------------------------------


def benchmark_steps(args) -> tuple[list[tuple[str, float, float, float]], dict[str, Any]]:
    key = jax.random.PRNGKey(0)
    kx, ky = jax.random.split(key)
    cases = [
        ("MLP 64-64-64-64, batch 32", MLP([64, 64, 64, 64]), mlp_apply, 32, 64),
        ("100 x Linear(16, 16), batch 8", Stack(16, 100), stack_apply, 8, 16),
    ]
    rows = []
    keep: dict[str, Any] = {}
    for label, model, apply_fn, batch, width in cases:
        x = jax.random.normal(kx, (batch, width))
        y = jax.random.normal(ky, (batch, width))
        params = to_plain(model)
        optimizer = opax.adam(LEARNING_RATE)(model.parameters())
        pax_runner = Runner(make_pax_step(), (model, optimizer), x, y)
        jax_runner = Runner(make_plain_step(apply_fn), (params, adam_init(params)), x, y)
        interleave([pax_runner, jax_runner], args.rounds, args.steps, args.warmup)
        # same maths, same data: both loops must have reached the same loss
        diff = abs(float(pax_runner.loss) - float(jax_runner.loss))
        if not diff <= 1e-4 * max(1.0, abs(float(jax_runner.loss))):
            raise SystemExit(
                f"{label}: pax and plain JAX disagree (loss {float(pax_runner.loss)} vs "
                f"{float(jax_runner.loss)}); the comparison is not like for like."
            )
        p, j = median_us(pax_runner.times), median_us(jax_runner.times)
        rows.append((label, p, j, p / j))
        if isinstance(model, Stack):
            keep = {
                "model": model,
                "optimizer": optimizer,
                "params": params,
                "opt_state": adam_init(params),
            }
    return rows, keep


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=100, help="steps per variant per round")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps, args.warmup = 4, 20, 5

    print(
        f"pax {pax.__version__}, opax {getattr(opax, '__version__', '?')}, jax {jax.__version__}, "
        f"{jax.devices()[0].platform} ({jax.device_count()} device), "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(
        f"{args.rounds} interleaved rounds x {args.steps} steps per variant "
        f"(after {args.warmup} warm-up steps); medians.\n"
    )

    rows, keep = benchmark_steps(args)
    print("Jitted training step (forward + MSE + backward + Adam), microseconds per step")
    header = f"{'model':<32} {'pax+opax':>10} {'plain JAX':>10} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    ok = True
    for label, p, j, ratio in rows:
        hit = ratio <= STEP_TARGET
        ok &= hit
        print(
            f"{label:<32} {p:>10.1f} {j:>10.1f} {ratio:>6.2f}x  "
            f"<={STEP_TARGET}x {'ok' if hit else 'MISSED'}"
        )

    reps = 20 if args.quick else 200
    rounds = 4 if args.quick else 20
    pax_model, pax_both, jax_params, jax_both = interleave_roundtrips(
        [
            keep["model"],
            (keep["model"], keep["optimizer"]),
            keep["params"],
            (keep["params"], keep["opt_state"]),
        ],
        rounds,
        reps,
    )
    n_model = len(jax.tree_util.tree_leaves(keep["model"]))
    n_both = len(jax.tree_util.tree_leaves((keep["model"], keep["optimizer"])))
    print(
        "\ntree_flatten + tree_unflatten, 100-layer stack, microseconds "
        f"({n_model} and {n_both} leaves)"
    )
    header = f"{'tree':<32} {'pax':>10} {'plain JAX':>10} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for label, p, j in (
        ("model / params", pax_model, jax_params),
        ("model + optimizer / + Adam state", pax_both, jax_both),
    ):
        ratio = p / j
        hit = ratio <= FLATTEN_TARGET
        ok &= hit
        print(
            f"{label:<32} {p:>10.1f} {j:>10.1f} {ratio:>6.2f}x  "
            f"<={FLATTEN_TARGET}x {'ok' if hit else 'MISSED'}"
        )
    print("\nall targets met" if ok else "\nsome targets MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
