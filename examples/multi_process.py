"""Data-parallel training of a pax model across processes with JAX's multi-process
runtime (``jax.distributed``): one program over the devices of every process.

Each process runs this script. Process 0 also hosts the coordinator (a small gRPC
service at ``--coordinator``, through which the processes find each other); after
``jax.distributed.initialize`` every process sees all devices in ``jax.devices()`` and
its own in ``jax.local_devices()``. The script builds one ``Mesh`` over all devices
with a ``'data'`` axis and trains with one ``jax.jit`` step whose module-shaped
``in_shardings``/``out_shardings`` come from ``pax.sharding.replicated``: every process
builds the same model from the same seed (``pax.sharding.shard`` turns it into
replicated global arrays) and feeds only its own rows of each global batch
(``jax.make_array_from_process_local_data``); XLA averages the gradients across
processes. The data are scikit-learn's bundled 8x8 digits; the model is a small MLP
trained with ``pax.build_update_fn`` + ``opax.adam``. Because every process computes
the same update, the model after N steps equals the model of one process on one
device trained on the same batches (up to float rounding), which
``tests/test_multiprocess.py`` checks.

Two processes on one machine, 2 CPU devices each (CPU collectives through gloo)::

    python examples/multi_process.py --coordinator 127.0.0.1:12355 --num-processes 2 \\
        --process-id 0 --cpu-devices 2 &
    python examples/multi_process.py --coordinator 127.0.0.1:12355 --num-processes 2 \\
        --process-id 1 --cpu-devices 2

On a cluster, start one process per host (or per GPU) with the coordinator's address,
the number of processes and each one's id, as arguments or in the environment
(``PAX_COORDINATOR_ADDRESS``, ``PAX_NUM_PROCESSES``, ``PAX_PROCESS_ID``). Without them
``jax.distributed.initialize()`` detects SLURM, Open MPI, Kubernetes and Cloud TPU
environments by itself (e.g. ``srun python examples/multi_process.py``); with neither
(``python examples/multi_process.py --quick``) the script trains in one process.

``--out FILE.npz`` saves the final parameters and the losses (process 0 only, unless
the name contains ``{process_id}``).
"""

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

ENV = {
    "coordinator": "PAX_COORDINATOR_ADDRESS",
    "num_processes": "PAX_NUM_PROCESSES",
    "process_id": "PAX_PROCESS_ID",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--coordinator",
        default=os.environ.get(ENV["coordinator"]),
        help="host:port of process 0's coordinator (env PAX_COORDINATOR_ADDRESS)",
    )
    parser.add_argument(
        "--num-processes",
        type=int,
        default=_env_int(ENV["num_processes"]),
        help="the number of processes (env PAX_NUM_PROCESSES)",
    )
    parser.add_argument(
        "--process-id",
        type=int,
        default=_env_int(ENV["process_id"]),
        help="this process's id, 0 .. num_processes - 1 (env PAX_PROCESS_ID)",
    )
    parser.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        help="run on N local CPU devices with gloo collectives (a test on one machine)",
    )
    parser.add_argument("--init-timeout", type=int, default=120, help="seconds")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="an .npz file for the result")
    parser.add_argument("--quick", action="store_true", help="a few steps")
    args = parser.parse_args(argv)
    if args.quick or os.environ.get("PAX_EXAMPLES_QUICK", "") not in ("", "0"):
        args.quick, args.steps = True, 10
    return args


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else None


def configure_cpu(num_devices: int) -> None:
    """``num_devices`` CPU devices in this process; must run before jax is imported."""
    flags = re.sub(
        r"--xla_force_host_platform_device_count=\S+", "", os.environ.get("XLA_FLAGS", "")
    )
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_force_host_platform_device_count={num_devices}".strip()
    )
    os.environ["JAX_PLATFORMS"] = "cpu"


if __name__ == "__main__":  # XLA reads its flags once, when jax starts its backend
    _cli = parse_args()
    if _cli.cpu_devices:
        configure_cpu(_cli.cpu_devices)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import opax  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

import pax  # noqa: E402
from pax import sharding  # noqa: E402


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits as 64 floats in [0, 1] and their labels, in a fixed order."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int32)


def make_model(hidden: int, seed: int) -> pax.Sequential:
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return pax.Sequential(
        pax.Linear(64, hidden, rng_key=k1), jax.nn.relu, pax.Linear(hidden, 10, rng_key=k2)
    )


def loss_fn(model: pax.Sequential, x: jax.Array, y: jax.Array):
    model, logits = pax.purecall(model, x)
    loss = pax.functional.loss.cross_entropy_logits_sparse(logits, y).mean()
    return loss, (loss, model)


