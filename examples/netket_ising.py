"""Ground state of the transverse-field Ising chain with pax models in NetKet.

Run from the repository root (needs ``pip install -e ".[netket]"``; a few minutes on 2 CPU
cores, ``--quick`` well under one):

    python examples/netket_ising.py [--quick] [--out-dir runs/netket_ising]

The Hamiltonian is ``H = -sum_i X_i - sum_i Z_i Z_{i+1}`` (``nk.operator.Ising``, h = 1)
on a periodic chain of ``--sites`` (12) spins; ``nk.exact.lanczos_ed`` gives the exact
ground-state energy. ``import pax.netket`` lets NetKet take pax modules as they are:

1. a restricted Boltzmann machine written below as a small pax module with complex128
   parameters, sampled by ``MetropolisLocal`` and trained by VMC with stochastic
   reconfiguration (SR);
2. ``pax.netket.ARNNConv1D`` (NetKet's autoregressive network on pax's masked layers;
   3 layers, 8 features, kernel 5),
   sampled exactly by ``ARDirectSampler`` through pax's jittable cache, trained by VMC
   with Adam.

Each prints its final energy against the exact one (the RBM within 1e-3 relative in the
full run), with a progress bar; the energy per step is plotted to ``energy.png`` and the
metrics written to ``metrics.json`` in ``--out-dir``. The script exits with status 1 when
an energy is off by more than its tolerance.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import _common  # the examples' shared helpers, next to this file
import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
from tqdm.auto import tqdm

import pax
import pax.netket


class RBM(pax.Module):
    """log psi(s) = a . s + sum_j log cosh(b_j + sum_i W_ij s_i), complex parameters."""

    parameters = pax.parameters_method("visible_bias", "hidden_bias", "kernel")

    def __init__(self, n_sites: int, alpha: int, *, rng_key: jax.Array, std: float = 0.01):
        super().__init__()
        keys = jax.random.split(rng_key, 3)
        hidden = alpha * n_sites
        self.kernel = std * jax.random.normal(keys[0], (n_sites, hidden), jnp.complex128)
        self.hidden_bias = std * jax.random.normal(keys[1], (hidden,), jnp.complex128)
        self.visible_bias = std * jax.random.normal(keys[2], (n_sites,), jnp.complex128)

    def __call__(self, sigma: jax.Array) -> jax.Array:
        theta = sigma @ self.kernel + self.hidden_bias
        return sigma @ self.visible_bias + nk.nn.activation.log_cosh(theta).sum(-1)


def train(
    name: str,
    hamiltonian: Any,
    vstate: Any,
    optimizer: Any,
    steps: int,
    preconditioner: Any = None,
) -> tuple[list[float], float]:
    """VMC for ``steps`` steps with a tqdm bar; returns the energy per step and seconds."""
    kwargs = {} if preconditioner is None else {"preconditioner": preconditioner}
    driver = nk.driver.VMC(hamiltonian, optimizer, variational_state=vstate, **kwargs)
    energies: list[float] = []
    bar = tqdm(total=steps, desc=name, dynamic_ncols=True, mininterval=0.5)

    def record(step: int, log_data: dict, driver: Any) -> bool:
        energies.append(float(log_data["Energy"].mean.real))
        bar.set_postfix(energy=f"{energies[-1]:.5f}", refresh=False)
        bar.update()
        return True

    start = time.perf_counter()
    driver.run(steps, out=None, show_progress=False, callback=record)
    bar.close()
    return energies, time.perf_counter() - start


def final_energy(hamiltonian: Any, vstate: Any, n_samples: int) -> float:
    """The energy of the trained state, from a fresh, larger set of samples."""
    vstate.n_samples = n_samples
    vstate.reset()
    return float(vstate.expect(hamiltonian).mean.real)


def run(args: argparse.Namespace) -> dict[str, Any]:
    hilbert = nk.hilbert.Spin(0.5, args.sites)
    hamiltonian = nk.operator.Ising(hilbert, nk.graph.Chain(args.sites), h=1.0)
    exact = float(nk.exact.lanczos_ed(hamiltonian)[0])
    print(f"exact ground-state energy (Lanczos): {exact:.6f}")
    key_rbm, key_arnn = jax.random.split(jax.random.PRNGKey(args.seed))

    rbm = RBM(args.sites, alpha=1, rng_key=key_rbm)
    sampler = nk.sampler.MetropolisLocal(hilbert, n_chains=16)
    vstate = nk.vqs.MCState(sampler, rbm, n_samples=args.samples, seed=args.seed)
    rbm_curve, rbm_seconds = train(
        "RBM + SR",
        hamiltonian,
        vstate,
        nk.optimizer.Sgd(learning_rate=0.05),
        args.rbm_steps,
        preconditioner=nk.optimizer.SR(diag_shift=0.01, holomorphic=True),
    )
    rbm_energy = final_energy(hamiltonian, vstate, 4 * args.samples)
    print(
        f"pax RBM (complex128, {vstate.n_parameters} parameters): E = {rbm_energy:.6f}, "
        f"relative error {abs(rbm_energy - exact) / abs(exact):.2e} ({rbm_seconds:.1f} s)"
    )

    # kernel 5 in 3 layers: each site sees the 12 before it, so the periodic bond
    # (site 0 with site N - 1) is within reach (kernel 3 plateaus at 1.4e-2 relative)
    arnn = pax.netket.ARNNConv1D(
        hilbert, layers=3, features=8, kernel_size=5, param_dtype=jnp.float64, rng_key=key_arnn
    )
    vstate = nk.vqs.MCState(
        nk.sampler.ARDirectSampler(hilbert), arnn, n_samples=args.samples, seed=args.seed
    )
    arnn_curve, arnn_seconds = train(
        "ARNNConv1D + Adam",
        hamiltonian,
        vstate,
        nk.optimizer.Adam(learning_rate=0.01),
        args.arnn_steps,
    )
    arnn_energy = final_energy(hamiltonian, vstate, 4 * args.samples)
    print(
        f"pax ARNNConv1D ({vstate.n_parameters} parameters, direct sampling): "
        f"E = {arnn_energy:.6f}, relative error {abs(arnn_energy - exact) / abs(exact):.2e} "
        f"({arnn_seconds:.1f} s)"
    )

    curve = _common.save_curve(
        os.path.join(args.out_dir, "energy.png"),
        {"RBM + SR": rbm_curve, "ARNNConv1D + Adam": arnn_curve, "exact": [exact] * len(rbm_curve)},
        title=f"Transverse-field Ising chain, {args.sites} sites, h = 1",
        ylabel="energy",
    )
    print(f"energy per step: {curve}")
    metrics = {
        "exact": exact,
        "rbm_energy": rbm_energy,
        "rbm_rel_error": abs(rbm_energy - exact) / abs(exact),
        "rbm_seconds": rbm_seconds,
        "arnn_energy": arnn_energy,
        "arnn_rel_error": abs(arnn_energy - exact) / abs(exact),
        "arnn_seconds": arnn_seconds,
        "rbm_curve": rbm_curve,
        "arnn_curve": arnn_curve,
    }
    _common.write_metrics(os.path.join(args.out_dir, "metrics.json"), metrics)
    return metrics


def check(metrics: dict[str, Any], args: argparse.Namespace) -> list[str]:
    rbm_tol, arnn_tol = (5e-2, 1e-1) if args.quick else (1e-3, 1e-2)
    problems = []
    if not metrics["rbm_rel_error"] < rbm_tol:
        problems.append(f"RBM relative error {metrics['rbm_rel_error']:.2e} >= {rbm_tol}")
    if not metrics["arnn_rel_error"] < arnn_tol:
        problems.append(f"ARNN relative error {metrics['arnn_rel_error']:.2e} >= {arnn_tol}")
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (well under a minute)")
    parser.add_argument("--sites", type=int, default=12)
    parser.add_argument("--samples", type=int, default=1008)
    parser.add_argument("--rbm-steps", type=int, default=300)
    parser.add_argument("--arnn-steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "netket_ising"))
    args = parser.parse_args(argv)
    if _common.quick_mode(argv if argv is not None else sys.argv[1:]):
        args.quick = True
        args.samples, args.rbm_steps, args.arnn_steps = 256, 60, 60
    return args


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
