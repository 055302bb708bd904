"""pax's exception classes (public as ``pax.errors``).

Each subclasses ``ValueError`` (or ``TypeError``), so code written against the
built-in exceptions (``except ValueError``) keeps working; pax itself raises and
catches them by type, never by the text of the message.

>>> import pax
>>> net = pax.Linear(1, 1)
>>> try:
...     net.bias = None
... except pax.errors.ImmutableModuleError as err:
...     isinstance(err, ValueError)
True
"""


class PaxError(Exception):
    """Base class of every exception pax defines."""


class ImmutableModuleError(PaxError, ValueError):
    """A module was changed outside ``pax.pure`` (or outside the transform that may
    change it)."""


class SharedNodeError(PaxError, ValueError):
    """A module or an array appears twice in one module tree."""


class StructureMismatchError(PaxError, ValueError):
    """Two pytrees (modules, state dicts, checkpoints) do not have the same structure."""


class StateDictMismatchError(StructureMismatchError):
    """A state dict does not match the module it is loaded into."""


class LeakedTracerError(PaxError, ValueError):
    """A traced value would escape the JAX transform that made it."""


class HiddenNodeError(PaxError, ValueError):
    """A static attribute hides an array or a module that pax cannot see."""
