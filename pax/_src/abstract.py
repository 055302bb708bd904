"""``pax.eval_shape``: build a model without allocating its weights.

The constructor runs under :func:`jax.eval_shape`, so every array it creates is abstract
and the result is the real model (same classes, same static fields, same treedef) with
``jax.ShapeDtypeStruct`` leaves. Such a model says what a checkpoint must hold (restore
into it with ``pax.load(path, like=abstract)``) and which shardings to give
``jax.jit(constructor, out_shardings=...)`` to initialise a model directly on its devices
(``pax.sharding.init_sharded``).

Random state: constructors given no ``rng_key`` draw from pax's thread-local generator
(``pax.next_rng_key``). ``eval_shape`` is a query, not a build: it leaves that generator
exactly as it found it (also when the constructor raises), so ``pax.eval_shape(C)``
followed by ``C()`` builds the model that ``C()`` alone would have built.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import jax

from .core.module import Module
from .core.rng import preserved_rng_state

T = TypeVar("T")


def eval_shape(constructor: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """The value ``constructor(*args, **kwargs)`` would return, with every array
    replaced by a ``jax.ShapeDtypeStruct``, computed without allocating the arrays.

    ``args`` and ``kwargs`` are passed to the constructor as they are (Python ints stay
    ints, arrays stay concrete): only what the constructor creates is abstract. Nothing
    is compiled or run on a device, so this takes the time of one trace of the
    constructor (a fraction of a second for a ResNet50) and no memory for weights.

    pax's thread-local random state (``pax.seed_rng_key``/``pax.next_rng_key``) is left
    unchanged. A constructor that draws from an Objax-style generator
    (``pax.random.DEFAULT_GENERATOR`` or one it was given) cannot write the traced
    state back and raises pax's tracer-leak ``ValueError``, as under ``jax.jit``: pass
    it an ``rng_key`` instead.

    >>> import jax, pax
    >>> from pax._src.abstract import eval_shape
    >>> net = eval_shape(pax.Linear, 3, 4)
    >>> type(net).__name__, net.weight
    ('Linear', ShapeDtypeStruct(shape=(3, 4), dtype=float32))
    >>> jax.tree_util.tree_structure(net) == jax.tree_util.tree_structure(pax.Linear(3, 4))
    True

    Args:
      constructor: any callable returning a pytree of arrays (a module, a tuple of a
        model and its optimizer, ...).
      *args: positional arguments for ``constructor``.
      **kwargs: keyword arguments for ``constructor``.

    Returns:
      The constructor's result with ``jax.ShapeDtypeStruct`` leaves (shape, dtype and,
      for a constructor that places its arrays, their sharding).
    """
    if not callable(constructor) or isinstance(constructor, Module):
        raise TypeError(
            "pax.eval_shape expects a constructor (a callable such as a module class or "
            f"`lambda: pax.Linear(3, 4)`) first, got {type(constructor).__name__}"
            + (" (a module, not its class)." if isinstance(constructor, Module) else ".")
        )

    def build() -> T:
        return constructor(*args, **kwargs)

    with preserved_rng_state():
        return jax.eval_shape(build)
