"""Train an MLP classifier on two interleaved spirals with pax and opax.

Run from the repository root (CPU is enough; a few seconds):

    python examples/train_mlp.py [--steps 3000] [--log-every 500]

The data (two noisy spiral arms, 2-D points, two classes) is made with numpy.
The model is a ``pax.Sequential`` MLP, the optimizer ``opax.adam``, and the
training step ``pax.build_update_fn`` under ``jax.jit``. The script prints the
loss every ``--log-every`` steps, then the final training loss and the accuracy
on a held-out test set, and exits with status 1 if the final loss is above
``--max-loss``.
"""

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import opax

import pax


def make_spirals(n_per_class: int, noise: float, seed: int):
    """Two spiral arms, 1.75 turns each; returns float32 points (N, 2) and int labels (N,)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.0, 1.0, n_per_class)) * 3.5 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.5 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, noise, (2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)]).astype(np.int32)
    perm = rng.permutation(2 * n_per_class)
    return x[perm].astype(np.float32), y[perm]


def make_model(seed: int) -> pax.Sequential:
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    return pax.Sequential(
        pax.Linear(2, 64, rng_key=k1),
        jax.nn.relu,
        pax.Linear(64, 64, rng_key=k2),
        jax.nn.relu,
        pax.Linear(64, 2, rng_key=k3),
    )


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def loss_fn(model: pax.Sequential, x: jax.Array, y: jax.Array):
    model, logits = pax.purecall(model, x)
    loss = cross_entropy(logits, y)
    return loss, (loss, model)


def accuracy(model: pax.Sequential, x: jax.Array, y: jax.Array) -> float:
    return float(jnp.mean(jnp.argmax(model.eval()(x), axis=-1) == y))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("--max-loss", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    x_train, y_train = make_spirals(1000, noise=0.05, seed=args.seed)
    x_test, y_test = make_spirals(500, noise=0.05, seed=args.seed + 1)
    model = make_model(args.seed)
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    print(model.summary())

    rng = np.random.default_rng(args.seed)
    for step in range(1, args.steps + 1):
        idx = rng.choice(len(x_train), args.batch_size, replace=False)
        model, optimizer, loss = update_fn(model, optimizer, x_train[idx], y_train[idx])
        if step % args.log_every == 0 or step == 1:
            print(f"step {step:5d}  batch loss {float(loss):.4f}")

    final_loss = float(loss_fn(model, x_train, y_train)[0])
    test_acc = accuracy(model, x_test, y_test)
    elapsed = time.perf_counter() - start
    print(
        f"final train loss {final_loss:.4f}  train accuracy "
        f"{accuracy(model, x_train, y_train):.3f}  test accuracy {test_acc:.3f}  "
        f"({elapsed:.1f} s)"
    )
    if not final_loss < args.max_loss:
        print(f"FAILED: final loss {final_loss:.4f} is not below {args.max_loss}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
