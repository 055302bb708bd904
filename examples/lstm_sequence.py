"""Train an LSTM to echo its input eight steps late, with ``pax.scan(time_major=False)``.

Run from the repository root (CPU is enough; a few seconds):

    python examples/lstm_sequence.py [--steps 1500] [--delay 8]

Each example is a batch-major sequence ``x`` of shape ``(N, T, 1)`` with values
in [-1, 1]; the target is ``y[:, t] = x[:, t - delay]`` (zero for ``t < delay``),
so the network must remember the last ``delay`` inputs. The model runs the LSTM
cell over time with ``pax.scan(..., time_major=False)`` and reads out every step
with a ``pax.Linear``. Training uses ``pax.build_update_fn`` as a ``pax.scan``
body (``scan_mode=True``), so each jitted call runs ``--log-every`` steps. The
script exits with status 1 if the final test loss is above ``--max-loss``.
"""

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import opax

import pax


class DelayedEcho(pax.Module):
    """LSTM over ``(N, T, 1)`` sequences with a linear read-out at every step."""

    def __init__(self, hidden_dim: int, *, rng_key: jax.Array):
        super().__init__()
        k1, k2 = jax.random.split(rng_key)
        self.lstm = pax.LSTM(1, hidden_dim, forget_gate_bias=1.0, rng_key=k1)
        self.head = pax.Linear(hidden_dim, 1, rng_key=k2)

    def __call__(self, xs: jax.Array) -> jax.Array:
        state = self.lstm.initial_state(xs.shape[0])
        _, hidden = pax.scan(self.lstm, state, xs, time_major=False)  # (N, T, H)
        return self.head(hidden)


def make_batch(key: jax.Array, batch_size: int, length: int, delay: int):
    xs = jax.random.uniform(key, (batch_size, length, 1), minval=-1.0, maxval=1.0)
    ys = jnp.pad(xs, ((0, 0), (delay, 0), (0, 0)))[:, :length]
    return xs, ys


def loss_fn(model: DelayedEcho, batch):
    xs, ys = batch
    loss = jnp.mean(jnp.square(model(xs) - ys))
    return loss, (loss, model)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--delay", type=int, default=8)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--log-every", type=int, default=250)
    parser.add_argument("--max-loss", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    model_key, data_key, test_key = jax.random.split(jax.random.PRNGKey(args.seed), 3)
    model = DelayedEcho(args.hidden_dim, rng_key=model_key)
    optimizer = opax.adam(args.learning_rate)(model.parameters())
    update_fn = pax.build_update_fn(loss_fn, scan_mode=True)

    @jax.jit
    def train_chunk(model, optimizer, key):
        """``args.log_every`` update steps on fresh batches, scanned."""
        keys = jax.random.split(key, args.log_every)
        batches = jax.vmap(lambda k: make_batch(k, args.batch_size, args.length, args.delay))(keys)
        (model, optimizer), losses = pax.scan(update_fn, (model, optimizer), batches)
        return model, optimizer, losses

    test_batch = make_batch(test_key, 256, args.length, args.delay)
    print(f"initial test loss {float(loss_fn(model, test_batch)[0]):.4f}")
    for step in range(args.log_every, args.steps + 1, args.log_every):
        data_key, key = jax.random.split(data_key)
        model, optimizer, losses = train_chunk(model, optimizer, key)
        print(f"step {step:5d}  mean batch loss {float(jnp.mean(losses)):.5f}")

    test_loss = float(loss_fn(model, test_batch)[0])
    print(f"final test loss {test_loss:.5f}  ({time.perf_counter() - start:.1f} s)")
    if not test_loss < args.max_loss:
        print(f"FAILED: final test loss {test_loss:.5f} is not below {args.max_loss}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
