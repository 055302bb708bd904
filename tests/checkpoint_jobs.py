"""Jobs that tests/test_checkpoint_processes.py runs in fresh Python processes.

    python tests/checkpoint_jobs.py resume IN OUT STEPS   # load IN, train STEPS, save OUT
    python tests/checkpoint_jobs.py writer PATH MB        # save PATH over and over

Importable too: the test trains with the same ``make_state`` and ``train`` in-process.
"""

import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import opax

import pax

State = dict[str, Any]


def make_state(seed: int) -> State:
    """A model with parameters, BatchNorm statistics and a Dropout key; its Adam state;
    a typed PRNG key for the data; the step count (a Python int)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    model = pax.Sequential(
        pax.Linear(4, 16, rng_key=k1),
        pax.BatchNorm1D(16),
        jax.nn.relu,
        pax.Dropout(0.2, rng_key=k2),
        pax.Linear(16, 1, rng_key=k3),
    )
    optimizer = opax.chain(opax.clip_by_global_norm(1.0), opax.adam(1e-2))(model.parameters())
    return {"model": model, "optimizer": optimizer, "key": jax.random.key(seed), "step": 0}


def _loss_fn(model, x, y):
    model, y_hat = pax.purecall(model, x)
    loss = jnp.mean((y_hat - y) ** 2)
    return loss, (loss, model)


_update = pax.build_update_fn(_loss_fn)


@jax.jit
def _step(model, optimizer, key):
    key, sub = jax.random.split(key)
    x = jax.random.normal(sub, (32, 4))
    y = jnp.sin(x.sum(axis=1, keepdims=True))
    model, optimizer, loss = _update(model, optimizer, x, y)
    return model, optimizer, key, loss


def train(state: State, steps: int) -> State:
    model, optimizer, key = state["model"], state["optimizer"], state["key"]
    for _ in range(steps):
        model, optimizer, key, _ = _step(model, optimizer, key)
    return {"model": model, "optimizer": optimizer, "key": key, "step": state["step"] + steps}


def resume(src: str, dst: str, steps: int) -> None:
    state = pax.load(src, like=make_state(seed=123))  # a fresh model: different weights
    pax.save(dst, train(state, steps))


def writer(path: str, megabytes: int) -> None:
    """Saves generation 0, 1, 2, ... of a large tree to ``path``, announcing each."""
    n = megabytes * 2**20 // 4
    for generation in range(10**6):
        big = np.full(n, generation, np.float32)
        print(f"writing {generation}", flush=True)
        pax.save(path, {"generation": generation, "big": big})
        print(f"saved {generation}", flush=True)


if __name__ == "__main__":
    job, *args = sys.argv[1:]
    if job == "resume":
        resume(args[0], args[1], int(args[2]))
    elif job == "writer":
        writer(args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown job {job!r}")
