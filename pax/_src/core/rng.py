"""Thread-local random keys: ``pax.seed_rng_key`` and ``pax.next_rng_key``.

Layers take an explicit ``rng_key``; these functions are the fallback when none is
given. Each thread has its own generator, seeded with 42 until ``seed_rng_key``.
"""

import numbers
import random
import threading

import jax
import numpy as np


class _RngState(threading.local):
    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random(42)


_STATE = _RngState()


def seed_rng_key(seed: int) -> None:
    """Reseed this thread's key generator.

    >>> import pax
    >>> pax.seed_rng_key(1); a = pax.next_rng_key()
    >>> pax.seed_rng_key(1); b = pax.next_rng_key()
    >>> bool((a == b).all())
    True
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed_rng_key expects an int seed, got {seed!r}.")
    _STATE.rng = random.Random(int(seed))  # numpy integers too


def next_rng_key() -> jax.Array:
    """A fresh ``jax.random.PRNGKey`` from this thread's generator."""
    return jax.random.PRNGKey(_STATE.rng.randint(1, 2**31 - 1))
