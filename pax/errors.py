"""pax's exception classes: each subclasses ``ValueError``, so ``except ValueError``
keeps catching them; catch these to react to one kind of mistake only.

>>> import pax
>>> issubclass(pax.errors.StructureMismatchError, ValueError)
True
"""

from ._src.core.errors import (
    HiddenNodeError,
    ImmutableModuleError,
    LeakedTracerError,
    PaxError,
    SharedNodeError,
    StateDictMismatchError,
    StructureMismatchError,
)

__all__ = [
    "HiddenNodeError",
    "ImmutableModuleError",
    "LeakedTracerError",
    "PaxError",
    "SharedNodeError",
    "StateDictMismatchError",
    "StructureMismatchError",
]
