"""Objax-style training: a small CNN on scikit-learn's 8x8 digits with ``vars()``,
``pax.GradValues``, an opax (or optax) optimizer through ``opax_integration`` and
``pax.Jit``.

Run from the repository root (CPU is enough; about 20 s, ``--quick`` a few seconds):

    python examples/objax_style.py [--quick] [--optimizer opax|optax] [--out-dir DIR]

The data are the 1797 handwritten digits bundled with scikit-learn
(``sklearn.datasets.load_digits``, 8x8 grey levels 0..16), split 80/20 (stratified,
fixed seed) into training and test images.

This is the training loop of Objax, on pax modules. The model's variables are
collected once with ``model.vars()``; ``pax.GradValues(loss, model.vars())`` gives the
gradients and the loss; ``opax_integration.Optimizer(opax.adamw(1.0), model.vars())``
holds ``TrainRef``s to the weights and the AdamW moments as ``StateVar``s, and
``opt(grads, lr=lr)`` writes the new weights in place; ``pax.Jit(train_op,
model.vars() + opt.vars())`` compiles the whole step and carries every variable in and
out. As in Objax, the learning rate is an argument of each step (here a warm-up then
cosine schedule computed in Python; it is a traced argument, so it never recompiles).
``--optimizer optax`` uses ``optax.adamw`` instead, bridged by ``opax_integration``.

Writes ``curve.png`` (training loss per step) and ``metrics.json`` to ``--out-dir``;
exits with status 1 if the test accuracy is below ``--min-accuracy``.
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
from opax_integration import Optimizer


def flatten(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1)


def make_model(channels: int, seed: int) -> pax.Sequential:
    """A small CNN on ``(batch, 8, 8, 1)`` images (NHWC): two 3x3 convolutions (the
    second with stride 2), then a linear classifier on the ``4 x 4 x 2*channels``
    features."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    return pax.Sequential(
        pax.Conv2D(1, channels, 3, rng_key=k1),
        jax.nn.relu,
        pax.Conv2D(channels, 2 * channels, 3, stride=2, rng_key=k2),
        jax.nn.relu,
        flatten,
        pax.Linear(4 * 4 * 2 * channels, 10, rng_key=k3),
    )


def make_transformation(name: str, weight_decay: float) -> Any:
    """AdamW with learning rate 1: the learning rate is given at each step."""
    if name == "optax":
        import optax  # an optional extra: pip install pax3[optax]

        return optax.adamw(1.0, weight_decay=weight_decay)
    return opax.adamw(1.0, weight_decay=weight_decay)


def learning_rate(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up over ``--warmup`` steps, then a cosine decay to 0."""
    if step < args.warmup:
        return args.learning_rate * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (a few seconds)")
    parser.add_argument("--optimizer", choices=["opax", "optax"], default="opax")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--min-accuracy", type=float, default=0.97)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "objax_style"))
    args = parser.parse_args(argv)
    if args.quick or _common.quick_mode(argv):
        args.quick = True
        args.steps, args.warmup, args.channels, args.min_accuracy = 300, 30, 16, 0.94
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate; write the curve and the metrics; return the metrics."""
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = _common.load_digits(0.2, args.seed)
    model = make_model(args.channels, args.seed)

    # -- the Objax-style pieces -------------------------------------------------------
    def loss(x: jax.Array, y: jax.Array) -> jax.Array:
        logits = model(x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    gv = pax.GradValues(loss, model.vars())
    opt = Optimizer(make_transformation(args.optimizer, args.weight_decay), model.vars())

    def train_step(x: jax.Array, y: jax.Array, lr: float) -> jax.Array:
        grads, (value,) = gv(x, y)
        opt(grads, lr=lr)  # writes the new weights and AdamW moments in place
        return value

    train_op = pax.Jit(train_step, model.vars() + opt.vars())
    predict = pax.Jit(lambda x: jnp.argmax(model(x), axis=-1), model.vars())

    print(model.vars())
    print(f"{opt!r} ({args.optimizer}), {len(x_train)} training and {len(x_test)} test images")

    # -- the loop: shuffled minibatches, one compiled step each -----------------------
    rng = np.random.default_rng(args.seed)
    per_epoch = len(x_train) // args.batch_size
    bar = _common.progress(range(args.steps), desc=f"objax style ({args.optimizer})")
    order = rng.permutation(len(x_train))
    for step in bar:
        i = step % per_epoch
        if i == 0 and step > 0:
            order = rng.permutation(len(x_train))
        idx = order[i * args.batch_size : (i + 1) * args.batch_size]
        value = train_op(x_train[idx], y_train[idx], lr=learning_rate(step, args))
        bar.update_loss(float(value))
    bar.close()

    def accuracy(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.asarray(predict(x)) == y))

    metrics = {
        "optimizer": args.optimizer,
        "steps": args.steps,
        "quick": bool(args.quick),
        "train_accuracy": accuracy(x_train, y_train),
        "test_accuracy": accuracy(x_test, y_test),
        "final_loss": float(np.mean(bar.losses[-50:])),
        "optimizer_steps": int(_count(opt)),
        "seconds": time.perf_counter() - start,
    }
    print(
        f"train accuracy {metrics['train_accuracy']:.4f}, test accuracy "
        f"{metrics['test_accuracy']:.4f} after {args.steps} steps ({metrics['seconds']:.1f} s)"
    )
    curve = _common.save_curve(
        os.path.join(args.out_dir, "curve.png"),
        {"training loss": bar.losses},
        title=f"digits CNN, Objax style ({args.optimizer} AdamW)",
        ylabel="cross-entropy",
        logy=True,
    )
    _common.write_metrics(os.path.join(args.out_dir, "metrics.json"), metrics)
    print(f"wrote {curve} and {os.path.join(args.out_dir, 'metrics.json')}")
    return metrics


def _count(opt: Optimizer) -> Any:
    """The step count the optimizer keeps in its state (opax or optax Adam)."""
    state = opt.transformation
    if hasattr(state, "opt_state"):  # the optax bridge: (adam state, ...)
        return state.opt_state[0].count
    return state.transforms[0].count  # opax.adamw: chain(scale_by_adam, ...)


def check(metrics: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """What is off: the test accuracy, and the optimizer's own step count."""
    problems = []
    if not metrics["test_accuracy"] >= args.min_accuracy:
        problems.append(
            f"test accuracy {metrics['test_accuracy']:.4f} is below {args.min_accuracy}"
        )
    if metrics["optimizer_steps"] != args.steps:
        problems.append(
            f"the optimizer state counted {metrics['optimizer_steps']} steps, not {args.steps}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    sys.exit(main())
