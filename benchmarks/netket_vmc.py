"""pax models in NetKet against NetKet's own: time per VMC step and per sampling sweep.

Run:  python benchmarks/netket_vmc.py            (a few minutes on 2 CPU cores)
      python benchmarks/netket_vmc.py --quick    (under a minute; smoke test)

Needs netket (``pip install -e ".[netket]"``); without it the script says so and exits 0.

The transverse-field Ising chain (``nk.operator.Ising``, h = 1) of ``--sites`` spins,
with the same parameter count and sampler settings on both sides:

- RBM (alpha = 1, float64): ``nk.models.RBM`` against the pax RBM below, sampled by
  ``MetropolisLocal`` (16 chains), VMC step with SR (``diag_shift=0.01``) and SGD;
- ARNNConv1D (3 layers, 8 features, kernel 3, float64): ``nk.models.ARNNConv1D``
  (conditional recomputes the whole network per site), ``nk.models.FastARNNConv1D``
  (NetKet's cached layers) and ``pax.netket.ARNNConv1D`` (pax's jittable cache), sampled
  by ``ARDirectSampler``, VMC step with Adam.

A "sweep" is one call of the sampler for the state's ``n_samples`` (``vstate.reset()``
then ``vstate.samples``); a VMC step is one ``driver.run`` step (sampling, local
energies, gradient, update), timed as ``--steps`` steps per call. The variants run
interleaved, round after round, after a warm-up (compilation); the table shows medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

try:
    import netket as nk
except ImportError:  # CI's example phase runs every benchmark before netket is installed
    print('netket is not installed: pip install -e ".[netket]" to run this benchmark.')
    sys.exit(0)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import pax  # noqa: E402
import pax.netket  # noqa: E402


class RBM(pax.Module):
    """NetKet's RBM (``nk.models.RBM``, alpha 1, visible and hidden biases) in pax."""

    parameters = pax.parameters_method("kernel", "hidden_bias", "visible_bias")

    def __init__(self, n_sites: int, alpha: int, *, rng_key: jax.Array):
        super().__init__()
        keys = jax.random.split(rng_key, 3)
        hidden = alpha * n_sites
        self.kernel = 0.01 * jax.random.normal(keys[0], (n_sites, hidden), jnp.float64)
        self.hidden_bias = 0.01 * jax.random.normal(keys[1], (hidden,), jnp.float64)
        self.visible_bias = 0.01 * jax.random.normal(keys[2], (n_sites,), jnp.float64)

    def __call__(self, sigma: jax.Array) -> jax.Array:
        theta = sigma @ self.kernel + self.hidden_bias
        return sigma @ self.visible_bias + nk.nn.activation.log_cosh(theta).sum(-1)


def _n_params(vstate: Any) -> int:
    return sum(x.size for x in jax.tree_util.tree_leaves(vstate.parameters))


class Variant:
    """One model + sampler + driver, with its timings."""

    def __init__(self, family: str, name: str, vstate: Any, driver: Any):
        self.family, self.name, self.vstate, self.driver = family, name, vstate, driver
        self.step_times: list[float] = []
        self.sweep_times: list[float] = []

    def time_steps(self, steps: int) -> None:
        start = time.perf_counter()
        self.driver.run(steps, out=None, show_progress=False)
        jax.block_until_ready(self.vstate.parameters)
        self.step_times.append((time.perf_counter() - start) / steps)

    def time_sweep(self) -> None:
        start = time.perf_counter()
        self.vstate.reset()
        jax.block_until_ready(self.vstate.samples)
        self.sweep_times.append(time.perf_counter() - start)


def build(args: argparse.Namespace) -> list[Variant]:
    n = args.sites
    hilbert = nk.hilbert.Spin(0.5, n)
    ham = nk.operator.Ising(hilbert, nk.graph.Chain(n), h=1.0)
    key = jax.random.PRNGKey(0)
    variants = []

    def add(family: str, name: str, model: Any, sampler: Any, optimizer: Any, sr: bool) -> None:
        vstate = nk.vqs.MCState(sampler, model, n_samples=args.samples, seed=0)
        kwargs = {"preconditioner": nk.optimizer.SR(diag_shift=0.01)} if sr else {}
        driver = nk.driver.VMC(ham, optimizer, variational_state=vstate, **kwargs)
        variants.append(Variant(family, name, vstate, driver))

    metropolis = nk.sampler.MetropolisLocal(hilbert, n_chains=16)
    sgd = nk.optimizer.Sgd(learning_rate=0.01)
    add("RBM", "netket RBM", nk.models.RBM(alpha=1, param_dtype=float), metropolis, sgd, True)
    add("RBM", "pax RBM", RBM(n, 1, rng_key=key), metropolis, sgd, True)

    direct = nk.sampler.ARDirectSampler(hilbert)
    adam = nk.optimizer.Adam(learning_rate=0.01)
    arnn = {"layers": 3, "features": 8, "kernel_size": 3, "param_dtype": jnp.float64}
    add(
        "ARNN",
        "netket ARNNConv1D",
        nk.models.ARNNConv1D(hilbert=hilbert, **arnn),
        direct,
        adam,
        False,
    )
    fast = nk.models.FastARNNConv1D(hilbert=hilbert, **arnn)
    add("ARNN", "netket FastARNNConv1D", fast, direct, adam, False)
    ours = pax.netket.ARNNConv1D(hilbert, rng_key=key, **arnn)
    add("ARNN", "pax ARNNConv1D", ours, direct, adam, False)
    return variants


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds (smoke test)")
    parser.add_argument("--sites", type=int, default=16)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="VMC steps per timed call")
    args = parser.parse_args()
    if args.quick:
        args.sites, args.samples, args.rounds, args.steps = 8, 128, 2, 2
    nk.config.netket_sharding = False  # one device: compare the models, not the sharding

    variants = build(args)
    for v in variants:  # warm-up: compile every path once
        v.time_steps(2)
        v.time_sweep()
        v.step_times.clear()
        v.sweep_times.clear()
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            v.time_steps(args.steps)
            v.time_sweep()

    print(
        f"NetKet {nk.__version__}, jax {jax.__version__}, {platform.processor() or 'cpu'}; "
        f"{args.sites} sites, {args.samples} samples, medians of {args.rounds} rounds"
    )
    print("| model | parameters | VMC step (ms) | sampling sweep (ms) | vs NetKet (step / sweep) |")
    print("|---|---:|---:|---:|---:|")
    med: Callable[[list[float]], float] = statistics.median
    for v in variants:
        ref = next(u for u in variants if u.family == v.family)
        if v.name.startswith("pax"):
            # against NetKet's fastest variant of the same family
            ref = min(
                (u for u in variants if u.family == v.family and not u.name.startswith("pax")),
                key=lambda u: med(u.step_times),
            )
        ratio = (
            f"{med(v.step_times) / med(ref.step_times):.2f}x / "
            f"{med(v.sweep_times) / med(ref.sweep_times):.2f}x ({ref.name})"
            if v is not ref
            else ""
        )
        print(
            f"| {v.name} | {_n_params(v.vstate)} | {1e3 * med(v.step_times):.2f} | "
            f"{1e3 * med(v.sweep_times):.2f} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
