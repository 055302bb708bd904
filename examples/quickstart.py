"""Quickstart: train a small CNN on handwritten digits, checkpoint it, reload it.

Run from the repository root (CPU is enough; under a minute, ``--quick`` a few seconds):

    python examples/quickstart.py [--quick] [--epochs 25] [--out-dir runs/quickstart]

The data are scikit-learn's bundled 8x8 digits (1797 grey-scale images of 0-9, no
download), split into a training and a stratified held-out test set. The model is a
``pax.Module`` with two ``pax.Conv2D`` + ``pax.BatchNorm2D`` + ReLU blocks, a
``pax.max_pool``, ``pax.Dropout`` and two ``pax.Linear`` layers; it is trained PAX
style: ``pax.build_update_fn`` with ``opax.adam`` under ``jax.jit``, on shuffled
mini-batches (the shuffling key is a ``jax.random.key``).

Then the whole training state (model, with its BatchNorm statistics and dropout key;
optimizer; shuffling key; epoch count) goes to one file with ``pax.save``, is loaded
with ``pax.load`` into a freshly constructed model and optimizer (other initial
weights), and the reloaded model is evaluated again: same logits, same accuracy.

Written to ``--out-dir``: ``checkpoint.safetensors``, ``training_curve.png`` (the
training loss per step) and ``metrics.json``. The script exits with status 1 when the
test accuracy is below ``--min-accuracy`` (0.97) or the reloaded model differs.
"""

import argparse
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

# -- the model -------------------------------------------------------------------------------


class CNN(pax.Module):
    """``[Conv2D -> BatchNorm2D -> relu] x 2 -> max_pool -> Dropout -> Linear -> relu ->
    Linear`` on ``(N, 8, 8, 1)`` images, giving ``(N, 10)`` logits."""

    def __init__(self, channels: int, hidden: int, dropout: float, *, rng_key: jax.Array):
        super().__init__()
        k1, k2, k3, k4, k5 = jax.random.split(rng_key, 5)
        he = jax.nn.initializers.he_normal()
        self.conv1 = pax.Conv2D(1, channels, 3, w_init=he, rng_key=k1)
        self.bn1 = pax.BatchNorm2D(channels)
        self.conv2 = pax.Conv2D(channels, 2 * channels, 3, w_init=he, rng_key=k2)
        self.bn2 = pax.BatchNorm2D(2 * channels)
        self.dropout = pax.Dropout(dropout, rng_key=k3)
        self.fc1 = pax.Linear(4 * 4 * 2 * channels, hidden, w_init=he, rng_key=k4)
        self.fc2 = pax.Linear(hidden, 10, rng_key=k5)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.bn1(self.conv1(x)))
        x = jax.nn.relu(self.bn2(self.conv2(x)))
        x = pax.max_pool(x, 2, 2, "VALID")  # 8x8 -> 4x4
        x = self.dropout(x.reshape(x.shape[0], -1))
        return self.fc2(jax.nn.relu(self.fc1(x)))


def make_model(args: argparse.Namespace, seed: int) -> CNN:
    return CNN(args.channels, args.hidden, args.dropout, rng_key=jax.random.PRNGKey(seed))


def make_optimizer(model: CNN, args: argparse.Namespace) -> Any:
    return opax.adam(args.learning_rate)(model.parameters())


def loss_fn(model: CNN, x: jax.Array, y: jax.Array):
    model, logits = pax.purecall(model, x)  # BatchNorm statistics and dropout key move on
    log_p = jax.nn.log_softmax(logits)
    loss = -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))
    return loss, (loss, model)


update_fn = jax.jit(pax.build_update_fn(loss_fn))