def batch_indices(num_examples: int, args: argparse.Namespace) -> np.ndarray:
    """``(steps, batch_size)`` row indices of the global batches (the same everywhere)."""
    rng = np.random.default_rng(args.seed)
    per_epoch = num_examples // args.batch_size
    epochs = args.steps // per_epoch + 1
    order = np.concatenate([rng.permutation(num_examples) for _ in range(epochs)])
    return order[: args.steps * args.batch_size].reshape(args.steps, args.batch_size)


def local_rows(batch_sharding: NamedSharding, global_shape: tuple[int, ...]) -> slice:
    """The rows of a global batch that this process's devices hold (a contiguous block
    when the mesh lists each process's devices together)."""
    rows = [
        index[0].indices(global_shape[0])[:2]  # (start, stop) of the rows of one device
        for index in batch_sharding.addressable_devices_indices_map(global_shape).values()
        if index is not None
    ]
    return slice(min(start for start, _ in rows), max(stop for _, stop in rows))


def train(args: argparse.Namespace, devices: list[Any] | None = None) -> dict[str, Any]:
    """Train data-parallel over ``devices`` (default: every device of every process);
    returns the final parameters (by path, as numpy) and the losses."""
    if devices is None:
        devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    if args.batch_size % len(devices):
        raise ValueError(f"--batch-size {args.batch_size} must divide by {len(devices)} devices.")
    mesh = Mesh(np.array(devices), ("data",))
    x_all, y_all = load_digits()
    indices = batch_indices(len(x_all), args)

    model = make_model(args.hidden, args.seed)
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    model_sh, opt_sh = sharding.replicated((model, optimizer), mesh)
    batch_sh = NamedSharding(mesh, PartitionSpec("data"))
    scalar_sh = NamedSharding(mesh, PartitionSpec())
    step = jax.jit(
        pax.build_update_fn(loss_fn),
        in_shardings=(model_sh, opt_sh, batch_sh, batch_sh),
        out_shardings=(model_sh, opt_sh, scalar_sh),
    )
    model, optimizer = sharding.shard((model, optimizer), (model_sh, opt_sh))
    mine = local_rows(batch_sh, (args.batch_size,))

    def global_batch(a: np.ndarray) -> jax.Array:  # this process's rows -> a global array
        return jax.make_array_from_process_local_data(
            batch_sh, a[mine], (args.batch_size, *a.shape[1:])
        )

    losses = []
    for idx in indices:
        model, optimizer, loss = step(
            model, optimizer, global_batch(x_all[idx]), global_batch(y_all[idx])
        )
        losses.append(loss)
    # replicated arrays: every process holds the whole value on each of its devices
    local = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf.addressable_data(0)), model)
    predictions = np.asarray(jnp.argmax(local(x_all), axis=-1))
    return {
        "params": {
            jax.tree_util.keystr(path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(local)[0]
        },
        "losses": np.array([float(loss.addressable_data(0)) for loss in losses]),
        "accuracy": float(np.mean(predictions == y_all)),
    }


def initialize(args: argparse.Namespace) -> bool:
    """``jax.distributed.initialize`` from the arguments (or the cluster's environment);
    ``False`` when neither says anything (then this is a run of one process)."""
    if args.cpu_devices:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    given = {
        "coordinator_address": args.coordinator,
        "num_processes": args.num_processes,
        "process_id": args.process_id,
    }
    given = {k: v for k, v in given.items() if v is not None}
    try:
        jax.distributed.initialize(**given, initialization_timeout=args.init_timeout)
    except ValueError as e:
        if given or "coordinator_address" not in str(e):
            raise
        print("no coordinator given or detected: training in this process alone")
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    distributed = initialize(args)
    pid, count = jax.process_index(), jax.process_count()
    print(
        f"process {pid}/{count}: {jax.local_device_count()} local devices of "
        f"{jax.device_count()} ({jax.devices()[0].platform})",
        flush=True,
    )
    result = train(args)
    print(
        f"process {pid}/{count}: {args.steps} steps, loss {result['losses'][0]:.4f} -> "
        f"{result['losses'][-1]:.4f}, training accuracy {result['accuracy']:.4f}, "
        f"{time.perf_counter() - start:.1f} s",
        flush=True,
    )
    if args.out and (pid == 0 or "{process_id}" in args.out):
        out = args.out.replace("{process_id}", str(pid))
        np.savez(out, losses=result["losses"], **result["params"])
    if distributed:
        jax.distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
