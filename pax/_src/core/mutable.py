"""``pax.experimental.mutable``: a mutable copy of a module inside a ``with`` block."""

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from .guards import assert_no_sharing
from .leaks import check_no_leaked_tracers
from .module import Module
from .mutation import pure_frame
from .pure import collect_modules

T = TypeVar("T", bound=Module)


@contextlib.contextmanager
def mutable(module: T) -> Iterator[T]:
    """Yield a copy of ``module`` (and of its submodules) that may be mutated inside
    the block, as in PAX 0.5; the copy is frozen and checked when the block ends.
    The original module never changes.

    >>> import jax.numpy as jnp, pax
    >>> net = pax.Linear(1, 2)
    >>> with pax.experimental.mutable(net) as new_net:
    ...     new_net.bias = jnp.array([1.0, 2.0])
    >>> new_net.bias.tolist(), net.bias.tolist()
    ([1.0, 2.0], [0.0, 0.0])
    """
    if not isinstance(module, Module):
        raise TypeError(f"mutable expects a pax module, got {type(module).__name__}.")
    copy = module.copy()
    modules: list[Module] = []
    collect_modules(copy, modules)
    with pure_frame(modules) as frame:
        yield copy
    assert_no_sharing(copy)
    check_no_leaked_tracers(copy, frame.records, mutable)
