"""Data-parallel training over 8 devices, with ``jax.pmap`` and with ``jax.jit`` +
``NamedSharding``, checked against the same training on one device.

Run from the repository root (CPU is enough: the script asks XLA for 8 host devices;
about a minute, ``--quick`` a few seconds):

    python examples/data_parallel.py [--quick] [--devices 8] [--out-dir DIR]

The data are the 1797 handwritten digits bundled with scikit-learn
(``sklearn.datasets.load_digits``, 8x8 grey levels), split 80/20 (stratified, fixed
seed). The model is a small CNN (two 3x3 convolutions, the second with stride 2, then a
linear layer), trained with ``pax.build_update_fn``-style steps and ``opax.adam`` on
minibatches of ``--batch-size`` images. The same model, optimizer and sequence of
minibatches are trained three times:

1. **one device**: ``jax.jit`` of the update step;
2. **pmap**: ``pax.utils.replicate`` puts one copy of the model *and* its optimizer on
   each device, ``jax.pmap`` runs the step on each device's slice of the batch, and the
   gradients are averaged across devices with ``jax.lax.pmean`` (the README's recipe);
3. **jit + NamedSharding**: one ``jax.jit`` program over a ``Mesh`` of the devices with a
   ``'data'`` axis; ``in_shardings``/``out_shardings`` are module-shaped trees from
   ``pax.sharding.replicated`` (model and optimizer whole on every device) and the batch
   is split along ``'data'``. XLA inserts the gradient all-reduce itself.

Each device computes the mean loss of its slice; averaging those equals the mean over
the whole batch, so the three runs compute the same updates up to float rounding. The
script prints the test accuracy of each, the largest difference of its losses from the
one-device run's and of its trained parameters (``max|a - b| / max|b|`` per array). The
rounding differences stay near 1e-7 for a few dozen steps; once the training loss is
small, Adam divides tiny gradients by their tiny running scale and lets them grow (to
about 3e-3 relative for pmap after 400 steps, 1e-6 for the sharded jit, whose program
is closer to the one-device one), hence ``--tolerance`` 1e-2 (1e-4 with ``--quick``).
It exits with status 1 if an accuracy is below ``--min-accuracy`` or a difference above
``--tolerance``. Writes ``curve.png`` (the three loss curves) and ``metrics.json`` to
``--out-dir``.
"""

import os

# 8 CPU devices unless the caller asked for something else; XLA reads this once, when
# jax initialises its backend, so it must come before `import jax`.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any

import _common  # noqa: E402  (the examples' shared helpers, next to this file)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import opax  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

import pax  # noqa: E402
from pax import sharding  # noqa: E402

# -- data, model, loss ---------------------------------------------------------------


def flatten(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1)


def make_model(seed: int) -> pax.Sequential:
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    he = jax.nn.initializers.he_normal()
    return pax.Sequential(
        pax.Conv2D(1, 16, 3, w_init=he, rng_key=k1),
        jax.nn.relu,
        pax.Conv2D(16, 32, 3, stride=2, w_init=he, rng_key=k2),  # 8x8 -> 4x4
        jax.nn.relu,
        flatten,
        pax.Linear(4 * 4 * 32, 10, rng_key=k3),
    )


def loss_fn(model: pax.Sequential, x: jax.Array, y: jax.Array):
    """Mean cross-entropy, in the ``(loss, (aux, model))`` form of build_update_fn."""
    model, logits = pax.purecall(model, x)
    loss = pax.functional.loss.cross_entropy_logits_sparse(logits, y).mean()
    return loss, (loss, model)


update_fn = pax.build_update_fn(loss_fn)


def replica_step(model, optimizer, x, y):
    """One replica's step under ``jax.pmap``: local gradients, averaged over the
    devices, then Adam."""
    grads, (loss, model) = pax.grad(loss_fn, has_aux=True)(model, x, y)
    grads = jax.lax.pmean(grads, "devices")  # the same update on every device
    optimizer, updates = pax.purecall(optimizer, grads, params=model.parameters())
    params = jax.tree_util.tree_map(lambda p, u: p - u, model.parameters(), updates)
    return model.update_parameters(params), optimizer, jax.lax.pmean(loss, "devices")


@jax.jit
def predict(model: pax.Sequential, x: jax.Array) -> jax.Array:
    return jnp.argmax(model(x), axis=-1)


# -- the three ways to train -----------------------------------------------------------

Batches = list[tuple[np.ndarray, np.ndarray]]


def train_one_device(model: Any, optimizer: Any, batches: Batches) -> tuple[Any, list[float]]:
    step = jax.jit(update_fn)
    bar = _common.progress(batches, desc="one device")
    for x, y in bar:
        model, optimizer, loss = step(model, optimizer, x, y)
        bar.update_loss(float(loss))
    bar.close()
    return model, bar.losses


