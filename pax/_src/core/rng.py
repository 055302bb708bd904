"""Thread-local random keys: ``pax.seed_rng_key`` and ``pax.next_rng_key``.

Layers take an explicit ``rng_key``; these functions are the fallback when none is
given. Each thread has its own generator, seeded with 42 until ``seed_rng_key``.

The keys follow PAX 0.5 exactly: a Python ``random.Random(seed)`` draws an integer
in ``[1, 999999999]`` and ``jax.random.PRNGKey`` turns it into the key, so a
same-seed run reproduces a PAX run's initial weights and data order. Drawing is plain
Python (no JAX operation, no array kept in thread-local state): cheap, and safe to
call while JAX traces a function (the key is then a constant of the trace).
"""

import contextlib
import numbers
import random
import threading
from collections.abc import Iterator
from typing import Any

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


# PAX 0.5 drew each key's seed from [1, _MAX_KEY_SEED]
_MAX_KEY_SEED = 999_999_999


def next_rng_key() -> jax.Array:
    """A fresh ``jax.random.PRNGKey`` from this thread's generator (PAX 0.5's keys).

    >>> import pax
    >>> pax.seed_rng_key(42)
    >>> pax.next_rng_key().tolist()  # the key PAX 0.5 gives for seed 42
    [0, 686579304]
    """
    return jax.random.PRNGKey(_STATE.rng.randint(1, _MAX_KEY_SEED))


# -- hooks for pax's own code: watching, swapping and restoring the generator ------------


def rng_position() -> Any:
    """An opaque token of where this thread's generator is; two tokens compare equal
    when no key was drawn in between (and the generator was not reseeded)."""
    return (id(_STATE.rng), _STATE.rng.getstate())


@contextlib.contextmanager
def preserved_rng_state() -> Iterator[None]:
    """Runs the body and then puts this thread's key generator back as it was.

    Restores both the generator object (in case the body called ``pax.seed_rng_key``)
    and its position in the sequence (in case it called ``pax.next_rng_key``), also
    when the body raises.

    >>> import pax
    >>> from pax._src.core.rng import preserved_rng_state
    >>> with preserved_rng_state():
    ...     a = pax.next_rng_key()
    >>> bool((a == pax.next_rng_key()).all())  # the same key again
    True
    """
    generator = _STATE.rng
    saved = generator.getstate()
    try:
        yield
    finally:
        generator.setstate(saved)
        _STATE.rng = generator


@contextlib.contextmanager
def temporary_rng(seed: int) -> Iterator[None]:
    """Runs the body with a fresh generator seeded with ``seed``, then puts the
    thread's own generator back, untouched by what the body drew.

    >>> import pax
    >>> from pax._src.core.rng import temporary_rng
    >>> with temporary_rng(7):
    ...     a = pax.next_rng_key()
    >>> with temporary_rng(7):
    ...     b = pax.next_rng_key()
    >>> bool((a == b).all())
    True
    """
    generator = _STATE.rng
    _STATE.rng = random.Random(seed)
    try:
        yield
    finally:
        _STATE.rng = generator
