"""``pax.experimental.mutable``: a mutable copy of a module inside a ``with`` block."""

import contextlib
from typing import Iterator, List, TypeVar

from .context import STATE
from .guards import assert_no_sharing
from .layout import MUTABLE_KEY, refresh_layout
from .leaks import check_no_leaked_tracers, start_recording, stop_recording
from .module import Module
from .pure import collect_modules, detach_static_containers

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
    frame: List[Module] = []
    collect_modules(copy, frame)
    for m in frame:
        m.__dict__[MUTABLE_KEY] = True
        detach_static_containers(m)
    STATE.pure_frames.append(frame)
    records = start_recording()
    finished = False
    try:
        yield copy
        finished = True
    finally:
        stop_recording(records, keep=finished)
        STATE.pure_frames.pop()
        for m in frame:
            refresh_layout(m)
            m.__dict__.pop(MUTABLE_KEY, None)
    assert_no_sharing(copy)
    check_no_leaked_tracers(copy, records, mutable)