def train_pmap(
    model: Any, optimizer: Any, batches: Batches, devices: list[Any]
) -> tuple[Any, list[float]]:
    n = len(devices)
    models, optimizers = pax.utils.replicate((model, optimizer), devices)
    step = jax.pmap(replica_step, axis_name="devices", devices=devices)

    def split(a: np.ndarray) -> np.ndarray:  # (B, ...) -> (devices, B / devices, ...)
        return a.reshape(n, a.shape[0] // n, *a.shape[1:])

    bar = _common.progress(batches, desc=f"pmap x{n}")
    for x, y in bar:
        models, optimizers, losses = step(models, optimizers, split(x), split(y))
        bar.update_loss(float(losses[0]))
    bar.close()
    return pax.utils.unreplicate(models), bar.losses


def train_sharded(
    model: Any, optimizer: Any, batches: Batches, devices: list[Any]
) -> tuple[Any, list[float]]:
    mesh = Mesh(np.array(devices), ("data",))
    model_sh, opt_sh = sharding.replicated((model, optimizer), mesh)
    batch_sh = NamedSharding(mesh, PartitionSpec("data"))  # rows split over the devices
    step = jax.jit(
        update_fn,
        in_shardings=(model_sh, opt_sh, batch_sh, batch_sh),
        out_shardings=(model_sh, opt_sh, NamedSharding(mesh, PartitionSpec())),
    )
    model, optimizer = sharding.shard((model, optimizer), (model_sh, opt_sh))
    bar = _common.progress(batches, desc=f"jit + NamedSharding x{len(devices)}")
    for x, y in bar:
        x, y = jax.device_put((x, y), batch_sh)
        model, optimizer, loss = step(model, optimizer, x, y)
        bar.update_loss(float(loss))
    bar.close()
    return model, bar.losses


# -- the script ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (a few seconds)")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--min-accuracy", type=float, default=0.96)
    parser.add_argument(
        "--tolerance", type=float, default=1e-2, help="on the losses and the parameters"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "data_parallel"))
    args = parser.parse_args(argv)
    if args.quick or _common.quick_mode(argv):
        args.quick = True
        args.steps, args.min_accuracy, args.tolerance = 40, 0.8, 1e-4
    return args


def max_difference(a: Any, b: Any) -> float:
    """The largest ``max|a - b| / max|b|`` over the leaves (a relative difference)."""
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y))) / np.max(np.abs(np.asarray(y))))
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train three times; write the curves and the metrics; return the metrics."""
    if jax.device_count() < args.devices:
        raise SystemExit(
            f"data_parallel.py needs {args.devices} devices, jax sees {jax.device_count()}: "
            "run it with XLA_FLAGS=--xla_force_host_platform_device_count=8 (set before jax "
            "is imported) or pass --devices."
        )
    if args.batch_size % args.devices:
        raise SystemExit(f"--batch-size {args.batch_size} must divide by --devices.")
    devices = jax.devices()[: args.devices]
    x_train, y_train, x_test, y_test = _common.load_digits(0.2, args.seed)
    rng = np.random.default_rng(args.seed)
    per_epoch = len(x_train) // args.batch_size
    order = np.concatenate(
        [rng.permutation(len(x_train)) for _ in range(args.steps // per_epoch + 1)]
    )
    batches = [
        (x_train[idx], y_train[idx])
        for idx in (
            order[i * args.batch_size : (i + 1) * args.batch_size] for i in range(args.steps)
        )
    ]
    model = make_model(args.seed)
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    print(f"{len(x_train)} training and {len(x_test)} test images, {len(devices)} devices")

    trainers: dict[str, Callable[[], tuple[Any, list[float]]]] = {
        "one_device": lambda: train_one_device(model, optimizer, batches),
        "pmap": lambda: train_pmap(model, optimizer, batches, devices),
        "sharded": lambda: train_sharded(model, optimizer, batches, devices),
    }
    results: dict[str, tuple[Any, list[float]]] = {}
    metrics: dict[str, Any] = {"devices": len(devices), "steps": args.steps}
    for name, train in trainers.items():
        start = time.perf_counter()
        results[name] = train()
        metrics[f"time_{name}"] = time.perf_counter() - start
        trained, losses = results[name]
        accuracy = float(np.mean(np.asarray(predict(jax.device_get(trained), x_test)) == y_test))
        metrics[f"accuracy_{name}"] = accuracy
        metrics[f"final_loss_{name}"] = float(np.mean(losses[-10:]))

    reference, reference_losses = results["one_device"]
    for name in ("pmap", "sharded"):
        metrics[f"max_param_diff_{name}"] = max_difference(results[name][0], reference)
        metrics[f"max_loss_diff_{name}"] = float(
            np.max(np.abs(np.array(results[name][1]) - np.array(reference_losses)))
        )
    metrics["max_param_diff_pmap_vs_sharded"] = max_difference(
        results["pmap"][0], results["sharded"][0]
    )

    for name in trainers:
        print(
            f"{name:>10}: test accuracy {metrics[f'accuracy_{name}']:.4f}, "
            f"{metrics[f'time_{name}']:.1f} s"
            + (
                f", losses within {metrics[f'max_loss_diff_{name}']:.1e} and parameters "
                f"within {metrics[f'max_param_diff_{name}']:.1e} of one device"
                if name != "one_device"
                else ""
            )
        )
    os.makedirs(args.out_dir, exist_ok=True)
    metrics["curve"] = _common.save_curve(
        os.path.join(args.out_dir, "curve.png"),
        {name: losses for name, (_, losses) in results.items()},
        title=f"digits CNN, data parallel over {len(devices)} devices",
        ylabel="training loss",
        logy=True,
    )
    _common.write_metrics(os.path.join(args.out_dir, "metrics.json"), metrics)
    return metrics


def check(metrics: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The failures (empty when the three runs trained well and agree)."""
    failures = []
    for name in ("one_device", "pmap", "sharded"):
        if metrics[f"accuracy_{name}"] < args.min_accuracy:
            failures.append(
                f"{name}: test accuracy {metrics[f'accuracy_{name}']:.4f} < {args.min_accuracy}"
            )
    for name in ("pmap", "sharded"):
        for what in ("loss", "param"):
            diff = metrics[f"max_{what}_diff_{name}"]
            if not diff <= args.tolerance:
                failures.append(
                    f"{name}: the {what}s differ from the one-device run by {diff:.2e} "
                    f"> {args.tolerance}"
                )
    return failures


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    sys.exit(main())