@jax.jit
def predict(model: CNN, x: jax.Array) -> jax.Array:
    """Logits in evaluation mode (BatchNorm's moving averages, no dropout)."""
    return model.eval()(x)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == y))


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (a few seconds)")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--min-accuracy", type=float, default=0.97)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join("runs", "quickstart"))
    args = parser.parse_args(argv)
    if args.quick or _common.quick_mode(argv):
        args.quick = True
        args.epochs, args.min_accuracy = 4, 0.95
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, checkpoint, reload into a fresh model, evaluate both; return the metrics."""
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = _common.load_digits(args.test_fraction, args.seed)
    print(f"8x8 digits: {len(x_train)} training and {len(x_test)} test images")

    model = make_model(args, seed=args.seed)
    optimizer = make_optimizer(model, args)
    key = jax.random.key(args.seed)  # shuffles the training set, epoch after epoch
    print(model.summary())

    steps_per_epoch = len(x_train) // args.batch_size
    bar = _common.progress(range(args.epochs * steps_per_epoch), desc="train")
    test_accuracies = []
    for step in bar:
        if step % steps_per_epoch == 0:
            key, sub = jax.random.split(key)
            order = np.asarray(jax.random.permutation(sub, len(x_train)))
        i = step % steps_per_epoch
        idx = order[i * args.batch_size : (i + 1) * args.batch_size]
        model, optimizer, loss = update_fn(model, optimizer, x_train[idx], y_train[idx])
        if (step + 1) % steps_per_epoch == 0:  # the end of an epoch
            test_accuracies.append(accuracy(np.asarray(predict(model, x_test)), y_test))
        bar.update_loss(loss, **({"test_acc": test_accuracies[-1]} if test_accuracies else {}))
    bar.close()
    train_seconds = time.perf_counter() - start

    logits = np.asarray(predict(model, x_test))
    test_accuracy = accuracy(logits, y_test)
    train_accuracy = accuracy(np.asarray(predict(model, x_train)), y_train)
    print(f"train accuracy {train_accuracy:.4f}, test accuracy {test_accuracy:.4f}")

    # -- checkpoint: everything needed to resume, in one file ------------------------------
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "checkpoint.safetensors")
    state = {"model": model, "optimizer": optimizer, "key": key, "epoch": args.epochs}
    save_start = time.perf_counter()
    pax.save(path, state)
    save_seconds = time.perf_counter() - save_start

    # a new model, built from scratch with other initial weights, then loaded
    fresh = make_model(args, seed=args.seed + 1)
    like = {
        "model": fresh,
        "optimizer": make_optimizer(fresh, args),
        "key": jax.random.key(0),
        "epoch": 0,
    }
    load_start = time.perf_counter()
    restored = pax.load(path, like=like)
    load_seconds = time.perf_counter() - load_start
    reloaded_logits = np.asarray(predict(restored["model"], x_test))
    reloaded_accuracy = accuracy(reloaded_logits, y_test)
    identical = bool(np.array_equal(reloaded_logits, logits))
    print(
        f"checkpoint {path} ({os.path.getsize(path) / 1e3:.0f} kB): saved in "
        f"{save_seconds:.3f} s, loaded into a fresh model in {load_seconds:.3f} s; "
        f"reloaded test accuracy {reloaded_accuracy:.4f} "
        f"({'identical logits' if identical else 'DIFFERENT logits'}), "
        f"epoch {restored['epoch']}"
    )

    curve = _common.save_curve(
        os.path.join(args.out_dir, "training_curve.png"),
        {"training loss": bar.losses},
        title="CNN on the 8x8 digits (pax + opax.adam)",
        logy=True,
    )
    seconds = time.perf_counter() - start
    metrics = {
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "reloaded_test_accuracy": reloaded_accuracy,
        "reloaded_logits_identical": identical,
        "test_accuracy_per_epoch": test_accuracies,
        "final_loss": bar.losses[-1],
        "steps": len(bar.losses),
        "epochs": args.epochs,
        "train_seconds": train_seconds,
        "checkpoint_bytes": os.path.getsize(path),
        "save_seconds": save_seconds,
        "load_seconds": load_seconds,
        "seconds": seconds,
        "quick": args.quick,
        "checkpoint": path,
        "curve": curve,
    }
    _common.write_metrics(os.path.join(args.out_dir, "metrics.json"), metrics)
    print(f"({seconds:.1f} s; curve and metrics in {args.out_dir})")
    return metrics


def check(metrics: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """What is off: the test accuracy, or a reloaded model that differs."""
    problems = []
    if not metrics["test_accuracy"] >= args.min_accuracy:
        problems.append(
            f"test accuracy {metrics['test_accuracy']:.4f} is below {args.min_accuracy}"
        )
    if not metrics["reloaded_logits_identical"]:
        problems.append("the reloaded model's logits differ from the trained model's")
    if metrics["reloaded_test_accuracy"] != metrics["test_accuracy"]:
        problems.append(
            f"the reloaded model's test accuracy {metrics['reloaded_test_accuracy']:.4f} "
            f"differs from {metrics['test_accuracy']:.4f}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    return _common.run_main(parse_args, run, check, argv)


if __name__ == "__main__":
    sys.exit(main())
