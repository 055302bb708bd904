"""Thread-local state of pax: the stack of active ``pax.pure`` calls.

Only plain Python thread-local state is used (no JAX trace internals).
"""

import threading
from typing import Any, List


class _PaxState(threading.local):
    def __init__(self) -> None:
        super().__init__()
        # One list per active ``pax.pure`` call: the modules it made mutable.
        self.pure_frames: List[List[Any]] = []


STATE = _PaxState()


def inside_pure() -> bool:
    """True while a ``pax.pure`` function runs in this thread."""
    return bool(STATE.pure_frames)
