"""``pax.random``: Objax's random number generators.

A :class:`Generator` is a module holding a :class:`pax.RandomState`; each call
advances the state and returns a fresh key. The functions below draw from
``DEFAULT_GENERATOR`` unless given ``generator=``. Inside ``pax.Jit`` (and the other
Objax transforms) pass the generator's variables in ``vc`` so its state can advance:
``pax.Jit(f, model.vars() + generator.vars())``.

As in Objax's guide (the same numbers: keys use Objax's PRNG mode):

>>> import pax
>>> g1 = pax.random.Generator(seed=1337)
>>> print(pax.random.normal((2,), generator=g1))
[-0.3361882  -0.99033505]
>>> g1, g2 = pax.random.Generator(seed=1337), pax.random.Generator(seed=1337)
>>> a = pax.random.normal((2,), generator=g1)
>>> b = pax.random.normal((2,), generator=g2)
>>> bool((a == b).all()), bool((a == pax.random.normal((2,), generator=g1)).all())
(True, False)
"""

import math
import threading
from typing import Any

import jax

from ..core.module import Module
from .variables import RandomState, objax_prng_mode

Shape = tuple[int, ...]


class Generator(Module):
    """A random key generator whose state is a ``RandomState`` variable.

    >>> import pax
    >>> g = pax.random.Generator(seed=0)
    >>> g().shape
    (2,)
    >>> print(g.vars())
    (Generator)._key            2 (2,)
    +Total(1)                   2

    Args:
      seed: the initial seed.
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        self._key = RandomState(seed)

    @property
    def key(self) -> RandomState:
        """The ``RandomState`` variable of this generator."""
        return self._key

    def seed(self, seed: int = 0) -> None:
        """Restart the generator from ``seed`` (in place)."""
        self._key.seed(seed)

    def __call__(self) -> jax.Array:
        """A new key; advances the state."""
        return self._key.split(1)[0]

    def __repr__(self) -> str:
        return self._repr()


_DEFAULT: Generator | None = None
_DEFAULT_LOCK = threading.Lock()


def default_generator() -> Generator:
    """``DEFAULT_GENERATOR``, created (seed 0) on first use, so that ``import pax``
    does not start a JAX backend."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                generator = Generator(0)
                generator.key._vc_name = "pax.random.DEFAULT_GENERATOR.key"
                _DEFAULT = generator
    return _DEFAULT


def __getattr__(name: str) -> Any:
    if name == "DEFAULT_GENERATOR":
        return default_generator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _key(generator: Generator | None) -> jax.Array:
    return (generator if generator is not None else default_generator())()


def normal(
    shape: Shape, *, mean: float = 0.0, stddev: float = 1.0, generator: Generator | None = None
) -> jax.Array:
    """Normal samples with the given mean and standard deviation (float32).

    >>> import pax
    >>> pax.random.normal((2, 3), generator=pax.random.Generator(0)).shape
    (2, 3)
    """
    with objax_prng_mode():
        return jax.random.normal(_key(generator), shape=tuple(shape)) * stddev + mean


def uniform(shape: Shape, *, generator: Generator | None = None) -> jax.Array:
    """Uniform samples in ``[0, 1)``.

    >>> import pax
    >>> x = pax.random.uniform((1000,), generator=pax.random.Generator(0))
    >>> x.shape, bool((x >= 0).all() and (x < 1).all())
    ((1000,), True)
    """
    with objax_prng_mode():
        return jax.random.uniform(_key(generator), shape=tuple(shape))


def randint(shape: Shape, low: int, high: int, *, generator: Generator | None = None) -> jax.Array:
    """Integer samples in ``[low, high)``.

    >>> import pax
    >>> x = pax.random.randint((1000,), 2, 5, generator=pax.random.Generator(0))
    >>> sorted(set(x.tolist()))
    [2, 3, 4]
    """
    with objax_prng_mode():
        return jax.random.randint(_key(generator), shape=tuple(shape), minval=low, maxval=high)


def _truncated_std(lower: float, upper: float) -> float:
    """Standard deviation of a standard normal truncated to ``[lower, upper]``."""
    pdf = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    z = cdf(upper) - cdf(lower)
    mean = (pdf(lower) - pdf(upper)) / z
    var = 1 + (lower * pdf(lower) - upper * pdf(upper)) / z - mean * mean
    return math.sqrt(var)


def truncated_normal(
    shape: Shape,
    *,
    stddev: float = 1.0,
    lower: float = -2.0,
    upper: float = 2.0,
    generator: Generator | None = None,
) -> jax.Array:
    """Samples of a normal truncated to ``[lower, upper]`` standard deviations, scaled
    so that the samples have standard deviation ``stddev``.

    >>> import pax
    >>> x = pax.random.truncated_normal((10000,), stddev=0.5, generator=pax.random.Generator(0))
    >>> round(float(x.std()), 1), bool(abs(x).max() <= 2 * 0.5 / 0.8796)
    (0.5, True)
    """
    if not lower < upper:
        raise ValueError(f"truncated_normal needs lower < upper, got {lower} and {upper}.")
    scale = stddev / _truncated_std(lower, upper)
    with objax_prng_mode():
        key = _key(generator)
        return jax.random.truncated_normal(key, lower, upper, shape=tuple(shape)) * scale
