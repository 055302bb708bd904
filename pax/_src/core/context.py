"""Thread-local state of pax: the stack of active ``pax.pure`` calls and of
``pax.scan`` bodies being traced.

Only plain Python thread-local state is used (no JAX trace internals).
"""

import threading
from typing import Any


class _PaxState(threading.local):
    def __init__(self) -> None:
        super().__init__()
        # One list per active ``pax.pure`` call: the modules it made mutable (its
        # copies of the arguments, and the modules created while it runs).
        self.pure_frames: list[list[Any]] = []
        # One set per ``pax.scan`` body being traced: the ids of the modules that were
        # already mutable when the body started (captured from outside the body).
        self.scan_bodies: list[frozenset[int]] = []
        # One dict per active ``pax.pure`` call: the tracers assigned to module
        # attributes while it runs, id -> weak reference (see leaks.py).
        self.traced_writes: list[dict[int, Any]] = []


STATE = _PaxState()


def mutable_module_ids() -> frozenset[int]:
    """The ids of every module that is mutable in this thread right now."""
    return frozenset(id(m) for frame in STATE.pure_frames for m in frame)
